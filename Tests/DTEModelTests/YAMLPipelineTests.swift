@testable import DTEYAML
import Testing

/// Large files are parsed by libyaml on a thread of its own beside the tree builder: the tree,
/// the marks and every diagnostic must be exactly what the one-thread loader gives, including
/// where a limit or a syntax error stops the load half-way through the stream.
@Suite struct YAMLPipelineTests {
    /// Every node with its kind, marks, style, tag and text, one per line.
    static func dump(_ node: YAMLNode?, _ indent: String = "", into out: inout [String]) {
        guard let node else { return out.append(indent + "nil") }
        switch node {
        case .scalar(let s):
            out.append("\(indent)scalar \(s.mark.line):\(s.mark.column) \(s.style.rawValue) \(s.tag ?? "-") \(s.value.debugDescription)")
        case .mapping(let entries, let mark):
            out.append("\(indent)map \(mark.line):\(mark.column) \(entries.count)")
            for e in entries {
                out.append("\(indent) key \(e.keyMark.line):\(e.keyMark.column) \(e.key.debugDescription)")
                dump(e.value, indent + "  ", into: &out)
            }
        case .sequence(let items, let mark):
            out.append("\(indent)list \(mark.line):\(mark.column) \(items.count)")
            for i in items { dump(i, indent + "  ", into: &out) }
        }
    }

    static func both(_ text: String, strict: Bool = true, limits: YAMLLoader.Limits = .init()) -> (one: YAMLLoader.Result, two: YAMLLoader.Result) {
        let bytes = Array(text.utf8)
        return (YAMLLoader.load(bytes: bytes, file: "big.yaml", strict: strict, limits: limits, pipelined: false),
                YAMLLoader.load(bytes: bytes, file: "big.yaml", strict: strict, limits: limits, pipelined: true))
    }

    static func expectSame(_ r: (one: YAMLLoader.Result, two: YAMLLoader.Result), sourceLocation: SourceLocation = #_sourceLocation) {
        var a: [String] = [], b: [String] = []
        dump(r.one.root, into: &a)
        dump(r.two.root, into: &b)
        #expect(a.count == b.count, sourceLocation: sourceLocation)
        if let i = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            Issue.record("first difference at node line \(i): \(a[i]) vs \(b[i])", sourceLocation: sourceLocation)
        }
        #expect(r.one.diagnostics.count == r.two.diagnostics.count, sourceLocation: sourceLocation)
        if let d = zip(r.one.diagnostics, r.two.diagnostics).first(where: { $0.0 != $0.1 }) {
            Issue.record("first different diagnostic: \(d.0) vs \(d.1)", sourceLocation: sourceLocation)
        }
    }

    /// A twin-like file of `n` node templates (far more than a slot of events), with every
    /// scalar style, tags, anchors, aliases, merge keys and a repeated key.
    static func twin(_ n: Int) -> String {
        var text = "tosca_definitions_version: tosca_simple_yaml_1_3\nbase: &base { cpus: 2, memory: 4 GB }\ntopology_template:\n  node_templates:\n"
        for i in 0..<n {
            text += """
                job\(i):
                  type: dte.nodes.BatchJob
                  properties:
                    <<: *base
                    name: 'job \(i)'
                    note: "line\\n\(i) \\u00e9"
                    count: !!int \(i)
                    flags: [a, b, { c: \(i) }]
                    script: |
                      echo \(i)
                      exit 0
                    text: >
                      folded \(i)
                      words
                    again: \(i)
                    again: \(i + 1)
                  requirements:
                    - after: job\(max(0, i - 1))

            """
        }
        return text
    }

    @Test func aLargeFileGivesTheSameTreeMarksAndWarnings() {
        let text = Self.twin(3_000)
        #expect(text.utf8.count > YAMLLoader.pipelineBytes, "large enough to be pipelined by default")
        let r = Self.both(text, strict: false)
        #expect(r.two.root != nil)
        #expect(r.two.diagnostics.count == 3_000 && r.two.diagnostics.allSatisfy { $0.code == "yaml-duplicate-key" })
        Self.expectSame(r)
    }

    @Test func aStrictLoadStopsNowhereAndReportsTheSameErrors() {
        let r = Self.both(Self.twin(1_500), strict: true)
        #expect(r.two.diagnostics.count == 1_500 && r.two.diagnostics.allSatisfy { $0.severity == .error })
        Self.expectSame(r)
    }

    @Test func aSyntaxErrorNearTheEndIsReportedAtTheSamePlace() {
        let r = Self.both(Self.twin(2_000) + "  broken: [a, b\n  next: 1\n")
        #expect(r.two.root == nil)
        #expect(r.two.diagnostics.last?.code == "yaml-syntax")
        #expect((r.two.diagnostics.last?.line ?? 0) > 30_000)
        Self.expectSame(r)
    }

    @Test func aLimitReachedHalfWayStopsBothAtTheSameNode() {
        var limits = YAMLLoader.Limits()
        limits.maximumExpandedNodes = 50_000
        // a syntax error after the limit is never reached: the load stopped before it
        let r = Self.both(Self.twin(3_000) + "  broken: [a, b\n", limits: limits)
        #expect(r.two.root == nil)
        #expect(r.two.diagnostics.map(\.code).last == "yaml-alias-expansion")
        #expect(!r.two.diagnostics.contains { $0.code == "yaml-syntax" })
        Self.expectSame(r)

        var deep = Self.twin(1_000) + "  deep: "
        deep += String(repeating: "[", count: 300) + String(repeating: "]", count: 300) + "\n"
        let d = Self.both(deep)
        #expect(d.two.diagnostics.last?.code == "yaml-too-deep")
        Self.expectSame(d)
    }

    @Test func aSecondDocumentAndAnEmptyStreamAreTheSame() {
        Self.expectSame(Self.both(Self.twin(500) + "---\nb: 2\n"))
        let empty = Self.both("")
        #expect(empty.two.root == nil && empty.two.diagnostics.isEmpty)
        Self.expectSame(Self.both("# only a comment\n"))
    }
}
