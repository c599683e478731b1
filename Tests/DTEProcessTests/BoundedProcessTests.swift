import DTEProcess
import Foundation
import Testing

/// The one program runner (hooks, oidc-token, git, quality commands), run on real programs.
@Suite("BoundedProcess")
struct BoundedProcessTests {
    let env = ["PATH": "/usr/bin:/bin"]

    @Test func inputReachesTheProgramAndItsOutputAndStatusComeBack() async {
        let r = await BoundedProcess.run(["/bin/sh", "-c", "tr a-z A-Z; echo oops >&2; exit 3"], environment: env, input: Array("hello".utf8),
                                         timeout: 10, outputLimit: 1024)
        #expect(r.launchError == nil)
        #expect(String(decoding: r.stdout, as: UTF8.self) == "HELLO")
        #expect(String(decoding: r.stderr, as: UTF8.self) == "oops\n")
        #expect(r.status == 3)
        #expect(!r.succeeded && !r.timedOut)
    }

    @Test func withoutInputStandardInputIsEmptyAndTheEnvironmentIsOnlyWhatIsGiven() async {
        let r = await BoundedProcess.run(["/bin/sh", "-c", "cat; env"], environment: ["PATH": "/usr/bin:/bin", "ONLY": "this"],
                                         timeout: 10, outputLimit: 4096)
        let lines = String(decoding: r.stdout, as: UTF8.self).split(separator: "\n").filter { !$0.hasPrefix("PWD=") && !$0.hasPrefix("SHLVL=") && !$0.hasPrefix("_=") }
        #expect(lines.sorted() == ["ONLY=this", "PATH=/usr/bin:/bin"], "nothing of this process's environment leaks: \(lines)")
        #expect(r.succeeded)
    }

    @Test func aBareNameIsLookedUpOnPathAndAMissingOneSaysSo() async {
        let found = await BoundedProcess.run(["true"], environment: env, timeout: 10, outputLimit: 16)
        #expect(found.succeeded)
        let missing = await BoundedProcess.run(["no-such-program-dte"], environment: env, timeout: 10, outputLimit: 16)
        #expect(missing.launchError == "cannot run no-such-program-dte: not found in PATH")
        #expect(missing.status == nil && !missing.succeeded)
    }

    @Test func argumentsAreNeverAShell() async {
        let folder = NSTemporaryDirectory() + "dte-process-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let r = await BoundedProcess.run(["echo", "$(touch pwned)", ";", "touch", "pwned"], environment: env, directory: folder,
                                         timeout: 10, outputLimit: 1024)
        #expect(String(decoding: r.stdout, as: UTF8.self) == "$(touch pwned) ; touch pwned\n")
        #expect(!FileManager.default.fileExists(atPath: folder + "/pwned"))
    }

    @Test func outputIsCappedAndErrorsKeepTheirEnd() async {
        let r = await BoundedProcess.run(["/bin/sh", "-c", "head -c 100000 /dev/zero; printf 'start' >&2; head -c 5000 /dev/zero | tr '\\0' x >&2; printf 'END' >&2"],
                                         environment: env, timeout: 10, outputLimit: 1000, errorLimit: 10)
        #expect(r.stdout.count == 1000)
        #expect(r.stdoutTruncated)
        #expect(String(decoding: r.stderr, as: UTF8.self) == "xxxxxxxEND")
        #expect(r.stderrTruncated)
        #expect(r.succeeded, "a capped program is read to the end, never blocked")
    }

    @Test func mergedErrorsShareTheOutputStream() async {
        let r = await BoundedProcess.run(["/bin/sh", "-c", "echo one; echo two >&2; echo three"], environment: env, timeout: 10, outputLimit: 1024,
                                         mergeErrors: true)
        #expect(String(decoding: r.stdout, as: UTF8.self) == "one\ntwo\nthree\n")
        #expect(r.stderr.isEmpty)
    }

    @Test func atTheTimeoutTheProgramAndWhatItStartedAreStopped() async throws {
        let marker = "dte-bounded-\(UUID().uuidString.prefix(8))"
        let r = await BoundedProcess.run(["/bin/bash", "-c", "sleep 30 & exec -a \(marker) sleep 30"], environment: env, timeout: 0.5, outputLimit: 1024)
        #expect(r.timedOut)
        #expect(r.status == nil)
        #expect(r.signal == SIGTERM)
        #expect(r.seconds < 5, "stopped at the timeout, not when the program would have ended: \(r.seconds) s")
        let left = await BoundedProcess.run(["pgrep", "-f", marker], environment: env, timeout: 10, outputLimit: 1024)
        #expect(left.status == 1, "nothing of the group is left: \(String(decoding: left.stdout, as: UTF8.self))")
    }

    @Test func theFolderIsTheChildsOnly() async {
        let before = FileManager.default.currentDirectoryPath
        let r = await BoundedProcess.run(["pwd"], environment: env, directory: "/tmp", timeout: 10, outputLimit: 1024)
        #expect(String(decoding: r.stdout, as: UTF8.self) == "/tmp\n")
        #expect(FileManager.default.currentDirectoryPath == before)
    }

    @Test func hostileArgumentsAreRefusedNotRun() async {
        let r = await BoundedProcess.run(["echo", "a\u{0}b"], environment: env, timeout: 10, outputLimit: 16)
        #expect(r.launchError?.contains("NUL") == true)
        let empty = await BoundedProcess.run([], environment: env, timeout: 10, outputLimit: 16)
        #expect(empty.launchError == "no program to run")
    }
}
