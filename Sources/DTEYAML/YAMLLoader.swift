import CYAML
#if canImport(Glibc)
import Glibc
#endif

/// Loads YAML into a `YAMLNode` tree straight from libyaml's event stream, keeping line and
/// column marks. Duplicate keys and syntax errors become diagnostics; nothing is thrown.
public enum YAMLLoader {
    /// The result of loading one file: its root node (nil when empty or unreadable) and problems.
    public struct Result: Sendable {
        public var root: YAMLNode?
        public var diagnostics: [Diagnostic]
    }

    /// What a file may hold; each limit reached is a located error, and loading stops there.
    public struct Limits: Sendable {
        /// Collections nested deeper than this are refused (TOSCA needs a dozen levels; thousands
        /// would make every later recursive walk of the tree a stack overflow).
        public var maximumDepth = 256
        /// The most nodes a file may stand for once its aliases are expanded: aliases share nodes in
        /// the tree, but everything that walks it sees each alias as a copy, so a few lines of
        /// anchors nesting aliases (the "billion laughs") would otherwise cost minutes and gigabytes.
        public var maximumExpandedNodes = 1_000_000
        /// The longest single value (a template's embedded script is kilobytes).
        public var maximumScalarBytes = 1 << 20
        /// Whether anchors and aliases are read (TOSCA files) or refused (settings files).
        public var allowsAliases = true
        /// Keep every entry of a repeated key, in order, for a reader that reports repeats itself.
        public var keepsDuplicateKeys = false

        public init() {}
    }

    /// Parses `bytes` (the content of `file`, used in diagnostics). A duplicate key is an error
    /// when `strict`; otherwise the last one is used, as PyYAML (and so tosca-parser) does, with a
    /// warning at the second key.
    public static func load(bytes: [UInt8], file: String, strict: Bool = true, limits: Limits = Limits()) -> Result {
        load(bytes: bytes, file: file, strict: strict, limits: limits, reading: Reading.suited(to: bytes.count))
    }

    /// How a file is read; the answer is the same every way.
    enum Reading {
        /// libyaml and the tree builder on the calling thread.
        case oneThread
        /// libyaml on a thread of its own beside the tree builder (`EventStream`).
        case streamed
        /// Two libyaml parses, from the start and from a line near the middle, beside the tree
        /// builder (`SplitReading`); streamed when the file has no line to split at.
        case split

        /// Files from this size on are streamed; smaller ones do not pay for the thread.
        static let streamedBytes = 256 << 10
        /// Files from this size on are split (up to `splitMaximumBytes`: the second half's events
        /// wait in memory until the builder reaches them).
        static let splitBytes = 1 << 20
        static let splitMaximumBytes = 32 << 20
        private static let multicore = sysconf(Int32(_SC_NPROCESSORS_ONLN)) > 1

        static func suited(to bytes: Int) -> Reading {
            guard multicore else { return .oneThread }
            if bytes >= splitBytes && bytes <= splitMaximumBytes { return .split }
            return bytes >= streamedBytes ? .streamed : .oneThread
        }
    }

