import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL

/// The agent's listener: a unix socket (mode 0660, group `socket-group`), or TCP — plain on
/// loopback, TLS (optionally mutual) elsewhere — with bounded connections and idle timeouts.
public enum Listener {
    /// The server (HTTP/1.1, or TLS around it) and the application settings for `configuration`.
    public static func server(_ configuration: AgentConfiguration, logger: Logger) throws(AgentError)
        -> (server: HTTPServerBuilder, configuration: ApplicationConfiguration)
    {
        let http = HTTPServerBuilder.http1(configuration: .init(idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds))))
        let address: BindAddress
        switch configuration.listen {
        case .tcp(let host, let port): address = .hostname(host, port: port)
        case .unix(let path):
            try prepareSocketPath(path)
            address = .unixDomainSocket(path: path)
        }
        let application = ApplicationConfiguration(
            address: address, serverName: "dte-agent",
            availableConnectionsDelegate: MaximumAvailableConnections(configuration.maxConnections, logger: logger))
        guard let tls = try tlsConfiguration(configuration) else { return (http, application) }
        do {
            return (try .tls(http, tlsConfiguration: tls), application)
        } catch {
            throw AgentError(.badRequest, "cannot set up TLS with tls-cert/tls-key", cause: error)
        }
    }

    /// TLS 1.2+ with the site's certificate; with `tls-client-ca`, clients must present a
    /// certificate signed by that CA.
    static func tlsConfiguration(_ configuration: AgentConfiguration) throws(AgentError) -> TLSConfiguration? {
        guard let certPath = configuration.tlsCertificate, let keyPath = configuration.tlsKey else { return nil }
        var info = stat()
        guard stat(keyPath, &info) == 0 else { throw AgentError(.badRequest, "tls-key \(keyPath) cannot be read") }
        guard info.st_mode & 0o007 == 0 else {
            throw AgentError(.badRequest, "tls-key \(keyPath) is readable by every user (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certPath).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
            var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
            tls.minimumTLSVersion = .tlsv12
            if let ca = configuration.tlsClientCA {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
                tls.certificateVerification = .noHostnameVerification
            }
            return tls
        } catch {
            throw AgentError(.badRequest, "cannot load tls-cert \(certPath), tls-key or tls-client-ca (PEM expected)", cause: error)
        }
    }

    /// Only a stale socket (one nobody listens on) is removed; anything else at the path stops
    /// the start.
    static func prepareSocketPath(_ path: String) throws(AgentError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw AgentError(.badRequest, "listen: \(path) exists and is not a socket; not removing it")
        }
        if socketAnswers(path) {
            throw AgentError(.badRequest, "listen: another process already listens on \(path)")
        }
        guard unlink(path) == 0 else {
            throw AgentError(.badRequest, "listen: cannot remove the stale socket \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func socketAnswers(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
            }
        }
    }

    /// Gives the socket mode 0660 and the configured group (run once it is bound).
    public static func secureSocket(_ configuration: AgentConfiguration) throws(AgentError) {
        guard case .unix(let path) = configuration.listen else { return }
        var gid: gid_t = getegid()
        if let name = configuration.socketGroup {
            guard let group = groupID(name) else {
                throw AgentError(.badRequest, "socket-group '\(name)' is not a group on this host")
            }
            gid = group
        }
        guard chown(path, geteuid(), gid) == 0, chmod(path, 0o660) == 0 else {
            throw AgentError(.badRequest, "cannot set the owner or mode of \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// A group's id from its name or number.
    static func groupID(_ name: String) -> gid_t? {
        if let number = UInt32(name) { return gid_t(number) }
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getgrnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return entry.gr_gid
    }

    /// What the start-up log says about who can reach the agent.
    public static func exposure(_ configuration: AgentConfiguration) -> (level: Logger.Level, message: String) {
        if configuration.access.enabled {
            let tls = configuration.tlsCertificate == nil ? "plain HTTP" : (configuration.tlsClientCA == nil ? "TLS" : "mutual TLS")
            return (.info, "bearer tokens required on every route but /healthz (issuers: "
                        + configuration.access.issuers.joined(separator: ", ") + "); \(tls)")
        }
        switch configuration.listen {
        case .unix(let path):
            return (.warning, "NO AUTHENTICATION: no oidc-issuer is set; every local user who can open \(path) "
                        + "(mode 0660, group \(configuration.socketGroup ?? "of the agent")) can create, delete and read pods")
        case .tcp:
            return (.warning, "NO AUTHENTICATION: no oidc-issuer is set; every local user of this host can reach "
                        + "\(configuration.listen) and create, delete and read pods on this site's allocation; "
                        + "set oidc-issuer/oidc-audience or listen on a unix socket with socket-group")
        }
    }
}
