import DTEProcess

/// What a finished (or stopped) command did, as the quality report shows it.
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

/// Runs git and the configured QC.Sty/QC.Sec/QC.Uni commands through `BoundedProcess` (no
/// shell, own process group, killed at the deadline), with standard input from /dev/null and
/// standard output and error kept together, as a user would see them in a terminal.
public enum CommandRunner {
    /// Runs `argv` (argv[0] looked up in PATH) in `directory`. `environment` entries are added to
    /// this process's environment. Throws only when the program cannot be started.
    public static func run(_ argv: [String], in directory: String, timeout: Double, outputLimit: Int,
                           environment: [String: String] = [:]) throws(QualityError) -> CommandRun {
        let r = BoundedProcess.runBlocking(argv, environment: BoundedProcess.inheritedEnvironment(adding: environment), directory: directory,
                                           timeout: max(0.001, timeout), outputLimit: outputLimit, mergeErrors: true)
        if let why = r.launchError { throw QualityError(.io, why) }
        return CommandRun(exitStatus: r.status, timedOut: r.timedOut, output: String(decoding: r.stdout, as: UTF8.self),
                          truncated: r.stdoutTruncated, seconds: r.seconds)
    }
}
