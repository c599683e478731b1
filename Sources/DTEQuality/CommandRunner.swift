import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a finished (or stopped) command did.
public struct CommandRun: Sendable, Hashable {
    /// The exit status, or nil when it was killed by a signal (or at the timeout).
    public var exitStatus: Int32?
    public var timedOut: Bool
    /// Standard output and error together, cut at the limit.
    public var output: String
    /// Whether output beyond the limit was dropped.
    public var truncated: Bool
    public var seconds: Double

    public var succeeded: Bool { exitStatus == 0 && !timedOut }
}

/// Runs a program from an argument vector — never through a shell — in its own process group,
/// with standard input from /dev/null, a deadline (the whole group is killed when it passes) and
/// a cap on the output kept. Used for git and for the configured QC.Sty/QC.Sec/QC.Uni commands.
public enum CommandRunner {
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32

    /// glibc's `posix_spawn_file_actions_addchdir_np` (2.29+), which the Swift module does not
    /// export: the child changes folder itself, so this process's working folder never moves.
    static let addChdir: AddChdir? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "posix_spawn_file_actions_addchdir_np") else { return nil }
        return unsafeBitCast(symbol, to: AddChdir.self)
    }()

    /// Runs `argv` (argv[0] looked up in PATH) in `directory`. `environment` entries are added to
    /// this process's environment. Throws only when the program cannot be started.
    public static func run(_ argv: [String], in directory: String, timeout: Double, outputLimit: Int,
                           environment: [String: String] = [:]) throws(QualityError) -> CommandRun {
        guard let program = argv.first, !program.isEmpty else { throw QualityError(.io, "empty command") }
        guard argv.allSatisfy({ !$0.utf8.contains(0) }) else { throw QualityError(.io, "a command argument contains a NUL byte") }
        let limit = max(0, outputLimit)
        let start = Date()

        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw QualityError(.io, "pipe: \(String(cString: strerror(errno)))") }
        let readEnd = fds[0], writeEnd = fds[1]
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 2)
        posix_spawn_file_actions_addclose(&actions, writeEnd)
        posix_spawn_file_actions_addclose(&actions, readEnd)
        guard let addChdir = Self.addChdir, addChdir(&actions, directory) == 0 else {
            close(readEnd)
            close(writeEnd)
            throw QualityError(.io, "cannot run \(program) in \(directory): this C library has no posix_spawn_file_actions_addchdir_np")
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)

        let env = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, program, &actions, &attributes, cArgs, cEnv)
        close(writeEnd)
        guard spawned == 0 else {
            close(readEnd)
            let reason = spawned == ENOENT ? "not found in PATH" : String(cString: strerror(spawned))
            throw QualityError(.io, "\(program): \(reason)")
        }
        defer { close(readEnd) }

        var output: [UInt8] = []
        var truncated = false
        var timedOut = false
        var status: Int32 = 0
        var reaped = false
        var exitedAt: Date?
        let deadline = start.addingTimeInterval(max(0.001, timeout))
        var buffer = [UInt8](repeating: 0, count: 65536)
        readLoop: while true {
            let now = Date()
            if now >= deadline { timedOut = !reaped; break }
            // A child that exited but left a descendant holding the pipe open gets a short grace.
            if let exitedAt, now.timeIntervalSince(exitedAt) > 0.5 { break }
            let waitMs = Int32(max(1, min(100, deadline.timeIntervalSince(now) * 1000)))
            var pfd = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, waitMs)
            if ready > 0 {
                let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if n > 0 {
                    let room = limit - output.count
                    if room > 0 { output.append(contentsOf: buffer[0..<min(n, room)]) }
                    if n > room { truncated = true }
                } else if n == 0 {
                    break readLoop
                } else if errno != EINTR && errno != EAGAIN {
                    break readLoop
                }
            }
            if !reaped, waitpid(pid, &status, WNOHANG) == pid {
                reaped = true
                exitedAt = Date()
            }
        }
        // Whatever is left of the group (the command at the timeout, or what it left behind) goes.
        kill(-pid, SIGKILL)
        if !reaped {
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        }
        let exited = (status & 0x7f) == 0
        return CommandRun(exitStatus: (exited && !timedOut) ? (status >> 8) & 0xff : nil,
                          timedOut: timedOut,
                          output: String(decoding: output, as: UTF8.self),
                          truncated: truncated,
                          seconds: Date().timeIntervalSince(start))
    }
}
