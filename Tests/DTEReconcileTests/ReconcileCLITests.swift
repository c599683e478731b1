import DTETestSupport
import Foundation
import Testing

/// `dte reconcile` as a user runs it: the built binary, a bare git remote, the real agent.
@Suite("ReconcileCLI", .serialized)
struct ReconcileCLITests {
    func dte(_ b: ReconcileBed, _ args: [String]) throws -> CommandOutput {
        try runCommand(builtExecutable("dte"), args, in: b.bed.repository, environment: ["NO_COLOR": "1"])
    }

    @Test("dte validate reports a bad sync: key at its place, with a hint")
    func syncKeysValidated() throws {
        let b = try ReconcileBed(startingAgent: false, sync: "{ mode: automatc, prune: yes please, self_hael: true }")
        defer { b.tearDown() }
        let r = try dte(b, ["validate"])
        #expect(r.status == 1)
        #expect(r.out.contains("dte.yaml:2:"), "\(r.out)")
        #expect(r.out.contains("sync.mode: \"automatc\" is not a sync mode"), "\(r.out)")
        #expect(r.out.contains("did you mean \"automatic\""), "\(r.out)")
        #expect(r.out.contains("sync.prune must be true or false"), "\(r.out)")
        #expect(r.out.contains("unknown key \"self_hael\" in sync"), "\(r.out)")
    }

    @Test("dte reconcile --once --json applies a remote branch onto Slurm; status shows the conditions; a pin is kept; bad input is refused")
    func onceStatusAndPin() throws {
        let b = try ReconcileBed(sync: "{ mode: automatic }")
        defer { b.tearDown() }
        try b.bed.writeTwin(components: b.bed.batchJob("cli", command: ["true"]))
        let c = try b.commit("cli")
        let common = ["--state", b.bed.statePath, "--agent", "local=" + b.bed.agentURL]
        let once = try dte(b, ["reconcile", "--once", "--remote", b.remote, "--branch", "main", "--json"] + common)
        #expect(once.status == 0, "\(once.out)\(once.err)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(once.out.utf8)) as? [String: Any], "\(once.out)")
        let record = try #require((doc["records"] as? [[String: Any]])?.first)
        #expect(record["result"] as? String == "applied")
        #expect(record["revision"] as? String == c)
        #expect(b.jobs().map(\.component) == ["cli"])
        #expect(once.err.contains("result=applied"), "structured log line on standard error: \(once.err)")

        let status = try dte(b, ["reconcile", "status", "--state", b.bed.statePath])
        #expect(status.status == 0)
        #expect(status.out.contains("revision applied  \(c)"), "\(status.out)")
        #expect(status.out.contains("Ready       True  Applied"), "\(status.out)")
        #expect(status.out.contains("twin \(b.bed.twin)"), "\(status.out)")

        // `dte status` shows the same conditions under the resources
        let overall = try dte(b, ["status"] + common)
        #expect(overall.status == 0, "\(overall.out)\(overall.err)")
        #expect(overall.out.contains("twin.\(b.bed.twin).cli"), "\(overall.out)")
        #expect(overall.out.contains("revision applied  \(c)") && overall.out.contains("Ready       True  Applied"), "\(overall.out)")

        let bad = try dte(b, ["reconcile", "--revision", "HEAD~1", "--state", b.bed.statePath])
        #expect(bad.status == 64, "a usage error")
        #expect(bad.err.contains("--revision takes a full commit id"), "\(bad.err)")
        let evil = try dte(b, ["reconcile", "--once", "--remote=--upload-pack=touch /tmp/x", "--state", b.bed.statePath])
        #expect(evil.status == 64, "an option-looking URL is refused: \(evil.err)")

        let pin = try dte(b, ["reconcile", "--revision", c, "--state", b.bed.statePath])
        #expect(pin.status == 0)
        #expect(pin.out.contains("pinned at \(c)"))
        let json = try dte(b, ["reconcile", "status", "--json", "--state", b.bed.statePath])
        let shown = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        #expect((shown["status"] as? [String: Any])?["pinnedRevision"] as? String == c)
        let unpin = try dte(b, ["reconcile", "--unpin", "--state", b.bed.statePath])
        #expect(unpin.out.contains("unpinned"))
    }

    @Test("dte reconcile --watch stops at SIGTERM, leaving no lock")
    func watchStopsOnSIGTERM() throws {
        let b = try ReconcileBed(startingAgent: false, sync: "{ mode: manual }")
        defer { b.tearDown() }
        try b.bed.writeTwin(components: b.bed.batchJob("w", command: ["true"]))
        let running = try RunningCommand(builtExecutable("dte"), ["reconcile", "--watch", "--interval", "1h", "--local", "--state", b.bed.statePath],
                                         in: b.bed.repository, environment: ["NO_COLOR": "1"])
        // the first tick is recorded in the state
        let ticked = b.bed.eventually(timeout: 60) {
            (try? runCommand(builtExecutable("dte"), ["reconcile", "status", "--state", b.bed.statePath], in: b.bed.repository).out.contains("planned")) == true
        }
        #expect(ticked, "the loop ran its first tick")
        kill(running.process.processIdentifier, SIGTERM)
        let started = Date()
        let out = running.wait()
        #expect(Date().timeIntervalSince(started) < 10, "the pause ends at once")
        #expect(out.status == 0, "a graceful stop: \(out.err)")
        #expect(out.err.contains("reconcile loop stopped"), "\(out.err)")
        let locks = try runCommand(builtExecutable("dte"), ["state", "lock", "list", "--state", b.bed.statePath], in: b.bed.repository)
        #expect(locks.out.contains("no lock"))
    }
}
