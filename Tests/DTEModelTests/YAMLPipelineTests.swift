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

    /// The one-thread reading and `reading` of the same text.
    static func both(_ text: String, strict: Bool = true, limits: YAMLLoader.Limits = .init(), _ reading: YAMLLoader.Reading = .streamed)
        -> (one: YAMLLoader.Result, two: YAMLLoader.Result) {
        let bytes = Array(text.utf8)
        return (YAMLLoader.load(bytes: bytes, file: "big.yaml", strict: strict, limits: limits, reading: .oneThread),
                YAMLLoader.load(bytes: bytes, file: "big.yaml", strict: strict, limits: limits, reading: reading))
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

    static let readings: [YAMLLoader.Reading] = [.streamed, .split]

    @Test(arguments: readings) func aLargeFileGivesTheSameTreeMarksAndWarnings(_ reading: YAMLLoader.Reading) {
        let text = Self.twin(3_000)
        #expect(YAMLLoader.Reading.suited(to: text.utf8.count) == .split, "large enough to be split by default")
        let r = Self.both(text, strict: false, reading)
        #expect(r.two.root != nil)
        #expect(r.two.diagnostics.count == 3_000 && r.two.diagnostics.allSatisfy { $0.code == "yaml-duplicate-key" })
        Self.expectSame(r)
    }

    @Test(arguments: readings) func aStrictLoadStopsNowhereAndReportsTheSameErrors(_ reading: YAMLLoader.Reading) {
        let r = Self.both(Self.twin(3_000), strict: true, reading)
        #expect(r.two.diagnostics.count == 3_000 && r.two.diagnostics.allSatisfy { $0.severity == .error })
        Self.expectSame(r)
    }

    @Test(arguments: readings) func aSyntaxErrorNearTheEndIsReportedAtTheSamePlace(_ reading: YAMLLoader.Reading) {
        let r = Self.both(Self.twin(3_000) + "  broken: [a, b\n  next: 1\n", reading)
        #expect(r.two.root == nil)
        #expect(r.two.diagnostics.last?.code == "yaml-syntax")
        #expect((r.two.diagnostics.last?.line ?? 0) > 50_000)
        Self.expectSame(r)
    }

    @Test(arguments: readings) func aLimitReachedHalfWayStopsBothAtTheSameNode(_ reading: YAMLLoader.Reading) {
        for nodes in [30_000, 100_000] {  // before the split line and after it
            var limits = YAMLLoader.Limits()
            limits.maximumExpandedNodes = nodes
            // a syntax error after the limit is never reached: the load stopped before it
            let r = Self.both(Self.twin(3_000) + "  broken: [a, b\n", limits: limits, reading)
            #expect(r.two.root == nil)
            #expect(r.two.diagnostics.map(\.code).last == "yaml-alias-expansion")
            #expect(!r.two.diagnostics.contains { $0.code == "yaml-syntax" })
            Self.expectSame(r)
        }
        var deep = Self.twin(3_000) + "  deep: "
        deep += String(repeating: "[", count: 300) + String(repeating: "]", count: 300) + "\n"
        let d = Self.both(deep, reading)
        #expect(d.two.diagnostics.last?.code == "yaml-too-deep")
        Self.expectSame(d)
    }

    @Test(arguments: readings) func aSecondDocumentAndAnEmptyStreamAreTheSame(_ reading: YAMLLoader.Reading) {
        Self.expectSame(Self.both(Self.twin(3_000) + "---\nb: 2\n", reading))
        let empty = Self.both("", reading)
        #expect(empty.two.root == nil && empty.two.diagnostics.isEmpty)
        Self.expectSame(Self.both("# only a comment\n", reading))
    }

    // MARK: - the split reading

    static func plan(_ text: String) -> SplitReading.Plan? {
        Array(text.utf8).withUnsafeBufferPointer { SplitReading.plan($0) }
    }

    /// Whether the split reading of `text` went on with the second parse at the split line.
    static func switched(_ text: String) -> Bool? {
        Array(text.utf8).withUnsafeBufferPointer { SplitReading.read($0, builder: TreeBuilder(file: "big.yaml", limits: .init()))?.switched }
    }

    @Test func theSplitLineIsANodeTemplateNearTheMiddleUnderItsEnclosingKeys() throws {
        let text = Self.twin(3_000)
        let plan = try #require(Self.plan(text))
        #expect(plan.parents.map { String(decoding: $0.key, as: UTF8.self) } == ["topology_template", "node_templates"])
        #expect(plan.parents.map(\.indent) == [0, 2] && plan.indent == 4)
        #expect(String(decoding: plan.key, as: UTF8.self).hasPrefix("job"))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[plan.line] == "    " + String(decoding: plan.key, as: UTF8.self) + ":")
        #expect(plan.offset >= text.utf8.count / 2 && plan.offset < text.utf8.count * 65 / 100)
        // no split where documents or directives could change how the rest reads
        #expect(Self.plan("%YAML 1.1\n---\n" + text) == nil)
        #expect(Self.plan(text + "---\nb: 1\n") == nil)
        #expect(Self.switched(text) == true, "the builder went on with the second parse")
        #expect(Self.switched(text + "  broken: [a, b\n") == true, "an error in the second half is the second parse's")
    }

    @Test func aLineThatOnlyLooksLikeTheSplitLineIsReadInOneParse() throws {
        // The middle of the file is a flow list whose lines look like keys of the block map
        // around it: the text suggests a split there, the builder's state at that line says
        // otherwise (inside the list), and the file is read as one parse.
        var text = "topology_template:\n  node_templates:\n    first:\n      items: [\n"
        for i in 0..<60_000 { text += "    node\(i): \(i),\n" }
        text += "    last: 0 ]\n    second:\n      type: t\n"
        let plan = try #require(Self.plan(text), "the text suggests a split")
        #expect(plan.indent == 4 && plan.parents.count == 2)
        #expect(Self.switched(text) == false, "read in one parse")
        let r = Self.both(text, .split)
        #expect(r.two.diagnostics.isEmpty, "\(r.two.diagnostics.prefix(2))")
        #expect(r.two.root?["topology_template"]?["node_templates"]?.entries?.map(\.key) == ["first", "second"])
        #expect(r.two.root?["topology_template"]?["node_templates"]?["first"]?["items"]?.items?.count == 60_001)
        Self.expectSame(r)
    }

    @Test func anchorsOfTheFirstHalfServeAliasesOfTheSecond() throws {
        var text = "defaults: &d { cpus: 2, memory: 4 GB }\ntopology_template:\n  node_templates:\n"
        for i in 0..<12_000 { text += "    job\(i):\n      properties:\n        <<: *d\n        n: \(i)\n        same: *d\n" }
        #expect(Self.switched(text) == true)
        let r = Self.both(text, .split)
        #expect(r.two.diagnostics.isEmpty)
        let last = r.two.root?["topology_template"]?["node_templates"]?["job11999"]?["properties"]
        #expect(last?["cpus"]?.string == "2" && last?["same"]?["memory"]?.string == "4 GB")
        Self.expectSame(r)
    }

    @Test func windowsLineEndsAndCommentsAroundTheSplitLine() {
        var text = "# generated\r\ntopology_template:   # the topology\r\n  node_templates:\r\n"
        for i in 0..<20_000 { text += "    # job \(i)\r\n    job\(i):\r\n      type: t\r\n\r\n" }
        #expect(Self.switched(text) == true)
        let r = Self.both(text, .split)
        #expect(r.two.root?["topology_template"]?["node_templates"]?.entries?.count == 20_000)
        Self.expectSame(r)
    }
}
