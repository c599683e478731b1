import Foundation
import NIOSSL

/// The TLS roots a client trusts for one site's agent: the CA certificates of the site
/// descriptor's `agent.ca_certificate` (a PEM file of one or more certificates), in place of
/// the system's trust store. Loaded and checked when the command starts, so that a missing or
/// malformed file is one clear error naming the site, not a failed handshake later.
public struct AgentTrust: Sendable, Hashable {
    /// The PEM file, as an absolute path.
    public let path: String
    let certificates: [NIOSSLCertificate]

    /// A CA file larger than this is refused (a bundle of a few certificates is a few KB).
    static let maximumBytes = 1 << 20

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Reads `path` (a regular file of PEM certificates). `site` and `display` (the path as the
    /// descriptor gives it) name what is wrong.
    public init(site: String, path: String, display: String) throws(Failure) {
        let what = "site \(site): agent.ca_certificate \(display)"
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw Failure(description: "\(what): cannot read it (\(String(cString: strerror(errno))))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else { throw Failure(description: "\(what): not a regular file") }
        guard Int(info.st_size) <= Self.maximumBytes else {
            throw Failure(description: "\(what): larger than \(Self.maximumBytes >> 10) KiB; it should hold PEM certificates only")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "\(what): cannot read it")
        }
        let loaded: [NIOSSLCertificate]
        do {
            loaded = try NIOSSLCertificate.fromPEMBytes(Array(data))
        } catch {
            throw Failure(description: "\(what): not PEM certificates (\(error))")
        }
        guard !loaded.isEmpty else { throw Failure(description: "\(what): holds no PEM certificate") }
        self.path = path
        certificates = loaded
    }

    /// Client TLS settings trusting these certificates only (hostname verification stays on).
    var tlsConfiguration: TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(certificates)
        return tls
    }

    /// What makes `error` a certificate the client does not trust, nil when it is something else.
    static func untrustedCertificate(_ error: any Error) -> String? {
        let text = String(describing: error)
        for mark in ["CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "unable to get local issuer certificate",
                     "self signed certificate", "self-signed certificate", "unableToValidateCertificate"]
        where text.contains(mark) {
            return mark
        }
        if let ssl = error as? NIOSSLError, case .handshakeFailed = ssl { return "TLS handshake failed: \(ssl)" }
        return nil
    }

    public static func == (a: AgentTrust, b: AgentTrust) -> Bool { a.path == b.path }
    public func hash(into hasher: inout Hasher) { hasher.combine(path) }
}
