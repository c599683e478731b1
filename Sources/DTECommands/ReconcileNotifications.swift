import DTECompiler
import DTENotify
import DTEReconcile
import Foundation
import Logging

/// The reconcile loop's events as notifications to the sinks of dte.yaml's `notifications:`
/// (docs/notifications.md): sent on results and condition changes only, never on a tick that
/// changed nothing, and a sink that fails is logged, never the loop's failure.
actor ReconcileNotifications {
    let notifier: Notifier
    let repository: String
    let logger: Logger
    private var last: NotificationEvent?

    /// Nil when the repository configures no sink.
    init?(config: RepositoryConfig?, repository: String, logger: Logger) {
        guard let config, !config.notifications.isEmpty else { return nil }
        notifier = Notifier(settings: config.notifications, root: config.root)
        self.repository = repository
        self.logger = logger
    }

    func send(_ event: ReconcileEvent) async {
        let n = Self.event(event, repository: repository)
        guard n.isWorthSending(after: last) else { return }
        last = n
        for delivery in await notifier.notify(n) {
            if let failure = delivery.failure {
                logger.warning("notification not delivered", metadata: ["sink": "\(delivery.sink)", "reason": "\(failure)"])
            } else {
                logger.info("notification delivered", metadata: ["sink": "\(delivery.sink)", "result": "\(n.result.rawValue)"])
            }
        }
    }

    /// The notification for one reconcile event: the tick's result in commit-status words, the
    /// conditions that changed, and one line per twin from its Ready condition.
    static func event(_ e: ReconcileEvent, repository: String) -> NotificationEvent {
        let result: NotificationEvent.Result
        switch ReconcileResult(rawValue: e.record.result) {
        case .applied?, .synced?: result = .success
        case .planned?: result = .pending
        case .failed?, .held?: result = .failure
        case .stalled?, .error?, nil: result = .error
        }
        let changes = e.changes.map { c in
            NotificationEvent.ConditionChange(subject: c.subject, type: c.after.type.rawValue, from: c.before?.status.rawValue,
                                              to: c.after.status.rawValue, reason: c.after.reason, message: c.after.message)
        }
        let twins = e.status.twins.keys.sorted().compactMap { twin -> NotificationEvent.TwinLine? in
            guard let ready = e.status.twins[twin]?.first(where: { $0.type == .ready }) else { return nil }
            let stalled = e.status.twins[twin]?.contains { $0.type == .stalled && $0.status == .yes } == true
            let line: NotificationEvent.Result = ready.status == .yes ? .success : (stalled ? .error : .failure)
            return NotificationEvent.TwinLine(twin: "twin.\(twin)", result: line, message: "\(ready.reason): \(ready.message)")
        }
        return NotificationEvent(repository: repository, revision: e.record.revision ?? "", result: result,
                                 summary: "\(e.record.result): \(e.record.message)", conditions: changes, twins: twins,
                                 occurredAt: e.record.finishedAt)
    }
}
