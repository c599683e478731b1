import Foundation
import Logging
import ServiceLifecycle

/// Runs the controller's poll every `interval` seconds until shutdown.
public struct PollerService: Service {
    public let controller: PodController
    public let interval: Double
    public let logger: Logger

    public init(controller: PodController, interval: Double, logger: Logger) {
        self.controller = controller
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        do {
            try await controller.recover()
        } catch {
            logger.error("recovery after restart failed; will retry on the next start", metadata: ["error": "\(error)"])
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await controller.pollOnce()
                try? await Task.sleep(for: .milliseconds(Int(interval * 1000)))
            }
        }
    }
}
