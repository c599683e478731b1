import Foundation

/// Who may call the agent: the OIDC issuers it trusts, the audience tokens must name, and the
/// entitlements a caller needs (for the agent, and in addition for a namespace).
public struct AccessSettings: Sendable, Hashable {
    /// Issuer URLs, matched exactly against a token's `iss` (no OIDC when empty).
    public var issuers: [String] = []
    /// What a token's `aud` must contain.
    public var audience: String?
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
    public var leewaySeconds: Int = 60
    /// A caller must hold one of these (any valid token when empty).
    public var entitlements: [String] = []
    /// Namespace → entitlements of which a caller must hold one, in addition to `entitlements`.
    public var namespaceEntitlements: [String: [String]] = [:]
    /// The most pods one identity may have at once (nil: only `max-pods`).
    public var maxPodsPerIdentity: Int?
    /// The least time between two key refreshes of one issuer (an unknown `kid` asks again).
    public var keyRefreshSeconds: Int = 60

    public init() {}

    public var enabled: Bool { !issuers.isEmpty }

    /// Checks the settings; the message names the setting to fix.
    public func validate() throws(AgentError) {
        for issuer in issuers {
            guard let url = URL(string: issuer), let scheme = url.scheme, let host = url.host, !host.isEmpty else {
                throw AgentError(.badRequest, "oidc-issuer '\(issuer)' is not a URL")
            }
            guard scheme == "https" || (scheme == "http" && Self.isLoopback(host)) else {
                throw AgentError(.badRequest, "oidc-issuer '\(issuer)' must use https (http only on loopback)")
            }
        }
        if enabled, (audience ?? "").isEmpty {
            throw AgentError(.badRequest, "oidc-audience is required with oidc-issuer: tokens issued for other services must not be accepted here")
        }
        if !enabled, !entitlements.isEmpty || !namespaceEntitlements.isEmpty {
            throw AgentError(.badRequest, "entitlement and namespace-entitlement need an oidc-issuer to check them against")
        }
        guard (0...3600).contains(leewaySeconds) else { throw AgentError(.badRequest, "oidc-leeway must be 0 to 3600 seconds") }
        guard (1...86_400).contains(keyRefreshSeconds) else {
            throw AgentError(.badRequest, "oidc-key-refresh must be 1 to 86400 seconds")
        }
        for text in entitlements + namespaceEntitlements.values.flatMap({ $0 }) where Entitlement(text) == nil {
            throw AgentError(.badRequest, "'\(text)' is not an entitlement (e.g. urn:mace:egi.eu:group:vo.example.org:role=member#aai.egi.eu)")
        }
        for namespace in namespaceEntitlements.keys where !PodValidation.isDNSLabel(namespace) {
            throw AgentError(.badRequest, "namespace-entitlement: '\(namespace)' is not a namespace (a DNS-1123 label)")
        }
        if let limit = maxPodsPerIdentity, limit < 1 {
            throw AgentError(.badRequest, "max-pods-per-identity must be positive")
        }
    }

    /// Parses `NS=URN` (the flag's and the config file's form).
    public mutating func addNamespaceEntitlement(_ text: String) throws(AgentError) {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw AgentError(.badRequest, "namespace-entitlement takes NAMESPACE=URN, not '\(text)'")
        }
        namespaceEntitlements[parts[0], default: []].append(parts[1])
    }

    /// `localhost`, 127.0.0.0/8 and ::1.
    public static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare == "localhost" || bare == "::1" { return true }
        let octets = bare.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}

/// Who is calling: the identity a verified token names (or the local caller when the agent
/// runs without OIDC) and the entitlements it holds.
public struct Caller: Sendable, Hashable {
    /// The token's issuer; nil for the local caller (no OIDC configured).
    public var issuer: String?
    /// `voperson_id`, else `sub`.
    public var subject: String
    public var entitlements: [Entitlement]
    /// When the token stops being valid (seconds since 1970); nil for the local caller.
    public var expiresAt: Double?

    public init(issuer: String?, subject: String, entitlements: [Entitlement], expiresAt: Double?) {
        self.issuer = issuer
        self.subject = subject
        self.entitlements = entitlements
        self.expiresAt = expiresAt
    }

    /// The caller of an agent without OIDC (reachable only on a unix socket or loopback).
    public static let local = Caller(issuer: nil, subject: "local", entitlements: [], expiresAt: nil)

    /// One text per identity, for limits and records: `subject` at `issuer`.
    public var identity: String { issuer.map { "\(subject)@\($0)" } ?? subject }
}

/// Decides what a caller may do, from the access settings.
public struct AccessPolicy: Sendable {
    public let settings: AccessSettings
    private let global: [Entitlement]
    private let perNamespace: [String: [Entitlement]]

    public init(_ settings: AccessSettings) {
        self.settings = settings
        global = settings.entitlements.compactMap(Entitlement.init)
        perNamespace = settings.namespaceEntitlements.mapValues { $0.compactMap(Entitlement.init) }
    }

    /// Whether entitlements matter at all (else no UserInfo lookup is needed).
    public var needsEntitlements: Bool { !global.isEmpty || !perNamespace.isEmpty }

    /// Whether the caller may use the agent at all.
    public func mayUseAgent(_ caller: Caller) -> Bool {
        caller.issuer == nil || Entitlement.anySatisfies(caller.entitlements, global)
    }

    /// Whether the caller may see and act on pods of `namespace`.
    public func mayUse(namespace: String, _ caller: Caller) -> Bool {
        guard caller.issuer != nil else { return true }
        return mayUseAgent(caller) && Entitlement.anySatisfies(caller.entitlements, perNamespace[namespace] ?? [])
    }

    /// What the agent requires, for a 403's message.
    public func requirement(namespace: String?) -> String {
        var parts: [String] = []
        if !global.isEmpty { parts.append("one of " + global.map(\.description).joined(separator: ", ")) }
        if let namespace, let extra = perNamespace[namespace], !extra.isEmpty {
            parts.append("for namespace \(namespace) one of " + extra.map(\.description).joined(separator: ", "))
        }
        return parts.isEmpty ? "a valid token" : parts.joined(separator: "; and ")
    }
}
