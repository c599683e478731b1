import Foundation
import Synchronization

extension Array where Element: Sendable {
    /// `compactMap` over all cores once the array is large enough to pay for the threads: the
    /// array is cut into one contiguous part per core, each part mapped on its own thread, the
    /// results joined in the original order. `transform` must not depend on the order it runs in.
    public func parallelCompactMap<T: Sendable>(minimumCount: Int = 2_000, _ transform: @Sendable (Element) -> T?) -> [T] {
        let workers = count >= minimumCount ? Swift.max(1, ProcessInfo.processInfo.activeProcessorCount) : 1
        guard workers > 1, #available(macOS 15, *) else { return compactMap(transform) }
        let chunk = (count + workers - 1) / workers
        let parts = Mutex([[T]](repeating: [], count: workers))
        DispatchQueue.concurrentPerform(iterations: workers) { i in
            let mapped = self[Swift.min(count, i * chunk)..<Swift.min(count, (i + 1) * chunk)].compactMap(transform)
            parts.withLock { $0[i] = mapped }
        }
        return parts.withLock { $0 }.flatMap { $0 }
    }
}
