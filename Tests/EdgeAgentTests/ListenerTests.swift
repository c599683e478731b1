import AsyncHTTPClient
import DTETestSupport
import EdgeAgent
import Foundation
import NIOCore
import HummingbirdTLS
import Testing

/// The real binary's listeners: TLS and mutual TLS on TCP, the unix socket's mode and group,
/// and the listeners it refuses to open.
@Suite struct ListenerTests {
    /// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
    struct Certificates {
        let dir: String
        var ca: String { dir + "/ca.pem" }
        var serverCert: String { dir + "/server.pem" }
        var serverKey: String { dir + "/server.key" }
        var clientCert: String { dir + "/client.pem" }
        var clientKey: String { dir + "/client.key" }

        init() throws {
            dir = NSTemporaryDirectory() + "dte-tls-" + UUID().uuidString.prefix(8).lowercased()
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let ext = dir + "/san.ext"
            try "subjectAltName=IP:127.0.0.1\n".write(toFile: ext, atomically: true, encoding: .utf8)
            try Self.run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                          "-subj", "/CN=dte test CA", "-keyout", dir + "/ca.key", "-out", dir + "/ca.pem"])
            for (name, cn) in [("server", "127.0.0.1"), ("client", "dte test client")] {
                try Self.run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=\(cn)",
                              "-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).csr"])
                try Self.run(["x509", "-req", "-in", "\(dir)/\(name).csr", "-CA", dir + "/ca.pem", "-CAkey", dir + "/ca.key",
                              "-CAcreateserial", "-days", "2", "-out", "\(dir)/\(name).pem"] + (name == "server" ? ["-extfile", ext] : []))
                chmod("\(dir)/\(name).key", 0o600)
            }
        }

        static func run(_ arguments: [String]) throws {
            _ = try TestIssuer.openssl(arguments)
        }
    }

    func client(trusting certificates: Certificates, clientCertificate: Bool) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(certificates.ca))
        if clientCertificate {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificates.clientCert).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: certificates.clientKey, format: .pem))
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(5), read: .seconds(5))
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func status(_ client: HTTPClient, _ url: String) async throws -> Int {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        return Int(response.status.code)
    }

    @Test func tlsAndMutualTLS() async throws {
        try SlurmCluster.require()
        let certificates = try Certificates()
        defer { try? FileManager.default.removeItem(atPath: certificates.dir) }

        let tlsOnly = try startTestAgent(dataDir: certificates.dir + "/tls", arguments: [
            "--tls-cert", certificates.serverCert, "--tls-key", certificates.serverKey,
        ], scheme: "https")
        defer { tlsOnly.process.terminate(); tlsOnly.process.waitUntilExit() }
        let anonymous = try client(trusting: certificates, clientCertificate: false)
        let withCertificate = try client(trusting: certificates, clientCertificate: true)
        do {
        #expect(try await status(anonymous, tlsOnly.url + "/healthz") == 200)
        // Plain HTTP on the TLS port gets no answer.
        let plainURL = tlsOnly.url.replacingOccurrences(of: "https://", with: "http://")
        await #expect(throws: (any Error).self) { _ = try await status(anonymous, plainURL + "/healthz") }

        let mutual = try startTestAgent(dataDir: certificates.dir + "/mtls", arguments: [
            "--tls-cert", certificates.serverCert, "--tls-key", certificates.serverKey, "--tls-client-ca", certificates.ca,
        ], scheme: "https")
        defer { mutual.process.terminate(); mutual.process.waitUntilExit() }
        await #expect(throws: (any Error).self) { _ = try await status(anonymous, mutual.url + "/healthz") }
        #expect(try await status(withCertificate, mutual.url + "/healthz") == 200)
        #expect(try await status(withCertificate, mutual.url + "/v1/health") == 200)
        }
        try await anonymous.shutdown()
        try await withCertificate.shutdown()
    }

    @Test func aKeyEveryUserCanReadIsRefused() throws {
        let certificates = try Certificates()
        defer { try? FileManager.default.removeItem(atPath: certificates.dir) }
        chmod(certificates.serverKey, 0o644)
        let out = try runAgent(["serve", "--listen", "127.0.0.1:1", "--data-dir", certificates.dir + "/data",
                                "--tls-cert", certificates.serverCert, "--tls-key", certificates.serverKey])
        #expect(out.status != 0)
        #expect(out.err.contains("readable by every user"), "\(out.err)")
    }

    @Test func listenersOthersCouldReachNeedAuthenticationAndTLS() throws {
        let dir = NSTemporaryDirectory() + "dte-listen-" + UUID().uuidString.prefix(8).lowercased()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let open = try runAgent(["serve", "--listen", "0.0.0.0:4999", "--data-dir", dir])
        #expect(open.status != 0)
        #expect(open.err.contains("needs oidc-issuer and oidc-audience"), "\(open.err)")
        let plain = try runAgent(["serve", "--listen", "0.0.0.0:4999", "--data-dir", dir,
                                  "--oidc-issuer", "https://issuer.example.org", "--oidc-audience", "dte"])
        #expect(plain.status != 0)
        #expect(plain.err.contains("without TLS"), "\(plain.err)")
        let noAudience = try runAgent(["serve", "--data-dir", dir, "--oidc-issuer", "https://issuer.example.org"])
        #expect(noAudience.status != 0)
        #expect(noAudience.err.contains("oidc-audience is required"), "\(noAudience.err)")
        let httpIssuer = try runAgent(["serve", "--data-dir", dir, "--oidc-issuer", "http://issuer.example.org", "--oidc-audience", "dte"])
        #expect(httpIssuer.status != 0)
        #expect(httpIssuer.err.contains("must use https"), "\(httpIssuer.err)")

        var waived = AgentConfiguration()
        waived.listen = .tcp(host: "0.0.0.0", port: 4999)
        waived.access.issuers = ["https://issuer.example.org"]
        waived.access.audience = "dte"
        waived.allowInsecureListen = true
        #expect(throws: Never.self) { try waived.validate() }
    }

    @Test func theUnixSocketIsForItsGroupAndOnlyAStaleOneIsReplaced() async throws {
        try SlurmCluster.require()
        let dir = NSTemporaryDirectory() + "dte-sock-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/agent.sock"

        // Something that is not a socket is never deleted.
        try "keep me".write(toFile: path, atomically: true, encoding: .utf8)
        let refused = try runAgent(["serve", "--listen", "unix://\(path)", "--data-dir", dir + "/data"])
        #expect(refused.status != 0)
        #expect(refused.err.contains("is not a socket"), "\(refused.err)")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "keep me")
        try FileManager.default.removeItem(atPath: path)

        // A stale socket (nobody listens) is replaced; the new one is 0660 and of the group asked for.
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: Array(path.utf8)) }
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(stale)
        let agent = Process()
        agent.executableURL = builtExecutable("dte-agent")
        agent.arguments = ["serve", "--listen", "unix://\(path)", "--data-dir", dir + "/data", "--socket-group", "daemon",
                           "--runtime", "bwrap"]
        agent.standardError = FileHandle.nullDevice
        try agent.run()
        defer { agent.terminate(); agent.waitUntilExit() }
        var info = stat()
        var ready = false
        for _ in 0..<100 where !ready {
            try await Task.sleep(for: .milliseconds(100))
            ready = (try? UnixSocketConfigTests.call(path, "GET", "/healthz").0) == 200
        }
        #expect(ready)
        #expect(lstat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o660)
        #expect(info.st_gid == 1)   // daemon
        // A second agent on the same socket refuses to take it over.
        let second = try runAgent(["serve", "--listen", "unix://\(path)", "--data-dir", dir + "/data2"])
        #expect(second.status != 0)
        #expect(second.err.contains("already listens"), "\(second.err)")
    }

    @Test func silentAndSurplusConnectionsCannotHoldTheServer() async throws {
        try SlurmCluster.require()
        let dir = NSTemporaryDirectory() + "dte-conn-" + UUID().uuidString.prefix(8).lowercased()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let agent = try startTestAgent(dataDir: dir + "/data", arguments: ["--idle-timeout", "30", "--max-connections", "2"])
        defer { agent.process.terminate(); agent.process.waitUntilExit() }
        let port = UInt16(agent.url.split(separator: ":").last ?? "") ?? 0
        // Without OIDC the start-up log says plainly who can drive the agent.
        let log = try String(contentsOfFile: dir + "/data.agent.log", encoding: .utf8)
        #expect(log.contains("NO AUTHENTICATION"), "\(log)")

        // Two silent connections take every slot: a third client is not served meanwhile…
        let opened = Date()
        let silent = [try Self.connect(port), try Self.connect(port)]
        // The agent must have accepted both before the third arrives: connections that wait in the
        // listen backlog together are accepted in one go. The kernel says when the backlog is empty.
        // The waits block this thread rather than suspend the task: on a loaded machine a
        // suspended test can resume seconds late, past the idle timeout it is checking against.
        var accepted = false
        for _ in 0..<100 where !accepted {
            usleep(50_000)
            accepted = Self.acceptBacklog(port) == 0
        }
        #expect(accepted, "the agent left \(Self.acceptBacklog(port) ?? -1) of the two silent connections unaccepted")
        #expect(!Self.answersOnANewConnection(port, within: 1))
        // What the third client saw means something only while the silent ones were still open.
        let checked = Date().timeIntervalSince(opened)
        #expect(checked < 25, "the check came \(Int(checked)) s after the silent connections opened, too close to the idle timeout")
        #expect(silent.allSatisfy { !Self.readsEndOfStream($0, within: 0) }, "a silent connection was closed before its idle timeout")
        // …until the agent closes the silent ones (idle-timeout 30 s), then it answers again. This
        // wait runs on a thread of its own, not on one of the few that run every test's tasks.
        let closed = await Self.onThread { silent.map { Self.readsEndOfStream($0, within: 40) } }
        #expect(closed == [true, true])
        #expect(Date().timeIntervalSince(opened) >= 29, "the silent connections were closed before the idle timeout")
        silent.forEach { close($0) }
        usleep(200_000)
        #expect(Self.answersOnANewConnection(port, within: 3))
    }

    /// Runs a blocking `body` on a thread of its own and returns what it returns.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: body()) }.start()
        }
    }

    /// Whether `GET /healthz` on a new connection gets an answer within `seconds`.
    static func answersOnANewConnection(_ port: UInt16, within seconds: Int) -> Bool {
        guard let fd = try? connect(port) else { return false }
        defer { close(fd) }
        let request = Array("GET /healthz HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n".utf8)
        guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return false }
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(seconds * 1000)) > 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 64)
        let got = recv(fd, &buffer, buffer.count, 0)
        return got > 0 && String(decoding: buffer[0..<got], as: UTF8.self).hasPrefix("HTTP/1.1 200")
    }

    /// How many connections wait in the accept queue of the TCP socket listening on `port`
    /// (the LISTEN line's rx_queue in /proc/net/tcp); nil when no socket listens there.
    static func acceptBacklog(_ port: UInt16) -> Int? {
        // procfs files have no size: read to the end rather than by the size stat reports.
        guard let file = FileHandle(forReadingAtPath: "/proc/net/tcp") else { return nil }
        defer { try? file.close() }
        let table = String(decoding: file.readDataToEndOfFile(), as: UTF8.self)
        let wanted = String(format: ":%04X", Int(port))
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 4, fields[1].hasSuffix(wanted), fields[3] == "0A" else { continue }
            guard let queues = fields[4].split(separator: ":").last else { return nil }
            return Int(queues, radix: 16)
        }
        return nil
    }

    static func connect(_ port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw TestIssuer.Failure(description: "cannot connect to port \(port)") }
        return fd
    }

    /// Whether the peer closes the connection (recv returns 0) within `seconds`.
    static func readsEndOfStream(_ fd: Int32, within seconds: Int) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(seconds * 1000)) > 0 else { return false }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) == 0
    }

    func runAgent(_ arguments: [String]) throws -> CommandOutput {
        try runCommand(builtExecutable("dte-agent"), arguments, in: NSTemporaryDirectory())
    }
}
