import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import JWTKit
import Logging
import NIOCore

/// An OIDC issuer made for the tests: OIDC discovery, a JWKS and UserInfo on a loopback port,
/// with keys generated here (ES256 and RS256). It signs tokens with any claims, publishes or
/// withholds keys (rotation), and answers UserInfo from a table.
public final class TestIssuer: @unchecked Sendable {
    // Mutable state is guarded by `lock`.
    private let lock = NSLock()
    private var published: [String: [String: String]] = [:]
    private var userInfo: [String: [String]] = [:]
    private var signers: [String: JWTKeyCollection] = [:]
    public private(set) var url = ""
    private var task: Task<Void, any Error>?

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Starts the issuer with one ES256 key `k1` published.
    public static func start() async throws -> TestIssuer {
        let issuer = TestIssuer()
        try await issuer.addKey(kid: "k1", publish: true)
        for _ in 0..<5 {
            let port = Int.random(in: 41_000...60_000)
            let router = Router()
            router.get("/.well-known/openid-configuration") { _, _ in
                issuer.json(["issuer": issuer.url, "jwks_uri": issuer.url + "/jwks", "userinfo_endpoint": issuer.url + "/userinfo"])
            }
            router.get("/jwks") { _, _ in issuer.json(["keys": issuer.jwks()]) }
            router.get("/userinfo") { request, _ in
                let token = String(request.headers[.authorization]?.dropFirst("Bearer ".count) ?? "")
                guard let (sub, entitlements) = issuer.userInfo(for: token) else {
                    return Response(status: .unauthorized)
                }
                return issuer.json(["sub": sub, "eduperson_entitlement": entitlements])
            }
            var logger = Logger(label: "test-issuer")
            logger.logLevel = .critical
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
            issuer.url = "http://127.0.0.1:\(port)"
            issuer.task = Task { try await app.runService() }
            for _ in 0..<50 {
                if (try? await issuer.fetch("/jwks")) != nil { return issuer }
                try await Task.sleep(for: .milliseconds(100))
            }
            issuer.task?.cancel()
        }
        throw Failure(description: "the test issuer did not start")
    }

    public func stop() { task?.cancel() }

    private func fetch(_ path: String) async throws -> Data {
        let (data, response) = try await URLSession.shared.data(from: URL(string: url + path)!)
        guard (response as? HTTPURLResponse)?.statusCode == 200 else { throw Failure(description: "HTTP error") }
        return data
    }

