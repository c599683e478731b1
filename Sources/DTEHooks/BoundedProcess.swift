import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a program run by `BoundedProcess` did.
struct BoundedRun: Sendable {
    /// The exit status when it exited, nil when a signal ended it.
    var status: Int32?
    var signal: Int32?
    /// Killed because it ran past its time.
    var timedOut = false
    /// At most `outputLimit` bytes, and whether there was more.
    var stdout: [UInt8] = []
    var stdoutTruncated = false
    /// The last `errorLimit` bytes of standard error (the end says most about a failure).
    var stderr: [UInt8] = []
    /// Why it could not be started.
    var launchError: String?
}

/// Runs a program without a shell: argv only, the given environment only, its own process group
/// (so a timeout kills everything it started), standard input written from memory, standard
/// output capped (the rest is read and dropped so the program never blocks on a full pipe).
enum BoundedProcess {
    static func run(argv: [String], environment: [String: String], directory: String?, input: [UInt8],
                    timeout: Double, outputLimit: Int, errorLimit: Int) async -> BoundedRun {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: runBlocking(argv: argv, environment: environment, directory: directory, input: input,
                                                           timeout: timeout, outputLimit: outputLimit, errorLimit: errorLimit))
            }
        }
    }

    /// Bytes collected by a reader thread.
    final class Collected: @unchecked Sendable {
        // guarded by `lock`
        private let lock = NSLock()
        private var kept: [UInt8] = []
        private var dropped = false
        let done = DispatchSemaphore(value: 0)
        let limit: Int
        let keepTail: Bool
        init(limit: Int, keepTail: Bool) {
            self.limit = limit
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
    /// module does not declare it.
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    static let addChdir: AddChdir? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(symbol, to: AddChdir.self)
    }()

    static func runBlocking(argv: [String], environment: [String: String], directory: String?, input: [UInt8],
                            timeout: Double, outputLimit: Int, errorLimit: Int) -> BoundedRun {
        var run = BoundedRun()
        guard let program = argv.first else {
            run.launchError = "no program to run"
            return run
        }
        // a hook that stops reading its input early must be reported, not end this process
        signal(SIGPIPE, SIG_IGN)
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        func cloexecPipe(_ fds: inout [Int32]) -> Bool {
            guard pipe(&fds) == 0 else { return false }
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return true
        }
        guard cloexecPipe(&inPipe), cloexecPipe(&outPipe), cloexecPipe(&errPipe) else {
            for fd in inPipe + outPipe + errPipe where fd >= 0 { close(fd) }
            run.launchError = "cannot create pipes: \(String(cString: strerror(errno)))"
            return run
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        if let directory {
            guard let addChdir = addChdir else {
                for fd in inPipe + outPipe + errPipe { close(fd) }
                run.launchError = "this system cannot start a program in another folder (glibc 2.29 or later is needed)"
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
                return posix_spawn(&spawnedPID, program, &actions, &attributes, argv, envp)
            }
        }
        let pid = spawnedPID
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        guard spawned == 0 else {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            run.launchError = "cannot run \(program): \(String(cString: strerror(spawned)))"
            return run
        }
        let out = Collected(limit: outputLimit, keepTail: false), err = Collected(limit: errorLimit, keepTail: true)
        drain(outPipe[0], into: out)
        drain(errPipe[0], into: err)
        let writer = inPipe[1]
        let wrote = DispatchSemaphore(value: 0)
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
        _ = err.done.wait(timeout: .now() + 2)
        let status = statusBox.value
        if status & 0x7f == 0 { run.status = (status >> 8) & 0xff } else { run.signal = status & 0x7f }
        (run.stdout, run.stdoutTruncated) = out.result
        run.stderr = err.result.bytes
        return run
    }

    final class StatusBox: @unchecked Sendable {
        // guarded by `lock`
        private let lock = NSLock()
        private var stored: Int32 = 0
        var value: Int32 {
            get { lock.lock(); defer { lock.unlock() }; return stored }
            set { lock.lock(); stored = newValue; lock.unlock() }
        }
    }
}
