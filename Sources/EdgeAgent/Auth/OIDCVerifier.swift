import AsyncHTTPClient
import Foundation
import JWTKit
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// Why a token was not accepted; `error` is RFC 6750's code for `WWW-Authenticate`.
public struct AuthFailure: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// 401 `invalid_request`: no token, or not a bearer token.
        case invalidRequest = "invalid_request"
        /// 401 `invalid_token`: malformed, expired, wrong issuer/audience, bad signature.
        case invalidToken = "invalid_token"
        /// 403 `insufficient_scope`: a valid token without the entitlement needed.
        case insufficientScope = "insufficient_scope"
        /// 503: the issuer could not be asked for its keys.
        case issuerUnavailable
    }

    public var kind: Kind
    /// Said to the caller: what is wrong, never the token or internals.
    public var reason: String

    public init(_ kind: Kind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }

    public var description: String { "\(kind.rawValue): \(reason)" }
}

/// Verifies OIDC bearer tokens: the issuer is one of the configured ones (exact match), the
/// signature checks with a key of the issuer's JWKS (found through OIDC discovery, cached,
/// fetched again when a token names an unknown `kid`, at most once per `keyRefreshSeconds`),
/// the algorithm is asymmetric (RS256/384/512, PS256, ES256/384), `exp`, `nbf` and `iat` hold
/// with leeway, and `aud` contains the audience. Entitlements come from the token's
/// `eduperson_entitlement` or, when it has none, from the issuer's UserInfo. Signatures are
/// checked by jwt-kit; a verified token is remembered until it expires.
public actor OIDCVerifier {
    public static let allowedAlgorithms: Set<String> = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]
    /// The longest token accepted (headers are bounded anyway; JWTs are a few KB).
    public static let maxTokenBytes = 16 * 1024
    static let maxDocumentBytes = 1024 * 1024
    static let maxCachedTokens = 4096

    let settings: AccessSettings
    let policy: AccessPolicy
    let client: HTTPClient
    let logger: Logger
    let now: @Sendable () -> Double

    struct IssuerKeys {
        var jwksURI: String
        var userInfoURI: String?
        /// kid → key (keys without a kid are kept under "").
        var keys: [String: JWK]
        var fetchedAt: Double
    }

    private var issuers: [String: IssuerKeys] = [:]
    /// Verified tokens until they expire, read without entering the actor (`cached(_:)`): a
    /// request with a token seen before costs one locked dictionary lookup.
    private nonisolated let verified = NIOLockedValueBox<[String: Caller]>([:])
    /// Verifiers for one key and one algorithm, made once.
    private var collections: [String: JWTKeyCollection] = [:]

    public init(settings: AccessSettings, client: HTTPClient, logger: Logger,
                now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.settings = settings
        self.policy = AccessPolicy(settings)
        self.client = client
        self.logger = logger
        self.now = now
    }

    /// The caller a token names, or why it is refused. (Entitlements are checked by the caller
    /// of this function against what the request touches.)
    public func verify(_ token: String) async throws(AuthFailure) -> Caller {
        if let known = cached(token) { return known }
        let time = now()
        let parsed = try Self.parse(token)
        guard settings.issuers.contains(parsed.claims.iss ?? "") else {
            throw AuthFailure(.invalidToken, "the token's issuer is not one this site trusts")
        }
        let issuer = parsed.claims.iss ?? ""
        try checkTimes(parsed.claims, now: time)
        try checkAudience(parsed.claims)
        let key = try await key(issuer: issuer, kid: parsed.header.kid, alg: parsed.header.alg)
        try await checkSignature(token, key: key, issuer: issuer, kid: parsed.header.kid ?? "", alg: parsed.header.alg)

        var entitlements = parsed.claims.entitlements
        if entitlements == nil, policy.needsEntitlements {
            entitlements = try await userInfoEntitlements(issuer: issuer, token: token, subject: parsed.claims.sub)
        }
        guard let subject = parsed.claims.vopersonID ?? parsed.claims.sub, !subject.isEmpty, subject.utf8.count <= 512 else {
            throw AuthFailure(.invalidToken, "the token names no subject (sub)")
        }
        let caller = Caller(issuer: issuer, subject: subject,
                            entitlements: (entitlements ?? []).prefix(1000).compactMap(Entitlement.init),
                            expiresAt: parsed.claims.exp)
        remember(token, caller, now: time)
        return caller
    }

    /// The caller of a token verified before and not yet expired (with leeway); nil otherwise.
    public nonisolated func cached(_ token: String) -> Caller? {
        let time = now()
        let leeway = Double(settings.leewaySeconds)
        return verified.withLockedValue { cache in
            guard let known = cache[token] else { return nil }
            if let expiry = known.expiresAt, time < expiry + leeway { return known }
            cache[token] = nil
            return nil
        }
    }

    private func remember(_ token: String, _ caller: Caller, now: Double) {
        verified.withLockedValue { cache in
            if cache.count >= Self.maxCachedTokens {
                cache = cache.filter { ($0.value.expiresAt ?? 0) > now }
                if cache.count >= Self.maxCachedTokens { cache.removeAll(keepingCapacity: true) }
            }
            cache[token] = caller
        }
    }

    // MARK: - Parsing (before any key is looked at)

    package struct Header: Decodable {
        var alg: String
        var kid: String?
        var crit: [String]?
    }

    package struct Claims: Decodable {
        var iss: String?
        var sub: String?
        var aud: [String]
        var exp: Double?
        var nbf: Double?
        var iat: Double?
        var vopersonID: String?
        var entitlements: [String]?

        enum CodingKeys: String, CodingKey {
            case iss, sub, aud, exp, nbf, iat
            case vopersonID = "voperson_id"
            case entitlements = "eduperson_entitlement"
        }

        package init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            iss = try? c.decodeIfPresent(String.self, forKey: .iss)
            sub = try? c.decodeIfPresent(String.self, forKey: .sub)
            aud = Self.strings(c, .aud) ?? []
            exp = try? c.decodeIfPresent(Double.self, forKey: .exp)
            nbf = try? c.decodeIfPresent(Double.self, forKey: .nbf)
            iat = try? c.decodeIfPresent(Double.self, forKey: .iat)
            vopersonID = try? c.decodeIfPresent(String.self, forKey: .vopersonID)
            entitlements = Self.strings(c, .entitlements)
        }

        /// A string or a list of strings (both are allowed for `aud` and entitlements).
        static func strings(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) -> [String]? {
            if let list = try? c.decodeIfPresent([String].self, forKey: key) { return list }
            if let one = try? c.decodeIfPresent(String.self, forKey: key) { return [one] }
            return nil
        }
    }

    package static func parse(_ token: String) throws(AuthFailure) -> (header: Header, claims: Claims) {
        guard token.utf8.count <= maxTokenBytes else { throw AuthFailure(.invalidToken, "the token is longer than \(maxTokenBytes) bytes") }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw AuthFailure(.invalidToken, "the token is not a JWT (three dot-separated parts)")
        }
        guard let headerData = base64URL(parts[0]), let header = try? JSONDecoder().decode(Header.self, from: headerData) else {
            throw AuthFailure(.invalidToken, "the token's header is not base64url JSON with an alg")
        }
        guard allowedAlgorithms.contains(header.alg) else {
            throw AuthFailure(.invalidToken, "algorithm \(header.alg.prefix(20)) is not accepted (asymmetric only: "
                                + allowedAlgorithms.sorted().joined(separator: ", ") + ")")
        }
        if let crit = header.crit, !crit.isEmpty {
            throw AuthFailure(.invalidToken, "the token's header has critical extensions this site does not understand")
        }
        guard let claimData = base64URL(parts[1]), let claims = try? JSONDecoder().decode(Claims.self, from: claimData) else {
            throw AuthFailure(.invalidToken, "the token's claims are not base64url JSON")
        }
        guard !parts[2].isEmpty, base64URL(parts[2]) != nil else {
            throw AuthFailure(.invalidToken, "the token's signature is missing or not base64url")
        }
        return (header, claims)
    }

    static func base64URL(_ text: Substring) -> Data? {
        guard text.utf8.allSatisfy({ ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 95 })
        else { return nil }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.utf8.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard)
    }

    // MARK: - Claims

    func checkTimes(_ claims: Claims, now: Double) throws(AuthFailure) {
        let leeway = Double(settings.leewaySeconds)
        guard let exp = claims.exp, exp.isFinite else { throw AuthFailure(.invalidToken, "the token has no expiry (exp)") }
        guard now < exp + leeway else { throw AuthFailure(.invalidToken, "the token has expired") }
        if let nbf = claims.nbf {
            guard nbf.isFinite, now >= nbf - leeway else { throw AuthFailure(.invalidToken, "the token is not valid yet (nbf)") }
        }
        if let iat = claims.iat {
            guard iat.isFinite, iat <= now + leeway else { throw AuthFailure(.invalidToken, "the token was issued in the future (iat)") }
        }
    }

    func checkAudience(_ claims: Claims) throws(AuthFailure) {
        guard let audience = settings.audience else { return }
        guard claims.aud.contains(audience) else {
            throw AuthFailure(.invalidToken, "the token is not meant for this site (aud does not contain \(audience))")
        }
    }

    // MARK: - Keys

    /// The issuer's key for `kid`, fetching discovery and JWKS when not known (again when the kid
    /// is unknown, rate-limited).
    func key(issuer: String, kid: String?, alg: String) async throws(AuthFailure) -> JWK {
        let time = now()
        var keys = issuers[issuer]
        if keys == nil {
            keys = try await fetchKeys(issuer: issuer)
        }
        func find(_ set: IssuerKeys) -> JWK? {
            if let kid { return set.keys[kid] }
            // No kid: only unambiguous when the issuer publishes a single key.
            return set.keys.count == 1 ? set.keys.values.first : nil
        }
        if let set = keys, let key = find(set) { return try Self.check(key, alg: alg) }
        if let set = keys, time - set.fetchedAt >= Double(settings.keyRefreshSeconds) {
            logger.info("token names an unknown key; fetching the issuer's keys again", metadata: ["issuer": "\(issuer)"])
            let fresh = try await fetchKeys(issuer: issuer)
            if let key = find(fresh) { return try Self.check(key, alg: alg) }
        }
        throw AuthFailure(.invalidToken, kid == nil ? "the token names no key (kid) and the issuer has several"
                                                    : "the token is signed with a key the issuer does not publish")
    }

    /// The key fits the algorithm: RSA for RS*/PS*, EC on the right curve for ES*; a key that
    /// names its own algorithm is used for that one only.
    static func check(_ key: JWK, alg: String) throws(AuthFailure) -> JWK {
        if let own = key.algorithm?.rawValue, own != alg {
            throw AuthFailure(.invalidToken, "the token's algorithm \(alg) is not the one of its key (\(own))")
        }
        let kty = key.keyType.rawValue
        let fits: Bool
        switch alg {
        case "RS256", "RS384", "RS512", "PS256": fits = kty == "RSA"
        case "ES256": fits = kty == "EC" && key.curve?.rawValue == "P-256"
        case "ES384": fits = kty == "EC" && key.curve?.rawValue == "P-384"
        default: fits = false
        }
        guard fits else { throw AuthFailure(.invalidToken, "the token's algorithm \(alg) does not fit its key") }
        return key
    }

    func fetchKeys(issuer: String) async throws(AuthFailure) -> IssuerKeys {
        let base = issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer
        let discovery: [String: Any]
        do {
            discovery = try await fetchJSONObject(base + "/.well-known/openid-configuration", bearer: nil)
        } catch {
            logger.warning("OIDC discovery failed", metadata: ["issuer": "\(issuer)", "error": "\(error)"])
            throw AuthFailure(.issuerUnavailable, "the token's issuer could not be asked for its keys; retry later")
        }
        guard (discovery["issuer"] as? String) == issuer, let jwksURI = discovery["jwks_uri"] as? String,
              Self.allowedURL(jwksURI) else {
            logger.error("OIDC discovery document does not name this issuer or a usable jwks_uri", metadata: ["issuer": "\(issuer)"])
            throw AuthFailure(.issuerUnavailable, "the token's issuer publishes no usable keys")
        }
        let userInfo = (discovery["userinfo_endpoint"] as? String).flatMap { Self.allowedURL($0) ? $0 : nil }
        let jwks: [String: Any]
        do { jwks = try await fetchJSONObject(jwksURI, bearer: nil) } catch {
            logger.warning("fetching the issuer's JWKS failed", metadata: ["issuer": "\(issuer)", "error": "\(error)"])
            throw AuthFailure(.issuerUnavailable, "the token's issuer could not be asked for its keys; retry later")
        }
        var keys: [String: JWK] = [:]
        for entry in (jwks["keys"] as? [Any] ?? []).prefix(100) {
            guard let object = entry as? [String: Any], let kty = object["kty"] as? String, kty == "RSA" || kty == "EC",
                  (object["use"] as? String ?? "sig") == "sig",
                  let data = try? JSONSerialization.data(withJSONObject: object),
                  let key = try? JSONDecoder().decode(JWK.self, from: data) else { continue }
            keys[key.keyIdentifier?.string ?? ""] = key
        }
        let set = IssuerKeys(jwksURI: jwksURI, userInfoURI: userInfo, keys: keys, fetchedAt: now())
        issuers[issuer] = set
        collections = collections.filter { !$0.key.hasPrefix(issuer + "\u{0}") }
        logger.info("OIDC keys loaded", metadata: ["issuer": "\(issuer)", "keys": "\(keys.count)"])
        return set
    }

    static func allowedURL(_ text: String) -> Bool {
        guard let url = URL(string: text), let host = url.host else { return false }
        return url.scheme == "https" || (url.scheme == "http" && AccessSettings.isLoopback(host))
    }

    func checkSignature(_ token: String, key: JWK, issuer: String, kid: String, alg: String) async throws(AuthFailure) {
        let cacheKey = issuer + "\u{0}" + kid + "\u{0}" + alg
        do {
            let collection: JWTKeyCollection
            if let known = collections[cacheKey] {
                collection = known
            } else {
                var bound = key
                bound.algorithm = JWK.Algorithm(rawValue: alg)
                collection = try await JWTKeyCollection().add(jwk: Self.withKid(bound))
                collections[cacheKey] = collection
            }
            _ = try await collection.verify(token, as: SignedClaims.self)
        } catch {
            throw AuthFailure(.invalidToken, "the token's signature does not verify")
        }
    }

    /// jwt-kit keeps keys by kid: a key published without one gets a fixed one.
    static func withKid(_ key: JWK) -> JWK {
        var copy = key
        if copy.keyIdentifier == nil { copy.keyIdentifier = JWKIdentifier(string: "") }
        return copy
    }

    /// jwt-kit only checks the signature; the claims are checked above with leeway.
    struct SignedClaims: JWTPayload {
        func verify(using algorithm: some JWTAlgorithm) async throws {}
        init(from decoder: any Decoder) throws {}
        func encode(to encoder: any Encoder) throws {}
    }

    // MARK: - UserInfo

    func userInfoEntitlements(issuer: String, token: String, subject: String?) async throws(AuthFailure) -> [String] {
        guard let uri = issuers[issuer]?.userInfoURI else { return [] }
        let object: [String: Any]
        do { object = try await fetchJSONObject(uri, bearer: token) } catch {
            logger.warning("UserInfo request failed", metadata: ["issuer": "\(issuer)", "error": "\(error)"])
            throw AuthFailure(.issuerUnavailable, "the issuer's UserInfo could not be asked for entitlements; retry later")
        }
        guard let sub = object["sub"] as? String, sub == subject else {
            throw AuthFailure(.invalidToken, "the issuer's UserInfo names another subject than the token")
        }
        if let list = object["eduperson_entitlement"] as? [Any] { return list.compactMap { $0 as? String } }
        if let one = object["eduperson_entitlement"] as? String { return [one] }
        return []
    }

    // MARK: - HTTP

    struct FetchError: Error, CustomStringConvertible {
        var description: String
    }

    func fetchJSONObject(_ url: String, bearer: String?) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        if let bearer { request.headers.add(name: "Authorization", value: "Bearer \(bearer)") }
        let response = try await client.execute(request, timeout: .seconds(5))
        guard response.status == .ok else { throw FetchError(description: "\(url): HTTP \(response.status.code)") }
        let body = try await response.body.collect(upTo: Self.maxDocumentBytes)
        guard let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            throw FetchError(description: "\(url): not a JSON object")
        }
        return object
    }
}
