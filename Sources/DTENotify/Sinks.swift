import AsyncHTTPClient
import Crypto
import Foundation

/// A generic webhook: the event as JSON, signed with HMAC-SHA256 of the body under a shared
/// secret, in `X-DTE-Signature: sha256=<hex>` (the scheme GitHub's webhooks use, so receivers
/// can check it the same way).
public struct WebhookSink: NotificationSink {
    public static let signatureHeader = "X-DTE-Signature"

    public var url: String
    public var secret: SecretFile
    var poster: JSONPoster
    public var name: String { "webhook \(JSONPoster.origin(url))" }

    public init(url: String, secret: SecretFile, client: HTTPClient = .shared, policy: RetryPolicy = RetryPolicy()) {
        self.url = url
        self.secret = secret
        poster = JSONPoster(client: client, policy: policy, sink: "webhook \(JSONPoster.origin(url))")
    }

    /// `sha256=` and the hex HMAC-SHA256 of `body` under `key`.
    public static func signature(of body: Data, key: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: key))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    public func send(_ event: NotificationEvent) async throws(NotifyError) {
        let key: [UInt8]
        do throws(NotifyError) { key = try secret.read(what: "webhook secret") } catch { throw NotifyError("\(name): \(error.message)") }
        let body = event.jsonBody()
        try await poster.post(url, body: body, headers: [(Self.signatureHeader, Self.signature(of: body, key: key)), ("X-DTE-Event", "reconcile")])
    }
}

/// A commit status on GitHub: `POST {api}/repos/{owner}/{repo}/statuses/{sha}`.
public struct GitHubStatusSink: NotificationSink {
    public static let maxDescription = 140

    public var api: String
    public var repository: String
    public var token: SecretFile
    public var context: String
    public var targetURL: String?
    var poster: JSONPoster
    public var name: String { "github \(repository)" }

    public init(api: String, repository: String, token: SecretFile, context: String = "dte", targetURL: String? = nil,
                client: HTTPClient = .shared, policy: RetryPolicy = RetryPolicy()) {
        self.api = api.hasSuffix("/") ? String(api.dropLast()) : api
        self.repository = repository
        self.token = token
        self.context = context
        self.targetURL = targetURL
        poster = JSONPoster(client: client, policy: policy, sink: "github \(repository)")
    }

    /// GitHub's states: pending, success, failure, error (running is pending there).
    public static func state(_ r: NotificationEvent.Result) -> String {
        switch r {
        case .pending, .running: return "pending"
        case .success: return "success"
        case .failure: return "failure"
        case .error: return "error"
        }
    }

    /// The request body GitHub documents for a commit status.
    public func payload(_ event: NotificationEvent) -> [String: String] {
        var p = ["state": Self.state(event.result), "description": clipped(event.summary, to: Self.maxDescription), "context": context]
        if let u = targetURL ?? event.detailsURL { p["target_url"] = u }
        return p
    }

    public func send(_ event: NotificationEvent) async throws(NotifyError) {
        guard event.revisionIsCommitSHA else { throw NotifyError("\(name): revision \"\(clipped(event.revision, to: 80))\" is not a commit SHA") }
        let t: String
        do throws(NotifyError) { t = try token.readToken(what: "GitHub token") } catch { throw NotifyError("\(name): \(error.message)") }
        try await poster.post("\(api)/repos/\(repository)/statuses/\(event.revision)", body: jsonObject(payload(event)), headers: [
            ("Authorization", "Bearer \(t)"), ("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", "2022-11-28"),
        ])
    }
}

/// A commit status on GitLab: `POST {api}/projects/{id}/statuses/{sha}` (a project path is URL-encoded, as GitLab asks).
public struct GitLabStatusSink: NotificationSink {
    public static let maxDescription = 255

    public var api: String
    public var project: String
    public var token: SecretFile
    public var context: String
    public var targetURL: String?
    var poster: JSONPoster
    public var name: String { "gitlab \(project)" }

    public init(api: String, project: String, token: SecretFile, context: String = "dte", targetURL: String? = nil,
                client: HTTPClient = .shared, policy: RetryPolicy = RetryPolicy()) {
        self.api = api.hasSuffix("/") ? String(api.dropLast()) : api
        self.project = project
        self.token = token
        self.context = context
        self.targetURL = targetURL
        poster = JSONPoster(client: client, policy: policy, sink: "gitlab \(project)")
    }

    /// GitLab's states: pending, running, success, failed, canceled (a stalled revision is failed).
    public static func state(_ r: NotificationEvent.Result) -> String {
        switch r {
        case .pending: return "pending"
        case .running: return "running"
        case .success: return "success"
        case .failure, .error: return "failed"
        }
    }

    public func payload(_ event: NotificationEvent) -> [String: String] {
        var p = ["state": Self.state(event.result), "description": clipped(event.summary, to: Self.maxDescription), "name": context]
        if let u = targetURL ?? event.detailsURL { p["target_url"] = u }
        return p
    }

    /// The project id as it goes in the path: digits as they are, a path with `/` as `%2F`.
    var projectInPath: String {
        project.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")) ?? project
    }

    public func send(_ event: NotificationEvent) async throws(NotifyError) {
        guard event.revisionIsCommitSHA else { throw NotifyError("\(name): revision \"\(clipped(event.revision, to: 80))\" is not a commit SHA") }
        let t: String
        do throws(NotifyError) { t = try token.readToken(what: "GitLab token") } catch { throw NotifyError("\(name): \(error.message)") }
        try await poster.post("\(api)/projects/\(projectInPath)/statuses/\(event.revision)", body: jsonObject(payload(event)),
                              headers: [("PRIVATE-TOKEN", t)])
    }
}

func jsonObject(_ fields: [String: String]) -> Data {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return (try? e.encode(fields)) ?? Data("{}".utf8)
}
