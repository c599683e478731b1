import Synchronization
import XCTest
@testable import DTEModel

/// `parallelCompactMap` moves its results out of a shared buffer: the order, the dropped nils
/// and every value's lifetime must be what `compactMap` gives.
final class ParallelMapTests: XCTestCase {
    /// Counts the values alive, so a value copied without being freed (or freed twice) shows.
    final class Tracked: Sendable {
        static let alive = Atomic<Int>(0)
        let n: Int
        init(_ n: Int) {
            self.n = n
            Self.alive.add(1, ordering: .relaxed)
        }
        deinit { Self.alive.subtract(1, ordering: .relaxed) }
    }

    func testLargeArraysKeepTheOrderDropTheNilsAndFreeEveryValueOnce() {
        let input = Array(0..<25_001)
        let before = Tracked.alive.load(ordering: .relaxed)
        do {
            let mapped = input.parallelCompactMap { i -> Tracked? in i % 7 == 3 ? nil : Tracked(i) }
            XCTAssertEqual(mapped.map(\.n), input.filter { $0 % 7 != 3 })
            XCTAssertEqual(Tracked.alive.load(ordering: .relaxed) - before, mapped.count, "only the kept values are alive")
        }
        XCTAssertEqual(Tracked.alive.load(ordering: .relaxed), before, "every value freed once the answer is")
    }

    func testSmallAndEmptyArraysAreMappedInPlace() {
        XCTAssertEqual([Int]().parallelCompactMap { $0 }, [])
        XCTAssertEqual([1, 2, 3].parallelCompactMap { $0 == 2 ? nil : $0 * 10 }, [10, 30])
        XCTAssertEqual(Array(0..<5_000).parallelCompactMap { _ in Int?.none }, [])
    }
}
