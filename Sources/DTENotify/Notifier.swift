import AsyncHTTPClient
import DTECompiler
import Foundation

/// Sends each event to every configured sink at once and reports what did not arrive; it never
/// throws, so a broken webhook cannot stop a reconcile.
public struct Notifier: Sendable {
    public struct Delivery: Sendable, Hashable {
        public var sink: String
        /// nil: delivered.
        public var failure: String?
    }

    public var sinks: [any NotificationSink]

    public init(sinks: [any NotificationSink]) {
        self.sinks = sinks
    }

    /// The sinks dte.yaml's `notifications:` list names; secret and token files are relative to `root`.
    public init(settings: [RepositoryConfig.NotificationSetting], root: String, client: HTTPClient = .shared,
                policy: (RepositoryConfig.NotificationSetting) -> RetryPolicy = { RetryPolicy(attempts: $0.attempts) }) {
        sinks = settings.map { s -> any NotificationSink in
            switch s.kind {
            case .webhook:
                return WebhookSink(url: s.url, secret: SecretFile(s.secretFile ?? "", root: root), client: client, policy: policy(s))
            case .github:
                return GitHubStatusSink(api: s.url, repository: s.repository ?? "", token: SecretFile(s.tokenFile ?? "", root: root),
                                        context: s.context, targetURL: s.targetURL, client: client, policy: policy(s))
            case .gitlab:
                return GitLabStatusSink(api: s.url, project: s.project ?? "", token: SecretFile(s.tokenFile ?? "", root: root),
                                        context: s.context, targetURL: s.targetURL, client: client, policy: policy(s))
            }
        }
    }

    /// One entry per sink, in the configured order.
    public func notify(_ event: NotificationEvent) async -> [Delivery] {
        await withTaskGroup(of: (Int, String?).self) { group in
            for (i, sink) in sinks.enumerated() {
                group.addTask {
                    do throws(NotifyError) {
                        try await sink.send(event)
                        return (i, nil)
                    } catch {
                        return (i, error.message)
                    }
                }
            }
            var out = sinks.map { Delivery(sink: $0.name, failure: nil) }
            for await (i, failure) in group { out[i].failure = failure }
            return out
        }
    }
}
