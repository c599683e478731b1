import XCTest
@testable import DTEModel

final class ValueTests: XCTestCase {
    func testScalarUnitsNormaliseToTheBaseUnit() throws {
        let gb = try XCTUnwrap(ScalarUnit.parse("32 GB", kind: .size))
        XCTAssertEqual(gb.base, 32e9)
        let gib = try XCTUnwrap(ScalarUnit.parse("1 GiB", kind: .size))
        XCTAssertEqual(gib.base, 1_073_741_824)
        XCTAssertEqual(ScalarUnit.parse("2 h", kind: .time)?.base, 7200)
        XCTAssertEqual(ScalarUnit.parse("500 ms", kind: .time)?.base, 0.5)
        XCTAssertEqual(ScalarUnit.parse("2.4 GHz", kind: .frequency)?.base, 2.4e9)
        XCTAssertEqual(ScalarUnit.parse("10 Gbps", kind: .bitrate)?.base, 1e10)
        XCTAssertEqual(ScalarUnit.parse("1 KBps", kind: .bitrate)?.base, 8000, "bytes per second are 8 bits")
        XCTAssertEqual(ScalarUnit.parse("4gb", kind: .size)?.unit, "GB", "units are case-insensitive")
    }

    func testMalformedScalarUnitsAreRejected() {
        for bad in ["32 GBB", "GB", "32", "thirty GB", "32 h", "1 bps x"] {
            XCTAssertNil(ScalarUnit.parse(bad, kind: .size), bad)
        }
        XCTAssertNil(ScalarUnit.parse("3 GB", kind: .time))
    }

    func testVersionsCompareByTheirParts() throws {
        let a = try XCTUnwrap(TOSCAVersion.parse("1.4"))
        let b = try XCTUnwrap(TOSCAVersion.parse("1.10.0"))
        XCTAssertLessThan(a, b)
        XCTAssertNotNil(TOSCAVersion.parse("2.0.1.beta-3"))
        XCTAssertNil(TOSCAVersion.parse("1"))
        XCTAssertNil(TOSCAVersion.parse("1.x"))
        XCTAssertNil(TOSCAVersion.parse("1.0-3"), "a build number needs a qualifier")
    }

    func testTimestampsAcceptISO8601AndYAMLForms() throws {
        let a = try XCTUnwrap(TOSCATimestamp.parse("2026-11-25T17:40:45.123456789Z"))
        let b = try XCTUnwrap(TOSCATimestamp.parse("2026-11-25 18:40:45 +01:00"))
        XCTAssertEqual(a.seconds.rounded(), b.seconds.rounded())
        XCTAssertNotNil(TOSCATimestamp.parse("2026-11-25"))
        XCTAssertNil(TOSCATimestamp.parse("2026-13-01"))
        XCTAssertNil(TOSCATimestamp.parse("yesterday"))
    }

    func testEveryConstraintOperator() throws {
        let gb = { (s: String) in Value.scalar(ScalarUnit.parse(s, kind: .size)!) }
        XCTAssertTrue(Constraint.equal(gb("1 GB")).isSatisfied(by: gb("1000 MB")))
        XCTAssertFalse(Constraint.greaterThan(.integer(1)).isSatisfied(by: .integer(1)))
        XCTAssertTrue(Constraint.greaterOrEqual(.integer(1)).isSatisfied(by: .integer(1)))
        XCTAssertTrue(Constraint.lessThan(.float(2.5)).isSatisfied(by: .integer(2)))
        XCTAssertFalse(Constraint.lessOrEqual(gb("1 GB")).isSatisfied(by: gb("1 GiB")))
        XCTAssertTrue(Constraint.inRange(.integer(1), .integer(8)).isSatisfied(by: .integer(8)))
        XCTAssertFalse(Constraint.inRange(.integer(1), .integer(8)).isSatisfied(by: .integer(9)))
        XCTAssertTrue(Constraint.validValues([.string("a"), .string("b")]).isSatisfied(by: .string("b")))
        XCTAssertFalse(Constraint.validValues([.string("a")]).isSatisfied(by: .string("c")))
        XCTAssertTrue(Constraint.length(3).isSatisfied(by: .string("abc")))
        XCTAssertTrue(Constraint.minLength(1).isSatisfied(by: .list([.integer(1)])))
        XCTAssertFalse(Constraint.maxLength(1).isSatisfied(by: .map([.init(key: "a", value: .null), .init(key: "b", value: .null)])))
        let p = try XCTUnwrap(Pattern("[a-z]+"))
        XCTAssertTrue(Constraint.pattern(p).isSatisfied(by: .string("abc")))
        XCTAssertFalse(Constraint.pattern(p).isSatisfied(by: .string("abc1")), "the whole value must match")
        XCTAssertTrue(Constraint.greaterThan(.integer(1)).isSatisfied(by: .function(.getAttribute(["x", "y"]))),
                      "symbolic values are checked at apply time")
    }

    func testClosestMatchSuggestsNearNamesOnly() {
        XCTAssertEqual(closestMatch(to: "memroy", in: ["memory", "cpus"]), "memory")
        XCTAssertNil(closestMatch(to: "zzz", in: ["memory", "cpus"]))
    }
}
