/// `POST /v1/access` (DTE's extension of the plugin API): whether the caller may act on pods of
/// a namespace. It is about the caller only and reveals nothing about pods, so a client that got
/// 404 for a pod can tell "gone" from "not yours to see" (a token of the wrong identity) before
/// it forgets the pod.
public struct AccessQuery: Codable, Sendable, Equatable {
    public var namespace: String

    public init(namespace: String) { self.namespace = namespace }
}

public struct AccessAnswer: Codable, Sendable, Equatable {
    /// The caller as the agent records it (`subject@issuer`, or the local caller).
    public var identity: String
    public var namespace: String
    public var allowed: Bool
    /// What the caller lacks (the entitlements the site requires), when not allowed.
    public var requirement: String?

    public init(identity: String, namespace: String, allowed: Bool, requirement: String?) {
        self.identity = identity
        self.namespace = namespace
        self.allowed = allowed
        self.requirement = requirement
    }
}
