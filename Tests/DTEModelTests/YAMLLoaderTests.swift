import XCTest
@testable import DTEModel

final class YAMLLoaderTests: XCTestCase {
    func load(_ text: String) -> YAMLLoader.Result {
        YAMLLoader.load(string: text, file: "t.yaml")
    }

    func testMarksAreOneBasedLineAndColumn() throws {
        let r = load("a: 1\nb:\n  c: [x, \"y\"]\n")
        XCTAssertTrue(r.diagnostics.isEmpty)
        let root = try XCTUnwrap(r.root)
        XCTAssertEqual(root.entry("a")?.keyMark, Mark(line: 1, column: 1))
        let c = try XCTUnwrap(root["b"]?["c"])
        XCTAssertEqual(c.mark, Mark(line: 3, column: 6))
        XCTAssertEqual(c.items?[1].mark, Mark(line: 3, column: 10))
        XCTAssertEqual(c.items?[1].scalar?.style, .doubleQuoted)
    }

    func testDuplicateKeyIsAnErrorAtTheSecondKey() {
        let r = load("a: 1\nb: 2\na: 3\n")
        XCTAssertEqual(r.diagnostics.map(\.code), ["yaml-duplicate-key"])
        XCTAssertEqual(r.diagnostics.first?.line, 3)
        XCTAssertTrue(r.diagnostics.first?.message.contains("first defined at line 1") ?? false)
        XCTAssertEqual(r.root?["a"]?.string, "1", "the first value is kept")
    }

    func testDuplicateKeyInALargeMapIsFound() {
        var text = ""
        for i in 0..<100 { text += "k\(i): \(i)\n" }
        text += "k42: again\n"
        let r = load(text)
        XCTAssertEqual(r.diagnostics.map(\.code), ["yaml-duplicate-key"])
        XCTAssertEqual(r.diagnostics.first?.line, 101)
        XCTAssertEqual(r.root?.entries?.count, 100)
    }

    func testSyntaxErrorReportsWhereAndStops() {
        let r = load("a: 1\n b: 2\nc: [\n")
        XCTAssertEqual(r.diagnostics.first?.code, "yaml-syntax")
        XCTAssertEqual(r.diagnostics.first?.line, 2)
        XCTAssertNil(r.root)
    }

    func testAnchorsAliasesAndMergeKeys() throws {
        let r = load("""
        base: &b { cpus: 2, memory: 4 GB }
        job:
          <<: *b
          cpus: 8
        copy: *b
        """)
        XCTAssertTrue(r.diagnostics.isEmpty, "\(r.diagnostics)")
        let root = try XCTUnwrap(r.root)
        XCTAssertEqual(root["job"]?["cpus"]?.string, "8", "explicit keys win over merged ones")
        XCTAssertEqual(root["job"]?["memory"]?.string, "4 GB")
        XCTAssertEqual(root["copy"]?["cpus"]?.string, "2")
    }

    func testUnknownAliasIsReported() {
        let r = load("a: *nope\n")
        XCTAssertEqual(r.diagnostics.map(\.code), ["yaml-unknown-alias"])
    }

    /// Hostile nesting (a pull request CI validates): refused where it goes too deep, no crash.
    func testNestingTooDeepIsRefusedWhereItStarts() {
        let deep = "a: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n"
        let r = load(deep)
        XCTAssertNil(r.root)
        XCTAssertEqual(r.diagnostics.map(\.code), ["yaml-too-deep"])
        XCTAssertEqual(r.diagnostics.first?.line, 1)
        XCTAssertEqual(r.diagnostics.first?.column, 3 + 256, "at the 256th bracket: with the root map, the 257th level")
        // as deep as allowed still loads
        let fine = "a: " + String(repeating: "[", count: 255) + String(repeating: "]", count: 255) + "\n"
        XCTAssertTrue(load(fine).diagnostics.isEmpty)
        XCTAssertNotNil(load(fine).root)
    }

