import Foundation

/// What a finished command printed, and how it ended.
public typealias CommandOutput = (status: Int32, out: String, err: String)

/// The package's root folder (tests read the shipped files in place).
public let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// An executable built by this package (`dte`, `dte-agent`, …): tests run next to them.
public func builtExecutable(_ name: String) -> URL {
    Bundle.main.bundleURL.appendingPathComponent(name)
}

/// Runs a program to its end in `directory` and collects its exit status, standard output and
/// standard error (both read at once, so a chatty program never blocks on a full pipe).
/// `environment` entries are added to this process's environment.
public func runCommand(_ executable: URL, _ arguments: [String], in directory: String,
                       environment: [String: String] = [:]) throws -> CommandOutput {
    let p = Process()
    p.executableURL = executable
    p.arguments = arguments
    p.currentDirectoryURL = URL(fileURLWithPath: directory)
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let errors = PipeReader(err.fileHandleForReading)
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = errors.wait()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// Runs the built `dte` as a user would in `directory`, without colours.
public func runDTE(_ arguments: [String], in directory: String) throws -> CommandOutput {
    try runCommand(builtExecutable("dte"), arguments, in: directory, environment: ["NO_COLOR": "1"])
}

/// Reads a pipe to its end on another thread.
final class PipeReader: @unchecked Sendable {
    // `data` is written once by the reading thread before `done` is signalled, and read only after.
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        DispatchQueue.global().async {
            self.data = handle.readDataToEndOfFile()
            self.done.signal()
        }
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}
