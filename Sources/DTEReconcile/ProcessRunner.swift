import Foundation

/// What a program run by `ProcessRunner` did.
struct ProcessRun: Sendable {
    var status: Int32?
    var timedOut = false
    var stdout: [UInt8] = []
    var stderr: [UInt8] = []
    var launchError: String?
}

/// Runs a program from its argv (never a shell; a bare name is looked up on PATH by
/// /usr/bin/env), standard input from /dev/null, both outputs capped, stopped (SIGTERM, then
/// SIGKILL) after `timeout` seconds.
// The package's shared bounded runner (DTEProcess) replaces this once it is on the main branch.
enum ProcessRunner {
    static func run(_ argv: [String], environment: [String: String], timeout: Double, outputLimit: Int) async -> ProcessRun {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: runBlocking(argv, environment: environment, timeout: timeout, outputLimit: outputLimit))
            }
        }
    }

    /// Collects a pipe up to a limit on its own thread (the rest is read and dropped).
    final class Reader: @unchecked Sendable {
        // `data` is written by the reading thread before `done` is signalled, read only after.
        private var data: [UInt8] = []
        private let done = DispatchSemaphore(value: 0)

        init(_ handle: FileHandle, limit: Int) {
            DispatchQueue.global().async {
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    if self.data.count < limit { self.data += chunk.prefix(limit - self.data.count) }
                }
                self.done.signal()
            }
        }

        func wait() -> [UInt8] {
            done.wait()
            return data
        }
    }

    static func runBlocking(_ argv: [String], environment: [String: String], timeout: Double, outputLimit: Int) -> ProcessRun {
        var run = ProcessRun()
        guard !argv.isEmpty, !argv.contains(where: { $0.utf8.contains(0) }) else {
            run.launchError = "an argument holds a NUL byte"
            return run
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["--"] + argv
        p.environment = environment
        p.standardInput = FileHandle.nullDevice
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let ended = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in ended.signal() }
        do {
            try p.run()
        } catch {
            run.launchError = error.localizedDescription
            return run
        }
        let o = Reader(out.fileHandleForReading, limit: outputLimit), e = Reader(err.fileHandleForReading, limit: 64 << 10)
        let seconds = timeout.isFinite ? min(max(timeout, 0.1), 86_400) : 300
        if ended.wait(timeout: .now() + seconds) == .timedOut {
            run.timedOut = true
            p.terminate()
            if ended.wait(timeout: .now() + 1) == .timedOut {
                kill(p.processIdentifier, SIGKILL)
                ended.wait()
            }
        }
        try? out.fileHandleForWriting.close()
        try? err.fileHandleForWriting.close()
        run.stdout = o.wait()
        run.stderr = e.wait()
        run.status = p.terminationReason == .exit ? p.terminationStatus : nil
        return run
    }
}