    static func load(bytes: [UInt8], file: String, strict: Bool, limits: Limits, reading: Reading) -> Result {
        bytes.withUnsafeBufferPointer { buf -> Result in
            func fresh() -> TreeBuilder {
                var builder = TreeBuilder(file: file, limits: limits)
                builder.strict = strict
                return builder
            }
            if reading == .split, let result = SplitReading.load(buf, builder: fresh()) { return result }
            if reading != .oneThread, let result = streamed(buf, builder: fresh()) { return result }
            var builder = fresh()
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else {
                return Result(root: nil, diagnostics: [Diagnostic(.error, code: "yaml-init", "could not initialise the YAML parser", file: file)])
            }
            defer { yaml_parser_delete(&parser) }
            let base = buf.baseAddress ?? UnsafePointer<UInt8>(bitPattern: 1)
            yaml_parser_set_input_string(&parser, base, buf.count)
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    builder.syntaxError(parser.problem.map { String(cString: $0) } ?? "syntax error",
                                        context: parser.context.map { String(cString: $0) }, at: parser.problem_mark)
                    return builder.result()
                }
                let done = event.type == YAML_STREAM_END_EVENT
                builder.handle(&event)
                yaml_event_delete(&event)
                if done || builder.stopped { break }
            }
            return builder.result()
        }
    }

    /// The events of one `EventStream` into `builder`; nil when the parser thread cannot start.
    static func streamed(_ buf: UnsafeBufferPointer<UInt8>, builder: TreeBuilder) -> Result? {
        var builder = builder
        guard let stream = EventStream(input: buf, bounded: true), stream.start() else { return nil }
        builder.drain(stream)
        if let failure = stream.finish().failure, !builder.stopped {
            builder.syntaxError(failure.problem, context: failure.context, at: failure.mark)
        }
        return builder.result()
    }

    /// Parses a string (tests and built-in definitions).
    public static func load(string: String, file: String, strict: Bool = true, limits: Limits = Limits()) -> Result {
        load(bytes: Array(string.utf8), file: file, strict: strict, limits: limits)
    }
}

/// An open collection while its events arrive; a class so appends mutate in place.
final class Frame {
    let isMapping: Bool
    /// Written in flow style (`{...}`, `[...]`).
    let flow: Bool
    let mark: Mark
    let anchor: String?
    var entries: [YAMLEntry] = []
    var items: [YAMLNode] = []
    var pendingKey: (String, Mark)?
    var merges: [YAMLEntry] = []
    var seen: Set<String>?
    /// How many nodes this collection stands for with every alias in it expanded.
    var weight = 1

    init(isMapping: Bool, flow: Bool, mark: Mark, anchor: String?) {
        self.isMapping = isMapping
        self.flow = flow
        self.mark = mark
        self.anchor = anchor
    }
}

struct TreeBuilder {
    let file: String
    let limits: YAMLLoader.Limits
    var stack: [Frame] = []
    var root: YAMLNode?
    var documents = 0
    var anchors: [String: (node: YAMLNode, weight: Int)] = [:]
    var diagnostics: [Diagnostic] = []
    var stopped = false
    /// Nodes so far with aliases expanded.
    var expandedNodes = 0
    /// A duplicate key is an error (else the last wins, with a warning).
    var strict = true
    /// Added to libyaml's line numbers: the events of a parse that started at a later line of
    /// the file (`SplitReading`) carry lines of their own input.
    var lineOffset: Int32 = 0

    init(file: String, limits: YAMLLoader.Limits) {
        self.file = file
        self.limits = limits
        stack.reserveCapacity(32)
    }

    func result() -> YAMLLoader.Result {
        YAMLLoader.Result(root: stopped && root == nil ? nil : root, diagnostics: diagnostics)
    }

    func mark(_ m: yaml_mark_t) -> Mark {
        Mark(line: Int32(truncatingIfNeeded: m.line + 1) &+ lineOffset, column: Int32(truncatingIfNeeded: m.column + 1))
    }

    /// Hands every event of `stream` to `handle` until its last batch; once the builder stops
    /// (a limit reached), the parse is asked to end and the rest is only handed back.
    mutating func drain(_ stream: EventStream) {
        while true {
            let batch = stream.next()
            if !stopped {
                batch.forEach { event in
                    handle(&event.pointee)
                    return !stopped
                }
            }
            if stopped { stream.stop() }
            stream.release(batch)
            if batch.last { return }
        }
    }

    static func text(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let p else { return nil }
        return String(cString: p)
    }

    mutating func syntaxError(_ problem: String, context: String?, at problemMark: yaml_mark_t) {
        let mark = self.mark(problemMark)
        var message = "YAML syntax error: \(problem)"
        if let context { message += " (\(context))" }
        diagnostics.append(Diagnostic(
            .error, code: "yaml-syntax", message, hint: "check the indentation and quoting around this line",
            file: file, mark: mark))
        stopped = true
        root = nil
    }