    private func json(_ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private func jwks() -> [[String: String]] {
        lock.lock(); defer { lock.unlock() }
        return published.values.sorted { ($0["kid"] ?? "") < ($1["kid"] ?? "") }
    }

    private func userInfo(for token: String) -> (String, [String])? {
        lock.lock(); defer { lock.unlock() }
        guard let parts = Optional(token.split(separator: ".")), parts.count == 3,
              let claims = Self.decodeSegment(parts[1]), let sub = claims["sub"] as? String,
              let entitlements = userInfo[sub] else { return nil }
        return (sub, entitlements)
    }

    /// Adds a signing key; published in the JWKS or kept back (to be published later: rotation).
    public func addKey(kid: String, publish: Bool, rsa: Bool = false) async throws {
        let collection = JWTKeyCollection()
        var jwk: [String: String] = ["kid": kid, "use": "sig"]
        if rsa {
            let pem = try Self.openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
            let key = try Insecure.RSA.PrivateKey(pem: pem)
            await collection.add(rsa: key, digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
            let primitives = try key.publicKey.getKeyPrimitives()
            jwk["kty"] = "RSA"
            jwk["alg"] = "RS256"
            jwk["n"] = Self.base64URL(primitives.modulus)
            jwk["e"] = Self.base64URL(primitives.publicExponent)
            jwk["pem"] = key.publicKey.pemRepresentation
        } else {
            let key = ES256PrivateKey()
            await collection.add(ecdsa: key, kid: JWKIdentifier(string: kid))
            guard let parameters = key.publicKey.parameters else { throw Failure(description: "no EC parameters") }
            jwk["kty"] = "EC"
            jwk["crv"] = "P-256"
            jwk["x"] = parameters.x
            jwk["y"] = parameters.y
            jwk["pem"] = key.publicKey.pemRepresentation
        }
        lock.withLock {
            signers[kid] = collection
            if publish { published[kid] = jwk.filter { $0.key != "pem" } }
            pendingKeys[kid] = jwk
        }
    }

    private var pendingKeys: [String: [String: String]] = [:]

    /// Publishes a key added earlier with `publish: false`.
    public func publish(kid: String) {
        lock.lock(); defer { lock.unlock() }
        published[kid] = pendingKeys[kid]?.filter { $0.key != "pem" }
    }

    /// The PEM of a key's public half (for the HS256-with-the-public-key attack).
    public func publicKeyPEM(kid: String) -> String {
        lock.lock(); defer { lock.unlock() }
        return pendingKeys[kid]?["pem"] ?? ""
    }

    /// Entitlements UserInfo answers for `subject`.
    public func setUserInfo(subject: String, entitlements: [String]) {
        lock.lock(); defer { lock.unlock() }
        userInfo[subject] = entitlements
    }

    /// Claims of a token: sensible defaults (issuer, audience, an hour of validity) overridden
    /// by `claims` (a value of NSNull removes the claim).
    public func claims(subject: String, audience: String = "dte-test", entitlements: [String]? = nil,
                _ overrides: [String: Any] = [:]) -> [String: Any] {
        let now = Date().timeIntervalSince1970
        var claims: [String: Any] = ["iss": url, "sub": subject, "aud": audience, "iat": Int(now), "nbf": Int(now) - 5,
                                     "exp": Int(now) + 3600]
        if let entitlements { claims["eduperson_entitlement"] = entitlements }
        for (key, value) in overrides {
            if value is NSNull { claims[key] = nil } else { claims[key] = value }
        }
        return claims
    }

    /// A token signed by jwt-kit with the key `kid`.
    public func token(_ claims: [String: Any], kid: String = "k1") async throws -> String {
        let collection = lock.withLock { signers[kid] }
        guard let collection else { throw Failure(description: "no key \(kid)") }
        return try await collection.sign(AnyClaims(claims), kid: JWKIdentifier(string: kid))
    }

    /// A token with `alg: none` and no signature.
    public static func unsignedToken(_ claims: [String: Any]) -> String {
        let header = base64URL(try! JSONSerialization.data(withJSONObject: ["alg": "none", "typ": "JWT"]))
        let body = base64URL(try! JSONSerialization.data(withJSONObject: claims))
        return "\(header).\(body)."
    }

    /// A token signed with HS256, using the issuer's public key as the HMAC secret (the classic
    /// algorithm-confusion attack).
    public func hmacWithPublicKeyToken(_ claims: [String: Any], kid: String = "k1") async throws -> String {
        let collection = JWTKeyCollection()
        await collection.add(hmac: HMACKey(from: publicKeyPEM(kid: kid)), digestAlgorithm: .sha256, kid: JWKIdentifier(string: kid))
        return try await collection.sign(AnyClaims(claims), kid: JWKIdentifier(string: kid))
    }

    public static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func decodeSegment(_ text: Substring) -> [String: Any]? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        guard let data = Data(base64Encoded: standard) else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    public static func openssl(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Failure(description: "openssl \(arguments.first ?? "") failed") }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Any JSON object as a JWT payload (jwt-kit signs what it encodes).
public struct AnyClaims: JWTPayload, @unchecked Sendable {
    // Immutable after init; JSON values only.
    let object: [String: Any]
    public init(_ object: [String: Any]) { self.object = object }
    public init(from decoder: any Decoder) throws { object = [:] }
    public func verify(using algorithm: some JWTAlgorithm) async throws {}

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for (key, value) in object {
            let k = Key(stringValue: key)
            switch value {
            case let v as String: try container.encode(v, forKey: k)
            case let v as Int: try container.encode(v, forKey: k)
            case let v as Double: try container.encode(v, forKey: k)
            case let v as [String]: try container.encode(v, forKey: k)
            default: break
            }
        }
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
