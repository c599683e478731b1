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
        return withoutActuallyEscaping(transform) { transform in
            parallelSlots(count: count, workers: workers) { _, part, slot in
                for i in part { slot(i, transform(self[i])) }
            }
        }
    }
}

/// The engine of the parallel maps: `count` slots cut into one contiguous part per worker; each
/// worker fills every slot of its part (`slot(i, value)`, exactly once per slot) on its own
/// thread, and the non-nil values are moved (not copied: a copy of a large value retains each of
/// its fields) into the answer in slot order.
public func parallelSlots<T: Sendable>(count n: Int, workers: Int,
                                       _ work: @Sendable (_ worker: Int, _ part: Range<Int>, _ slot: (Int, consuming T?) -> Void) -> Void) -> [T] {
    guard n > 0 else { return [] }
    let workers = Swift.max(1, Swift.min(workers, n))
    let chunk = (n + workers - 1) / workers
    // every slot is initialised exactly once, by the worker of its part, before it is read
    nonisolated(unsafe) let slots = UnsafeMutablePointer<T?>.allocate(capacity: n)
    defer { slots.deallocate() }
    DispatchQueue.concurrentPerform(iterations: workers) { w in
        let part = Swift.min(n, w * chunk)..<Swift.min(n, (w + 1) * chunk)
        work(w, part) { i, value in
            precondition(part.contains(i), "a worker fills only the slots of its part")
            (slots + i).initialize(to: consume value)
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

/// Destroys `value` on a background thread: a large tree (a repository's parsed files, tens of
/// thousands of nodes) takes milliseconds to free, which its last user need not wait for. (Should
/// the background thread be done first, the caller frees it, as without this.)
public func releaseInBackground<T: Sendable>(_ value: consuming T) {
    let box = ReleaseBox(value)
    DispatchQueue.global(qos: .utility).async { withExtendedLifetime(box) {} }
}

private final class ReleaseBox<T: Sendable>: Sendable {
    let value: T
    init(_ value: consuming T) { self.value = value }
}
