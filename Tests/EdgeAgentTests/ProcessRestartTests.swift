import EdgeAgent
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PodWire
import Testing

/// The real `dte-agent` binary on a loopback port: killed with SIGKILL and restarted, then
/// stopped with SIGTERM.
@Suite struct ProcessRestartTests {
    /// The `dte-agent` executable built next to the test bundle.
    static func binary() throws -> String {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("dte-agent").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw SlurmCluster.SetupFailure(message: "dte-agent was not built next to the tests (swift build --build-tests builds it)")
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw SlurmCluster.SetupFailure(message: "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    final class AgentProcess: Sendable {
        let process: Process
        let port: Int
        init(dataDir: String, port: Int) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: try ProcessRestartTests.binary())
            process.arguments = ["serve", "--listen", "127.0.0.1:\(port)", "--data-dir", dataDir, "--runtime", "bwrap",
                                 "--poll-interval", "0.5", "--default-memory", "200", "--log-level", "warning"]
            process.standardError = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            self.process = process
            self.port = port
        }

        func call(_ path: String, _ body: Data? = nil) async throws -> (Int, Data) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.httpMethod = body == nil ? "GET" : "POST"
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            let (data, response) = try await URLSession.shared.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
        }

        func waitUntilServing() async throws {
            for _ in 0..<100 {
                if let (status, _) = try? await call("/healthz"), status == 200 { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw SlurmCluster.SetupFailure(message: "the agent did not start on port \(port)")
        }
    }

    @Test func killMinus9ThenRestartKeepsEveryPodAndJob() async throws {
        try SlurmCluster.require()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dte-agent-kill9-\(UUID().uuidString.prefix(8))").path
        let port = try Self.freePort()
        let first = try AgentProcess(dataDir: dir, port: port)
        try await first.waitUntilServing()
        let pods = (0..<3).map { Fixtures.pod("survivor-\($0)", containers: [Fixtures.container("main", ["sh", "-c", "sleep 3; echo survived"])]) }
        var jobs: [String: String] = [:]
        for pod in pods {
            let (status, body) = try await first.call("/create", try JSONEncoder().encode(pod))
            #expect(status == 200)
            jobs[pod.pod.metadata.uid] = try JSONDecoder().decode(CreateResponse.self, from: body).podJID
        }
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()
        #expect(first.process.terminationReason == .uncaughtSignal)

        let second = try AgentProcess(dataDir: dir, port: port)
        try await second.waitUntilServing()
        let query = try JSONEncoder().encode(pods.map(\.pod))
        var statuses: [PodStatus] = []
        let deadline = Date().addingTimeInterval(120)
        repeat {
            try await Task.sleep(for: .milliseconds(500))
            statuses = try JSONDecoder().decode([PodStatus].self, from: try await second.call("/status", query).1)
        } while Date() < deadline && !statuses.allSatisfy({ $0.containers.first?.state.terminated != nil })
        #expect(statuses.count == 3)
        for status in statuses {
            #expect(status.jobID == jobs[status.uid])
            #expect(status.exitCode("main") == 0)
        }
        // A repeated create after the restart still gets the same job.
        let again = try await second.call("/create", try JSONEncoder().encode(pods[0]))
        #expect(try JSONDecoder().decode(CreateResponse.self, from: again.1).podJID == jobs[pods[0].pod.metadata.uid])

        // SIGTERM stops it gracefully.
        kill(second.process.processIdentifier, SIGTERM)
        let stopBy = Date().addingTimeInterval(15)
        while second.process.isRunning, Date() < stopBy { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!second.process.isRunning)
        #expect(second.process.terminationReason == .exit)
    }
}