    mutating func handle(_ event: inout yaml_event_t) {
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                diagnostics.append(Diagnostic(
                    .error, code: "yaml-multiple-documents", "a TOSCA file holds one YAML document; this is document \(documents)",
                    hint: "split the documents into separate files", file: file, mark: self.mark(event.start_mark)))
                stopped = true
            }
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            guard s.length <= limits.maximumScalarBytes else {
                diagnostics.append(Diagnostic(
                    .error, code: "yaml-scalar-too-large", "a value of \(s.length >> 10) KiB; values are at most \(limits.maximumScalarBytes >> 20) MiB",
                    hint: "keep large content (scripts, data) in files next to the template", file: file, mark: self.mark(event.start_mark)))
                stopped = true
                root = nil
                return
            }
            let value = String(decoding: UnsafeBufferPointer(start: s.value, count: s.length), as: UTF8.self)
            let style: ScalarStyle
            switch s.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            let tag = s.tag == nil ? nil : Self.expandTag(Self.text(s.tag) ?? "")
            let mark = self.mark(event.start_mark)
            guard s.anchor == nil || refuseAlias(at: mark) else { return }
            let node = YAMLNode.scalar(YAMLScalar(value: value, style: style, tag: tag, mark: mark))
            if let a = s.anchor { anchors[String(cString: a)] = (node, 1) }
            guard count(1, at: mark) else { return }
            add(node, weight: 1)
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            let mark = self.mark(event.start_mark)
            guard stack.count < limits.maximumDepth else {
                diagnostics.append(Diagnostic(
                    .error, code: "yaml-too-deep", "lists and maps are nested more than \(limits.maximumDepth) levels deep here",
                    hint: "a TOSCA file needs a few levels; flatten the structure", file: file, mark: mark))
                stopped = true
                root = nil
                return
            }
            guard count(1, at: mark) else { return }
            let isMapping = event.type == YAML_MAPPING_START_EVENT
            let anchor = Self.text(isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor)
            guard anchor == nil || refuseAlias(at: mark) else { return }
            let flow = isMapping ? event.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE : event.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE
            stack.append(Frame(isMapping: isMapping, flow: flow, mark: mark, anchor: anchor))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            guard let f = stack.popLast() else { return }
            let node: YAMLNode
            if f.isMapping {
                if !f.merges.isEmpty {
                    // `<<` merge keys: entries written here win over merged ones.
                    var present = Set(f.entries.map(\.key))
                    for m in f.merges where !present.contains(m.key) {
                        f.entries.append(m)
                        present.insert(m.key)
                    }
                }
                node = .mapping(f.entries, f.mark)
            } else {
                node = .sequence(f.items, f.mark)
            }
            if let anchor = f.anchor { anchors[anchor] = (node, f.weight) }
            add(node, weight: f.weight)
        case YAML_ALIAS_EVENT:
            let name = Self.text(event.data.alias.anchor) ?? ""
            let mark = self.mark(event.start_mark)
            guard refuseAlias(at: mark) else { return }
            if let (node, weight) = anchors[name] {
                guard count(weight, at: mark, alias: name) else { return }
                add(node, weight: weight, aliasMark: mark)
            } else {
                diagnostics.append(Diagnostic(
                    .error, code: "yaml-unknown-alias", "alias *\(name) refers to no anchor defined before it",
                    hint: "define the anchor &\(name) earlier in the file", file: file, mark: mark))
                add(.scalar(YAMLScalar(value: "", tag: YAMLScalar.invalidTag, mark: mark)), weight: 1)
            }
        default:
            break
        }
    }

    /// Counts `nodes` more (an alias counts what its anchor stands for); false, with an error at
    /// `mark`, once the file stands for more than `maximumExpandedNodes`.
    mutating func count(_ nodes: Int, at mark: Mark, alias: String? = nil) -> Bool {
        let (sum, overflow) = expandedNodes.addingReportingOverflow(nodes)
        guard overflow || sum > limits.maximumExpandedNodes else {
            expandedNodes = sum
            return true
        }
        let what = alias.map { "alias *\($0) makes this file" } ?? "this file is"
        diagnostics.append(Diagnostic(
            .error, code: "yaml-alias-expansion", "\(what) more than \(limits.maximumExpandedNodes) nodes with its aliases expanded",
            hint: "aliases that repeat aliases multiply; write the values out or use fewer levels of anchors",
            file: file, mark: mark))
        stopped = true
        root = nil
        return false
    }

    /// True when aliases are read; otherwise an error at `mark`, and loading stops.
    mutating func refuseAlias(at mark: Mark) -> Bool {
        if limits.allowsAliases { return true }
        diagnostics.append(Diagnostic(
            .error, code: "yaml-alias-refused", "anchors and aliases are not supported in this file",
            hint: "write each value out", file: file, mark: mark))
        stopped = true
        root = nil
        return false
    }

    static func expandTag(_ t: String) -> String {
        if t.hasPrefix("!!") { return "tag:yaml.org,2002:" + t.dropFirst(2) }
        return t
    }

    /// Adds a finished node to the open collection (or makes it the root).
    mutating func add(_ node: YAMLNode, weight: Int, aliasMark: Mark? = nil) {
        guard let top = stack.last else {
            root = node
            return
        }
        top.weight &+= weight
        if !top.isMapping {
            top.items.append(node)
            return
        }
        if let (key, keyMark) = top.pendingKey {
            top.pendingKey = nil
            if key == "<<" && Self.isMergeable(node) {
                top.merges.append(contentsOf: Self.mergeEntries(node))
            } else if !limits.keepsDuplicateKeys, isDuplicate(key, in: top) {
                let index = top.entries.firstIndex(where: { $0.key == key })
                let first = index.map { top.entries[$0].keyMark } ?? top.mark
                if !strict, let index {
                    top.entries[index] = YAMLEntry(key: key, keyMark: keyMark, value: node)
                    diagnostics.append(Diagnostic(
                        .warning, code: "yaml-duplicate-key",
                        "duplicate key \"\(key)\" (first defined at line \(first.line), column \(first.column)); the last one is used, as PyYAML does",
                        hint: "remove one of the two entries or merge them (dte validate --strict refuses duplicate keys)", file: file, mark: keyMark))
                } else {
                    diagnostics.append(Diagnostic(
                        .error, code: "yaml-duplicate-key",
                        "duplicate key \"\(key)\" (first defined at line \(first.line), column \(first.column))",
                        hint: "remove one of the two entries or merge them", file: file, mark: keyMark))
                }
            } else {
                top.entries.append(YAMLEntry(key: key, keyMark: keyMark, value: node))
            }
        } else {
            let keyMark = aliasMark ?? node.mark
            if case .scalar(let s) = node {
                top.pendingKey = (s.value, keyMark)
            } else {
                diagnostics.append(Diagnostic(
                    .error, code: "yaml-complex-key", "a map key must be a plain string, not \(node.kindDescription)",
                    hint: "write the key as a single word or quoted string", file: file, mark: keyMark))
                top.pendingKey = ("\u{0}invalid-key-\(keyMark.line)-\(keyMark.column)", keyMark)
            }
        }
    }

    static func isMergeable(_ node: YAMLNode) -> Bool {
        switch node {
        case .mapping: return true
        case .sequence(let items, _): return items.allSatisfy { if case .mapping = $0 { return true } else { return false } }
        case .scalar: return false
        }
    }

    static func mergeEntries(_ node: YAMLNode) -> [YAMLEntry] {
        switch node {
        case .mapping(let e, _): return e
        case .sequence(let items, _): return items.flatMap { $0.entries ?? [] }
        case .scalar: return []
        }
    }

    /// Linear search for small maps; a set once a map grows (node_templates of 10,000 entries).
    func isDuplicate(_ key: String, in frame: Frame) -> Bool {
        if frame.entries.count < 16 {
            for e in frame.entries where e.key == key { return true }
            return false
        }
        if frame.seen == nil { frame.seen = Set(frame.entries.lazy.map(\.key)) }
        return frame.seen?.insert(key).inserted == false
    }
}
