import EdgeAgent
import Foundation
import PodWire
import Testing

/// The real binary configured by `--config FILE` (a flag overriding the file), listening on
/// a unix socket, running a pod on Slurm.
@Suite struct UnixSocketConfigTests {
    /// One HTTP/1.1 exchange over a unix socket (`Connection: close`, read to the end).
    static func call(_ socketPath: String, _ method: String, _ path: String, _ body: Data = Data()) throws -> (Int, Data) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SlurmCluster.SetupFailure(message: "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socketPath.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SlurmCluster.SetupFailure(message: "socket path too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw SlurmCluster.SetupFailure(message: "cannot connect to \(socketPath)") }
        var request = Data("\(method) \(path) HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\n".utf8)
        request.append(Data("Content-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8))
        request.append(body)
        try request.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let sent = send(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset, 0)
                guard sent > 0 else { throw SlurmCluster.SetupFailure(message: "send failed") }
                offset += sent
            }
        }
        var answer = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let got = recv(fd, &buffer, buffer.count, 0)
            if got <= 0 { break }
            answer.append(contentsOf: buffer[0..<got])
        }
        guard let end = answer.range(of: Data("\r\n\r\n".utf8)) else { throw SlurmCluster.SetupFailure(message: "no HTTP answer") }
        let head = String(decoding: answer[..<end.lowerBound], as: UTF8.self)
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        var content = Data(answer[end.upperBound...])
        if head.lowercased().contains("transfer-encoding: chunked") {
            var decoded = Data()
            while let line = content.range(of: Data("\r\n".utf8)),
                  let size = Int(String(decoding: content[..<line.lowerBound], as: UTF8.self), radix: 16), size > 0 {
                decoded.append(content[line.upperBound..<(line.upperBound + size)])
                content = Data(content[(line.upperBound + size + 2)...])
            }
            content = decoded
        }
        return (status, content)
    }

    @Test func configFileAndUnixSocketThroughTheBinary() async throws {
        try SlurmCluster.require()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dte-agent-sock-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let socketPath = "\(dir)/agent.sock"
        let config = """
            # dte-agent settings
            listen: unix://\(socketPath)
            data-dir: \(dir)/data
            runtime: none
            poll-interval: 0.5
            default-memory: 100Mi
            max-pods: 5
            retention: 1h
            """
        try config.write(toFile: "\(dir)/agent.yaml", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try ProcessRestartTests.binary())
        process.arguments = ["serve", "--config", "\(dir)/agent.yaml", "--max-pods", "7", "--log-level", "warning"]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        var health = (0, Data())
        for _ in 0..<100 where health.0 != 200 {
            try await Task.sleep(for: .milliseconds(100))
            health = (try? Self.call(socketPath, "GET", "/v1/health")) ?? (0, Data())
        }
        #expect(health.0 == 200)
        #expect(try JSONDecoder().decode(AgentHealth.self, from: health.1).runtime == "none")

        let pod = Fixtures.pod("via-socket", containers: [Fixtures.container("main", ["sh", "-c", "echo over the socket"])])
        let created = try Self.call(socketPath, "POST", "/create", try JSONEncoder().encode(pod))
        #expect(created.0 == 200)
        let query = try JSONEncoder().encode([pod.pod])
        var statuses: [PodStatus] = []
        let deadline = Date().addingTimeInterval(90)
        repeat {
            try await Task.sleep(for: .milliseconds(300))
            statuses = try JSONDecoder().decode([PodStatus].self, from: try Self.call(socketPath, "GET", "/status", query).1)
        } while Date() < deadline && statuses.first?.containers.first?.state.terminated == nil
        #expect(statuses.first?.exitCode("main") == 0)
        #expect(FileManager.default.fileExists(atPath: "\(dir)/data/pods/tests-\(pod.pod.metadata.uid)/run-main.out"))
        let logs = try Self.call(socketPath, "GET", "/getLogs", try JSONEncoder().encode(
            LogStruct(namespace: "tests", podUID: pod.pod.metadata.uid, podName: "", containerName: "main", opts: LogOptions())))
        #expect(String(decoding: logs.1, as: UTF8.self) == "over the socket\n")
        // The flag overrode the file: 7 pods at most, one tracked.
        let ping = try JSONDecoder().decode(PingResponse.self, from: try Self.call(socketPath, "GET", "/status", Data("[]".utf8)).1)
        #expect(ping.resources.pods == "6")
        // The memory default came from the file (100Mi): the job asked for 100 MiB.
        let script = try String(contentsOfFile: "\(dir)/data/pods/tests-\(pod.pod.metadata.uid)/job.slurm", encoding: .utf8)
        #expect(script.contains("--mem=100M"))

        kill(process.processIdentifier, SIGTERM)
        let stopBy = Date().addingTimeInterval(15)
        while process.isRunning, Date() < stopBy { try await Task.sleep(for: .milliseconds(100)) }
        #expect(process.terminationReason == .exit)
    }
}
