import DTEEngine
import Foundation
import Logging
import ServiceLifecycle

/// `dte reconcile --watch`: a tick, then a pause of the interval (doubled for each failed tick in
/// a row, capped), until a graceful shutdown (SIGTERM, SIGINT). A shutdown interrupts the pause
/// at once; a tick under way is finished (the service group cancels it when it runs past its
/// grace period, and the engine then releases the state's lock).
public struct ReconcileService: Service {
    public var reconciler: Reconciler
    public var backoff: Backoff
    /// The first tick applies a failed revision again (`--retry`).
    public var retryFirst: Bool

    public init(reconciler: Reconciler, backoff: Backoff, retryFirst: Bool = false) {
        self.reconciler = reconciler
        self.backoff = backoff
        self.retryFirst = retryFirst
    }

    public func run() async throws {
        var retry = retryFirst
        let clock = reconciler.clock
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let status: ReconcileStatus
            do {
                status = try await reconciler.tick(retry: retry).1
            } catch is CancellationError {
                reconciler.logger.notice("reconcile tick abandoned at shutdown")
                return
            }
            retry = false
            let delay = backoff.delay(failures: status.consecutiveFailures)
            if status.consecutiveFailures > 0 {
                reconciler.logger.notice("backing off after failed ticks", metadata: ["failures": "\(status.consecutiveFailures)", "next_in_seconds": "\(Int(delay))"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await clock.sleep(seconds: delay) }
            } catch {
                break
            }
        }
        reconciler.logger.info("reconcile loop stopped")
    }
}