    /// The "billion laughs": nine levels of ten aliases stand for 10^10 nodes in a few lines.
    func testAnAliasBombIsRefusedAtTheAliasThatMakesItTooLarge() {
        var lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for i in 1..<10 { lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]") }
        let started = Date()
        let r = load(lines.joined(separator: "\n") + "\n")
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "refused while reading, not after expanding")
        XCTAssertNil(r.root)
        XCTAssertEqual(r.diagnostics.map(\.code), ["yaml-alias-expansion"])
        XCTAssertEqual(r.diagnostics.first?.line, 6, "10^6 nodes are reached within a5")
        XCTAssertTrue(r.diagnostics.first?.message.contains("alias *a4") == true, r.diagnostics.first?.message ?? "")
        // the same anchors used a few times are fine
        let modest = "base: &b {cpus: 2, memory: 4 GB}\nx: *b\ny: *b\nz: [*b, *b]\n"
        XCTAssertTrue(load(modest).diagnostics.isEmpty)
    }

    func testAValueLargerThanAMebibyteIsRefusedWhereItStarts() {
        let r = load("a: 1\nb: " + String(repeating: "x", count: (1 << 20) + 1) + "\n")
        XCTAssertNil(r.root)
        XCTAssertEqual(r.diagnostics.map(\.code), ["yaml-scalar-too-large"])
        XCTAssertEqual(r.diagnostics.first?.line, 2)
        XCTAssertTrue(load("b: " + String(repeating: "x", count: 1 << 19) + "\n").diagnostics.isEmpty)
    }

    func testSecondDocumentIsReported() {
        let r = load("a: 1\n---\nb: 2\n")
        XCTAssertEqual(r.diagnostics.map(\.code), ["yaml-multiple-documents"])
        XCTAssertEqual(r.diagnostics.first?.line, 2)
    }

    func testPlainScalarsFollowTheCoreSchema() {
        XCTAssertEqual(PlainScalar.classify("42"), .integer(42))
        XCTAssertEqual(PlainScalar.classify("-7"), .integer(-7))
        XCTAssertEqual(PlainScalar.classify("0x1F"), .integer(31))
        XCTAssertEqual(PlainScalar.classify("1.5"), .float(1.5))
        XCTAssertEqual(PlainScalar.classify("1e3"), .float(1000))
        XCTAssertEqual(PlainScalar.classify("true"), .boolean(true))
        XCTAssertEqual(PlainScalar.classify("False"), .boolean(false))
        XCTAssertEqual(PlainScalar.classify("~"), .null)
        XCTAssertEqual(PlainScalar.classify(""), .null)
        XCTAssertEqual(PlainScalar.classify("yes"), .string, "YAML 1.1 booleans are strings")
        XCTAssertEqual(PlainScalar.classify("1.4.2"), .string)
        XCTAssertEqual(PlainScalar.classify("32 GB"), .string)
        XCTAssertEqual(PlainScalar.classify("e5"), .string)
    }

    func testMultiLineBlockScalarsKeepTheirText() {
        let r = load("pem: |\n  -----BEGIN-----\n  abc\n  -----END-----\n")
        XCTAssertEqual(r.root?["pem"]?.string, "-----BEGIN-----\nabc\n-----END-----\n")
        XCTAssertEqual(r.root?["pem"]?.scalar?.style, .literal)
    }

    // The limits a settings file asks for (the agent reads its config files with this loader).

    func testAliasesAreRefusedWhereTheLimitsSaySo() {
        var limits = YAMLLoader.Limits()
        limits.allowsAliases = false
        for text in ["a: &x 1\nb: *x\n", "a: &m {k: 1}\n", "a:\n  - 1\nb: *nothing\n"] {
            let r = YAMLLoader.load(string: text, file: "s.yaml", limits: limits)
            XCTAssertEqual(r.diagnostics.map(\.code), ["yaml-alias-refused"], text)
            XCTAssertNil(r.root, "nothing is read past the refusal: \(text)")
        }
        XCTAssertEqual(YAMLLoader.load(string: "a: &x 1\nb: *x\n", file: "t.yaml").root?["b"]?.string, "1", "templates keep their aliases")
    }

    func testRepeatedKeysAreKeptForTheReaderWhenAsked() {
        var limits = YAMLLoader.Limits()
        limits.keepsDuplicateKeys = true
        let r = YAMLLoader.load(string: "a: 1\nb: 2\na: 3\n", file: "s.yaml", limits: limits)
        XCTAssertTrue(r.diagnostics.isEmpty, "\(r.diagnostics)")
        XCTAssertEqual(r.root?.entries?.map(\.key), ["a", "b", "a"])
        XCTAssertEqual(r.root?.entries?.map(\.keyMark.line), [1, 2, 3])
    }

    func testDepthAndSizeLimitsAreTheCallersAndLocated() {
        var limits = YAMLLoader.Limits()
        limits.maximumDepth = 3
        let deep = YAMLLoader.load(string: "a:\n  b:\n    c:\n      d: 1\n", file: "s.yaml", limits: limits)
        XCTAssertEqual(deep.diagnostics.map(\.code), ["yaml-too-deep"])
        XCTAssertEqual(deep.diagnostics.first?.line, 4)
        XCTAssertTrue(deep.diagnostics.first?.message.contains("more than 3 levels") ?? false)
        XCTAssertTrue(YAMLLoader.load(string: "a:\n  b:\n    c: 1\n", file: "s.yaml", limits: limits).diagnostics.isEmpty)
        limits = YAMLLoader.Limits()
        limits.maximumExpandedNodes = 10
        let big = YAMLLoader.load(string: "[" + (1...20).map(String.init).joined(separator: ", ") + "]", file: "s.yaml", limits: limits)
        XCTAssertEqual(big.diagnostics.map(\.code), ["yaml-alias-expansion"])
        XCTAssertNil(big.root)
    }
}
