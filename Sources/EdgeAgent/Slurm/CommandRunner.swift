import Foundation

/// Runs a program without a shell and collects its output.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum CommandRunner {
    /// Runs `executable` (looked up on PATH when it has no slash) with `arguments`, each
    /// passed as one argv entry. Never throws for a non-zero exit; throws when the program
    /// cannot be started, and `.unavailable` when it runs longer than `timeout` seconds (it is
    /// then killed, so no thread waits on it any longer).
    public static func run(_ executable: String, _ arguments: [String],
                           environment: [String: String]? = nil, timeout: Double? = nil) async throws(AgentError) -> CommandResult {
        let result: Result<CommandResult, AgentError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: runBlocking(executable, arguments, environment: environment, timeout: timeout))
            }
        }
        return try result.get()
    }

    public static func runBlocking(_ executable: String, _ arguments: [String],
                                   environment: [String: String]?, timeout: Double? = nil) -> Result<CommandResult, AgentError> {
        let process = Process()
        guard let path = resolve(executable) else {
            return .failure(AgentError(.backendFailure, "'\(executable)' was not found on PATH; is Slurm installed on this host?"))
        }
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return .failure(AgentError(.backendFailure, "could not start \(executable)", cause: error))
        }
        // The deadline: the program is killed (SIGKILL), which closes its pipes and ends the reads.
        let expired = FlagBox()
        let pid = process.processIdentifier
        let killer = DispatchWorkItem {
            expired.set()
            kill(pid, SIGKILL)
        }
        if let timeout { DispatchQueue.global().asyncAfter(deadline: .now() + max(0.01, timeout), execute: killer) }
        defer { killer.cancel() }
        // Read both pipes concurrently so a full stderr pipe cannot block the program.
        let group = DispatchGroup()
        let errorBox = DataBox()
        group.enter()
        DispatchQueue.global().async {
            errorBox.set(err.fileHandleForReading.readDataToEndOfFile())
            group.leave()
        }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        killer.cancel()
        if expired.get() {
            let seconds = timeout.map { String(format: "%g", $0) } ?? "?"
            return .failure(.unavailable("\(executable) did not answer within \(seconds) s (backend-timeout)"))
        }
        return .success(CommandResult(status: process.terminationStatus,
                                      stdout: String(decoding: output, as: UTF8.self),
                                      stderr: String(decoding: errorBox.get(), as: UTF8.self)))
    }

    static func resolve(_ executable: String) -> String? {
        if executable.contains("/") { return executable }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(executable)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// A lock-protected byte buffer handed between the reader thread and the caller.
final class DataBox: @unchecked Sendable {
    // Guarded by `lock`; written once by the reader thread, read after `group.wait()`.
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.lock(); data = value; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}

/// A flag set once from another thread.
final class FlagBox: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    func get() -> Bool { lock.lock(); defer { lock.unlock() }; return value }
}
