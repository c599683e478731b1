import Foundation

/// The engine's time: when things happen (history, intents, leases) and how it waits (heartbeats,
/// retries, polls of another site). Tests give a fast one.
public protocol EngineClock: Sendable {
    var now: Date { get }
    /// Waits `seconds`; throws `CancellationError` when the task is cancelled meanwhile.
    func sleep(seconds: TimeInterval) async throws
}

/// Wall-clock time.
public struct SystemClock: EngineClock {
    public init() {}
    public var now: Date { Date() }
    public func sleep(seconds: TimeInterval) async throws {
        // bounded: a negative, NaN or absurd value never traps the conversion
        let s = seconds.isFinite ? min(max(seconds, 0), 86_400 * 30) : 0
        try await Task.sleep(nanoseconds: UInt64(s * 1e9))
    }
}

/// How a call that got no answer (`ProviderError.Kind.unreachable`) is made again: up to
/// `attempts` calls in all, waiting `initialDelay` seconds after the first, doubling up to
/// `maxDelay`. A refusal (any other kind) is never retried.
public struct RetryPolicy: Sendable, Hashable {
    public var attempts: Int
    public var initialDelay: TimeInterval
    public var maxDelay: TimeInterval

    public init(attempts: Int = 4, initialDelay: TimeInterval = 1, maxDelay: TimeInterval = 8) {
        self.attempts = max(1, min(attempts, 100))
        self.initialDelay = max(0, initialDelay)
        self.maxDelay = max(self.initialDelay, maxDelay)
    }

    /// The wait after failed attempt `n` (1-based).
    public func delay(after n: Int) -> TimeInterval {
        var d = initialDelay
        for _ in 1..<max(1, min(n, 64)) { d = min(d * 2, maxDelay) }
        return min(d, maxDelay)
    }
}
