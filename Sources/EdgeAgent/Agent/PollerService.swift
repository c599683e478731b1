import Foundation
import Logging
import ServiceLifecycle

/// Runs the controller's poll every `interval` seconds until shutdown. Each poll also settles
/// creates left unconfirmed (by a restart or an unreachable Slurm), so recovery is retried
/// until it succeeds rather than once at start.
public struct PollerService: Service {
    /// The pause after a poll: `interval`, or three times as long as the poll took when
    /// slurmctld is slow to answer, so the agent keeps it busy at most a quarter of the time
    /// (and holds libslurm's answer, about 2.5 KB per job, for at most as long).
    public static func pause(interval: Double, lastPoll: Double) -> Double {
        max(interval, 3 * lastPoll)
    }

    public let controller: PodController
    public let interval: Double
    public let logger: Logger

    public init(controller: PodController, interval: Double, logger: Logger) {
        self.controller = controller
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await controller.pollOnce()
                let took = await controller.metricCounters().0.lastPollSeconds
                try? await Task.sleep(for: .milliseconds(Int(Self.pause(interval: interval, lastPoll: took) * 1000)))
            }
        }
    }
}
