import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The context of one request: who is calling (set by `AuthMiddleware` before any route runs).
public struct AgentRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The verified caller; `Caller.local` when the agent runs without OIDC.
    public var caller: Caller?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        caller = nil
    }
}

/// How callers are authenticated and what they may see: without OIDC everyone reaching the
/// listener (a unix socket or loopback) is the local caller; with OIDC every route but
/// `/healthz` needs a verified bearer token.
public struct AccessControl: Sendable {
    public let verifier: OIDCVerifier?
    public let policy: AccessPolicy

    /// No OIDC: the local caller may do everything.
    public static let local = AccessControl(verifier: nil, policy: AccessPolicy(AccessSettings()))

    public init(verifier: OIDCVerifier?, policy: AccessPolicy) {
        self.verifier = verifier
        self.policy = policy
    }

    /// Which namespaces the caller may see: the rest is answered as if it did not exist.
    public func visibility(_ caller: Caller) -> PodVisibility {
        let policy = self.policy
        return PodVisibility(identity: caller.identity) { policy.mayUse(namespace: $0, caller) }
    }
}

/// The namespaces one caller may see and act on.
public struct PodVisibility: Sendable {
    public let identity: String
    public let allows: @Sendable (String) -> Bool

    public init(identity: String, allows: @escaping @Sendable (String) -> Bool) {
        self.identity = identity
        self.allows = allows
    }

    /// Everything (the agent's own use and tests).
    public static let all = PodVisibility(identity: Caller.local.identity) { _ in true }
    /// Nothing (a request no caller was verified for).
    public static let none = PodVisibility(identity: "") { _ in false }
}

/// Authenticates every request but `/healthz`; answers 401 (RFC 6750 `WWW-Authenticate`) for a
/// missing or invalid token, 403 for a valid token without the agent's entitlement, 503 when the
/// issuer cannot be asked for its keys.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = AgentRequestContext
    let access: AccessControl
    let logger: Logger

    static let publicPaths: Set<String> = ["/healthz"]

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if Self.publicPaths.contains(request.uri.path) { return try await next(request, context) }
        guard let verifier = access.verifier else {
            context.caller = .local
            return try await next(request, context)
        }
        let caller: Caller
        do {
            guard let token = Self.bearerToken(request.headers[.authorization]) else {
                throw AuthFailure(.invalidRequest, "a bearer token is required (Authorization: Bearer <token>)")
            }
            // a token seen before is answered without a hop onto the verifier's actor
            if let known = verifier.cached(token) { caller = known } else { caller = try await verifier.verify(token) }
        } catch let failure as AuthFailure {
            logger.notice("request refused", metadata: ["path": "\(request.uri.path)", "reason": "\(failure.reason)"])
            return Self.refusal(failure)
        }
        guard access.policy.mayUseAgent(caller) else {
            logger.notice("request refused: not entitled", metadata: ["path": "\(request.uri.path)", "caller": "\(caller.identity)"])
            return Self.refusal(AuthFailure(.insufficientScope,
                                            "the token does not carry the entitlement this site requires: \(access.policy.requirement(namespace: nil))"))
        }
        context.caller = caller
        return try await next(request, context)
    }

    /// The token of `Bearer <token>` (scheme case-insensitive; spaces before the scheme, spaces
    /// or tabs around the token ignored), nil when absent or malformed. Every request but
    /// `/healthz` passes here, so it works on the header's bytes (Foundation's trimming bridges
    /// the whole header to UTF-16 and back, a tenth of a cached request's cost).
    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let bytes = header.utf8[...]
        guard bytes.count <= OIDCVerifier.maxTokenBytes + 16 else { return nil }
        let space: UInt8 = 0x20, tab: UInt8 = 0x09
        let rest = bytes.drop(while: { $0 == space })
        let scheme = rest.prefix(while: { $0 != space })
        // `| 0x20` folds the case of a letter and maps no other byte onto one of "bearer"'s letters
        guard scheme.count == 6, zip(scheme, "bearer".utf8).allSatisfy({ $0 | 0x20 == $1 }) else { return nil }
        var token = rest[scheme.endIndex...].drop(while: { $0 == space || $0 == tab })
        while let last = token.last, last == space || last == tab { token = token.dropLast() }
        return token.isEmpty ? nil : String(decoding: token, as: UTF8.self)
    }

    static func refusal(_ failure: AuthFailure) -> Response {
        let status: HTTPResponse.Status
        var headers: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
        let description = failure.reason.replacingOccurrences(of: "\\", with: "").replacingOccurrences(of: "\"", with: "'")
        switch failure.kind {
        case .invalidRequest, .invalidToken:
            status = .unauthorized
            headers[.wwwAuthenticate] = "Bearer realm=\"dte-agent\", error=\"\(failure.kind.rawValue)\", error_description=\"\(description)\""
        case .insufficientScope:
            status = .forbidden
            headers[.wwwAuthenticate] = "Bearer realm=\"dte-agent\", error=\"insufficient_scope\", error_description=\"\(description)\""
        case .issuerUnavailable:
            status = .serviceUnavailable
            headers[.retryAfter] = "5"
        }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: failure.reason + "\n")))
    }
}

extension AgentRequestContext {
    /// What the caller may see (nothing when no caller was verified).
    func visibility(_ access: AccessControl) -> PodVisibility {
        guard let caller else { return .none }
        return access.visibility(caller)
    }
}
