import DTEApply
import DTEHooks
import DTEPlanner
import Foundation
import XCTest

/// External hooks as real programs (shell scripts written by the test): the JSON contract in and
/// out, and every way a program can misbehave.
final class ExternalHookTests: XCTestCase {
    var repo: Repo!
    var plan: Plan!

    override func setUpWithError() throws {
        repo = try Repo(["sites/vega.yaml": siteFile(core: 12_400, gpu: 310), "templates/flood.yaml": twinFile()])
        plan = try repo.plan().0
    }

    override func tearDown() { repo.remove() }

    func run(_ script: String, timeout: Double = 20, args: [String] = [], phase: HookPhase = .preApply, blocking: Bool = true) async throws -> HookResult {
        try repo.write("hooks/check", "#!/bin/sh\n" + script, executable: true)
        let hook = ExternalHook(name: "site-policy", command: ["hooks/check"] + args, phases: [phase], blocking: blocking, timeout: timeout)
        let results = await hook.run(HookInput(phase: phase, plan: plan, repositoryRoot: repo.root))
        XCTAssertEqual(results.count, 1)
        return try XCTUnwrap(results.first)
    }

    func testAPassingHookGetsThePlanJSONInTheRepositoryWithAMinimalEnvironment() async throws {
        setenv("DTE_TEST_SECRET", "hunter2", 1)
        defer { unsetenv("DTE_TEST_SECRET") }
        let r = try await run("""
            cat > request.json
            env > env.txt
            pwd > pwd.txt
            printf '%s\\n' "$@" > args.txt
            echo '{"verdict":"pass","summary":"3 rules hold","evidence":[{"check":"no-gpu-on-weekends","passed":true,"detail":"weekday"}],"subject":"vega"}'
            """, args: ["--strict", "$(touch pwned)", "a b"])
        XCTAssertEqual(r.verdict, .pass)
        XCTAssertEqual(r.name, "site-policy")
        XCTAssertEqual(r.summary, "3 rules hold")
        XCTAssertEqual(r.subject, "vega")
        XCTAssertEqual(r.evidence, [HookEvidence(check: "no-gpu-on-weekends", passed: true, detail: "weekday")])

        let request = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: repo.root + "/request.json"))) as? [String: Any])
        XCTAssertEqual(request["format_version"] as? String, "1.0")
        XCTAssertEqual(request["hook"] as? String, "site-policy")
        XCTAssertEqual(request["phase"] as? String, "pre-apply")
        let planJSON = try XCTUnwrap(request["plan"] as? [String: Any])
        XCTAssertEqual(planJSON["format_version"] as? String, "1.0")
        XCTAssertEqual((planJSON["changes"] as? [[String: Any]])?.map { $0["address"] as? String }, ["twin.flood.flood-model"])

        let env = try String(contentsOfFile: repo.root + "/env.txt", encoding: .utf8)
        XCTAssertFalse(env.contains("hunter2"), "the hook must not see DTE's environment:\n\(env)")
        XCTAssertTrue(env.contains("PATH=/usr/local/bin:/usr/bin:/bin\n"), env)
        XCTAssertTrue(env.contains("DTE_HOOK_PHASE=pre-apply\n"), env)
        XCTAssertEqual(try String(contentsOfFile: repo.root + "/pwd.txt", encoding: .utf8),
                       (repo.root as NSString).resolvingSymlinksInPath + "\n")
        XCTAssertEqual(try String(contentsOfFile: repo.root + "/args.txt", encoding: .utf8), "--strict\n$(touch pwned)\na b\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: repo.root + "/pwned"), "arguments are never run by a shell")
    }

    func testAFailVerdictBlocksWithTheHooksOwnRemedy() async throws {
        let r = try await run("""
            cat > /dev/null
            echo '{"verdict":"fail","summary":"flood-model asks 2 GPUs on a weekend","remedy":"wait until Monday","evidence":[{"check":"gpu-weekend","passed":false,"detail":"Saturday"}]}'
            """)
        XCTAssertEqual(r.verdict, .fail)
        XCTAssertTrue(r.blocks)
        XCTAssertEqual(r.summary, "flood-model asks 2 GPUs on a weekend")
        XCTAssertEqual(r.remedy, "wait until Monday")
        XCTAssertEqual(r.evidence.map(\.passed), [false])
    }

    func testAHookThatRunsTooLongIsStoppedWithEverythingItStarted() async throws {
        let started = Date()
        let r = try await run("""
            sleep 60 &
            echo $! > child.pid
            sleep 60
            """, timeout: 1)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertEqual(r.verdict, .fail)
        XCTAssertTrue(r.blocks)
        XCTAssertEqual(r.summary, "hook site-policy did not answer within 1 s and was stopped")
        XCTAssertEqual(r.remedy?.contains("hooks.site-policy.timeout"), true)
        let pid = try XCTUnwrap(Int32(String(contentsOfFile: repo.root + "/child.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        usleep(200_000)
        // gone, or a zombie waiting for the container's init to reap it: no longer running
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        let state = stat.split(separator: ")").last?.split(separator: " ").first.map(String.init)
        XCTAssertTrue(stat.isEmpty || state == "Z", "the hook's background child must be gone: \(stat)")
    }

    func testGarbageOnStandardOutputIsAFailQuotingIt() async throws {
        let r = try await run("echo 'all good, I think'\n")
        XCTAssertEqual(r.verdict, .fail)
        XCTAssertEqual(r.summary, "hook site-policy did not answer with the hook JSON (not JSON): its output begins \"all good, I think \"")
        let missing = try await run("echo '{\"summary\":\"no verdict\"}'\n")
        XCTAssertEqual(missing.summary, "hook site-policy did not answer with the hook JSON (no \"verdict\"): its output begins \"{\"summary\":\"no verdict\"} \"")
        let odd = try await run("echo '{\"verdict\":\"maybe\",\"summary\":\"?\"}'\n")
        XCTAssertEqual(odd.summary, "hook site-policy answered verdict \"maybe\", which is not pass, warn or fail")
        let silent = try await run("exit 0\n")
        XCTAssertEqual(silent.summary, "hook site-policy did not answer with the hook JSON (not JSON): its output was empty")
    }

    func testANonZeroExitIsAFailQuotingTheEndOfStandardError() async throws {
        let r = try await run("""
            head -c 20000 /dev/zero | tr '\\0' 'x' >&2
            printf '\\n\\033[31mcannot reach policy server\\n' >&2
            echo '{"verdict":"pass","summary":"ignored"}'
            exit 3
            """)
        XCTAssertEqual(r.verdict, .fail)
        XCTAssertTrue(r.summary.hasPrefix("hook site-policy exited with status 3; its standard error ends: \"…xxx"), r.summary)
        XCTAssertTrue(r.summary.hasSuffix(" [31mcannot reach policy server\""), "control characters are not passed to the terminal: \(r.summary)")
        XCTAssertLessThan(r.summary.count, 800)
    }

    func testHugeOutputIsCappedAndAFail() async throws {
        let started = Date()
        let r = try await run("head -c 8000000 /dev/zero | tr '\\0' ' '\necho '{\"verdict\":\"pass\",\"summary\":\"x\"}'\n")
        XCTAssertLessThan(Date().timeIntervalSince(started), 15)
        XCTAssertEqual(r.verdict, .fail)
        XCTAssertEqual(r.summary, "hook site-policy wrote more than 1024 KiB to standard output")
    }

    func testAHookThatDoesNotReadItsInputStillAnswers() async throws {
        // the plan JSON is larger than a pipe holds when the plan has many changes; the hook ignores it
        plan.changes = Array(repeating: plan.changes[0], count: 400)
        let r = try await run("echo '{\"verdict\":\"warn\",\"summary\":\"did not look\"}'\n")
        XCTAssertEqual(r.verdict, .warn)
        XCTAssertEqual(r.summary, "did not look")
    }

    func testAMissingProgramIsAFailThatSaysWhereItWasLookedFor() async throws {
        let hook = ExternalHook(name: "ghost", command: ["hooks/nope"], timeout: 5)
        let results = await hook.run(HookInput(phase: .preApply, plan: plan, repositoryRoot: repo.root))
        XCTAssertEqual(results.map(\.verdict), [.fail])
        XCTAssertEqual(results.first?.summary, "hook ghost: cannot run \"hooks/nope\": no such executable file")
    }
}
