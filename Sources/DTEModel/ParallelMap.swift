import Foundation

extension Array where Element: Sendable {
    /// `compactMap` over all cores once the array is large enough to pay for the threads: the
    /// array is cut into one contiguous part per core, each part mapped on its own thread
    /// straight into its slots of one buffer, and the results moved (not copied: a copy of a
    /// large value retains each of its fields) into the answer in the original order.
    /// `transform` must not depend on the order it runs in.
    public func parallelCompactMap<T: Sendable>(minimumCount: Int = 2_000, _ transform: @Sendable (Element) -> T?) -> [T] {
        let workers = count >= minimumCount ? Swift.max(1, ProcessInfo.processInfo.activeProcessorCount) : 1
        guard workers > 1 else { return compactMap(transform) }
        let n = count
        let chunk = (n + workers - 1) / workers
        // every slot is initialised exactly once, by the worker of its part, before it is read
        nonisolated(unsafe) let slots = UnsafeMutablePointer<T?>.allocate(capacity: n)
        defer { slots.deallocate() }
        withoutActuallyEscaping(transform) { transform in
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                for i in Swift.min(n, w * chunk)..<Swift.min(n, (w + 1) * chunk) {
                    (slots + i).initialize(to: transform(self[i]))
                }
            }
        }
        return [T](unsafeUninitializedCapacity: n) { out, initialized in
            var k = 0
            for i in 0..<n {
                // each slot is moved out once: into the answer, or dropped when nil
                if let value = (slots + i).move() {
                    (out.baseAddress! + k).initialize(to: value)
                    k += 1
                }
            }
            initialized = k
        }
    }
}
