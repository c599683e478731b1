import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a program run by `BoundedProcess` did.
public struct BoundedRun: Sendable, Hashable {
    /// The exit status when it exited by itself; nil when a signal ended it (or it was stopped at
    /// the timeout, or could not be started).
    public var status: Int32?
    /// The signal that ended it, when one did.
    public var signal: Int32?
    /// Stopped because it ran past its time.
    public var timedOut = false
    /// The first `outputLimit` bytes of standard output (with standard error when merged), and
    /// whether there was more.
    public var stdout: [UInt8] = []
    public var stdoutTruncated = false
    /// The last `errorLimit` bytes of standard error (the end says most about a failure); empty
    /// when merged into `stdout`.
    public var stderr: [UInt8] = []
    public var stderrTruncated = false
    /// Why it could not be started (nothing ran).
    public var launchError: String?
    /// Wall-clock seconds from start to end.
    public var seconds = 0.0

    public init() {}

    /// Started, exited by itself in time, with status 0.
    public var succeeded: Bool { launchError == nil && !timedOut && status == 0 }
}

/// The one way DTE runs another program (external hooks, `oidc-token`, git and the quality
/// commands): an argument vector, never a shell; the given environment only; its own process
/// group, so that at the timeout (SIGTERM, then SIGKILL a second later) and after it exits
/// everything it started goes too; standard input written from memory or /dev/null; standard
/// output and error capped (the rest is read and dropped, so the program never blocks on a full pipe).
public enum BoundedProcess {
    /// Runs `argv` (a program without a `/` is looked up on this process's `PATH`) in `directory`
    /// (this process's folder when nil) and waits for it, off the caller's thread.
    /// - Parameters:
    ///   - environment: the whole environment it gets (`inheritedEnvironment(adding:)` for this
    ///     process's own plus some).
    ///   - input: written to its standard input, which is then closed; nil: /dev/null.
    ///   - mergeErrors: standard error goes into the same capped stream as standard output.
    public static func run(_ argv: [String], environment: [String: String], directory: String? = nil, input: [UInt8]? = nil,
                           timeout: Double, outputLimit: Int, errorLimit: Int = 64 << 10, mergeErrors: Bool = false) async -> BoundedRun {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: runBlocking(argv, environment: environment, directory: directory, input: input, timeout: timeout,
                                                           outputLimit: outputLimit, errorLimit: errorLimit, mergeErrors: mergeErrors))
            }
        }
    }

    /// This process's environment with `extra` added (an entry of `extra` wins).
    public static func inheritedEnvironment(adding extra: [String: String] = [:]) -> [String: String] {
        ProcessInfo.processInfo.environment.merging(extra) { _, new in new }
    }

    /// Bytes collected by a reader thread.
    final class Collected: @unchecked Sendable {
        // `kept` and `dropped` are guarded by `lock`: the reading thread appends, the caller takes them
        private let lock = NSLock()
        private var kept: [UInt8] = []
        private var dropped = false
        let done = DispatchSemaphore(value: 0)
        let limit: Int
        let keepTail: Bool
        init(limit: Int, keepTail: Bool) {
            self.limit = max(0, limit)
            self.keepTail = keepTail
        }
        func append(_ chunk: UnsafeRawBufferPointer) {
            lock.lock()
            defer { lock.unlock() }
            if keepTail {
                kept += chunk
                if kept.count > limit {
                    kept.removeFirst(kept.count - limit)
                    dropped = true
                }
            } else if kept.count < limit {
                let room = limit - kept.count
                kept += chunk.prefix(room)
                if chunk.count > room { dropped = true }
            } else if chunk.count > 0 {
                dropped = true
            }
        }
        var result: (bytes: [UInt8], truncated: Bool) { lock.lock(); defer { lock.unlock() }; return (kept, dropped) }
    }

    static func drain(_ fd: Int32, into c: Collected) {
        DispatchQueue.global().async {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    buffer.withUnsafeBytes { c.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            close(fd)
            c.done.signal()
        }
    }

    /// `posix_spawn_file_actions_addchdir_np` (glibc 2.29+), looked up at run time: Swift's Glibc
    /// module does not declare it. The child changes folder itself; this process's never moves.
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    static let addChdir: AddChdir? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(symbol, to: AddChdir.self)
    }()

    /// `run`, on the caller's thread.
    public static func runBlocking(_ argv: [String], environment: [String: String], directory: String? = nil, input: [UInt8]? = nil,
                                   timeout: Double, outputLimit: Int, errorLimit: Int = 64 << 10, mergeErrors: Bool = false) -> BoundedRun {
        var run = BoundedRun()
        let start = DispatchTime.now().uptimeNanoseconds
        guard let program = argv.first, !program.isEmpty else {
            run.launchError = "no program to run"
            return run
        }
        guard !argv.contains(where: { $0.utf8.contains(0) }), !environment.contains(where: { $0.key.utf8.contains(0) || $0.value.utf8.contains(0) }) else {
            run.launchError = "cannot run \(program): an argument or environment value contains a NUL byte"
            return run
        }
        // a program that stops reading its input early must be reported, not end this process
        signal(SIGPIPE, SIG_IGN)
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        func cloexecPipe(_ fds: inout [Int32]) -> Bool {
            guard pipe(&fds) == 0 else { return false }
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return true
        }
        func closeAll() { for fd in inPipe + outPipe + errPipe where fd >= 0 { close(fd) } }
        guard input == nil || cloexecPipe(&inPipe), cloexecPipe(&outPipe), mergeErrors || cloexecPipe(&errPipe) else {
            closeAll()
            run.launchError = "cannot create pipes: \(String(cString: strerror(errno)))"
            return run
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if input != nil {
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, mergeErrors ? outPipe[1] : errPipe[1], 2)
        if let directory {
            guard let addChdir = addChdir else {
                closeAll()
                run.launchError = "cannot run \(program) in \(directory): this system cannot start a program in another folder (glibc 2.29 or later is needed)"
                return run
            }
            _ = directory.withCString { addChdir(&actions, $0) }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t(), mask = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGHUP, SIGINT, SIGTERM, SIGQUIT] { sigaddset(&defaults, s) }
        sigemptyset(&mask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)

        let args = argv.map { strdup($0) }
        defer { args.forEach { free($0) } }
        let env = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") }
        defer { env.forEach { free($0) } }
        var spawnedPID: pid_t = 0
        let spawned = (args + [nil]).withUnsafeBufferPointer { a in
            (env + [nil]).withUnsafeBufferPointer { e -> Int32 in
                guard let argv = a.baseAddress, let envp = e.baseAddress else { return EINVAL }
                return posix_spawnp(&spawnedPID, program, &actions, &attributes, argv, envp)
            }
        }
        let pid = spawnedPID
        for fd in [inPipe[0], outPipe[1], errPipe[1]] where fd >= 0 { close(fd) }
        guard spawned == 0 else {
            for fd in [inPipe[1], outPipe[0], errPipe[0]] where fd >= 0 { close(fd) }
            let why = spawned == ENOENT && !program.contains("/") ? "not found in PATH" : String(cString: strerror(spawned))
            run.launchError = "cannot run \(program): \(why)"
            return run
        }
        let out = Collected(limit: outputLimit, keepTail: false), err = Collected(limit: errorLimit, keepTail: true)
        drain(outPipe[0], into: out)
        if !mergeErrors { drain(errPipe[0], into: err) }
        let wrote = DispatchSemaphore(value: 0)
        if let input {
            let writer = inPipe[1]
            DispatchQueue.global().async {
                var offset = 0
                input.withUnsafeBytes { bytes in
                    while offset < bytes.count {
                        let n = write(writer, bytes.baseAddress?.advanced(by: offset), bytes.count - offset)
                        if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { break }
                    }
                }
                close(writer)
                wrote.signal()
            }
        } else {
            wrote.signal()
        }
        let exited = DispatchSemaphore(value: 0)
        let statusBox = StatusBox()
        DispatchQueue.global().async {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            statusBox.value = status
            exited.signal()
        }
        if exited.wait(timeout: .now() + max(0.01, timeout)) == .timedOut {
            run.timedOut = true
            kill(-pid, SIGTERM)
            if exited.wait(timeout: .now() + 1) == .timedOut {
                kill(-pid, SIGKILL)
                exited.wait()
            }
        }
        // what it left running in its group goes with it (and so do the pipes they hold)
        kill(-pid, SIGKILL)
        _ = wrote.wait(timeout: .now() + 2)
        _ = out.done.wait(timeout: .now() + 2)
        if !mergeErrors { _ = err.done.wait(timeout: .now() + 2) }
        let status = statusBox.value
        if status & 0x7f == 0 {
            if !run.timedOut { run.status = (status >> 8) & 0xff }
        } else {
            run.signal = status & 0x7f
        }
        (run.stdout, run.stdoutTruncated) = out.result
        (run.stderr, run.stderrTruncated) = err.result
        run.seconds = Double(DispatchTime.now().uptimeNanoseconds &- start) / 1e9
        return run
    }

    final class StatusBox: @unchecked Sendable {
        // `stored` is guarded by `lock`
        private let lock = NSLock()
        private var stored: Int32 = 0
        var value: Int32 {
            get { lock.lock(); defer { lock.unlock() }; return stored }
            set { lock.lock(); stored = newValue; lock.unlock() }
        }
    }
}
