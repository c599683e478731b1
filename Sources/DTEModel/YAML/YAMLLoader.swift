import CYAML

/// Loads YAML into a `YAMLNode` tree straight from libyaml's event stream, keeping line and
/// column marks. Duplicate keys and syntax errors become diagnostics; nothing is thrown.
public enum YAMLLoader {
    /// The result of loading one file: its root node (nil when empty or unreadable) and problems.
    public struct Result: Sendable {
        public var root: YAMLNode?
        public var diagnostics: [Diagnostic]
    }

    /// Parses `bytes` (the content of `file`, used in diagnostics).
    public static func load(bytes: [UInt8], file: String) -> Result {
        var builder = TreeBuilder(file: file)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            return Result(root: nil, diagnostics: [Diagnostic(.error, code: "yaml-init", "could not initialise the YAML parser", file: file)])
        }
        defer { yaml_parser_delete(&parser) }
        return bytes.withUnsafeBufferPointer { buf -> Result in
            let base = buf.baseAddress ?? UnsafePointer<UInt8>(bitPattern: 1)
            yaml_parser_set_input_string(&parser, base, buf.count)
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    builder.syntaxError(parser)
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

    /// Parses a string (tests and built-in definitions).
    public static func load(string: String, file: String) -> Result {
        load(bytes: Array(string.utf8), file: file)
    }
}

/// An open collection while its events arrive; a class so appends mutate in place.
private final class Frame {
    let isMapping: Bool
    let mark: Mark
    let anchor: String?
    var entries: [YAMLEntry] = []
    var items: [YAMLNode] = []
    var pendingKey: (String, Mark)?
    var merges: [YAMLEntry] = []
    var seen: Set<String>?

    init(isMapping: Bool, mark: Mark, anchor: String?) {
        self.isMapping = isMapping
        self.mark = mark
        self.anchor = anchor
    }
}

private struct TreeBuilder {
    let file: String
    var stack: [Frame] = []
    var root: YAMLNode?
    var documents = 0
    var anchors: [String: YAMLNode] = [:]
    var diagnostics: [Diagnostic] = []
    var stopped = false

    init(file: String) {
        self.file = file
        stack.reserveCapacity(32)
    }

    func result() -> YAMLLoader.Result {
        YAMLLoader.Result(root: stopped && root == nil ? nil : root, diagnostics: diagnostics)
    }

    static func mark(_ m: yaml_mark_t) -> Mark {
        Mark(line: Int32(truncatingIfNeeded: m.line + 1), column: Int32(truncatingIfNeeded: m.column + 1))
    }

    static func text(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let p else { return nil }
        return String(cString: p)
    }

    mutating func syntaxError(_ parser: yaml_parser_t) {
        let problem = parser.problem.map { String(cString: $0) } ?? "syntax error"
        let context = parser.context.map { String(cString: $0) }
        let mark = Self.mark(parser.problem_mark)
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
                    hint: "split the documents into separate files", file: file, mark: Self.mark(event.start_mark)))
                stopped = true
            }
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
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
            let mark = Self.mark(event.start_mark)
            let node = YAMLNode.scalar(YAMLScalar(value: value, style: style, tag: tag, mark: mark))
            if let a = s.anchor { anchors[String(cString: a)] = node }
            add(node)
        case YAML_SEQUENCE_START_EVENT:
            stack.append(Frame(isMapping: false, mark: Self.mark(event.start_mark), anchor: Self.text(event.data.sequence_start.anchor)))
        case YAML_MAPPING_START_EVENT:
            stack.append(Frame(isMapping: true, mark: Self.mark(event.start_mark), anchor: Self.text(event.data.mapping_start.anchor)))
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
            if let anchor = f.anchor { anchors[anchor] = node }
            add(node)
        case YAML_ALIAS_EVENT:
            let name = Self.text(event.data.alias.anchor) ?? ""
            let mark = Self.mark(event.start_mark)
            if let node = anchors[name] {
                add(node, aliasMark: mark)
            } else {
                diagnostics.append(Diagnostic(
                    .error, code: "yaml-unknown-alias", "alias *\(name) refers to no anchor defined before it",
                    hint: "define the anchor &\(name) earlier in the file", file: file, mark: mark))
                add(.scalar(YAMLScalar(value: "", tag: YAMLScalar.invalidTag, mark: mark)))
            }
        default:
            break
        }
    }

    static func expandTag(_ t: String) -> String {
        if t.hasPrefix("!!") { return "tag:yaml.org,2002:" + t.dropFirst(2) }
        return t
    }

    /// Adds a finished node to the open collection (or makes it the root).
    mutating func add(_ node: YAMLNode, aliasMark: Mark? = nil) {
        guard let top = stack.last else {
            root = node
            return
        }
        if !top.isMapping {
            top.items.append(node)
            return
        }
        if let (key, keyMark) = top.pendingKey {
            top.pendingKey = nil
            if key == "<<" && Self.isMergeable(node) {
                top.merges.append(contentsOf: Self.mergeEntries(node))
            } else if isDuplicate(key, in: top) {
                let first = top.entries.first(where: { $0.key == key })?.keyMark ?? top.mark
                diagnostics.append(Diagnostic(
                    .error, code: "yaml-duplicate-key",
                    "duplicate key \"\(key)\" (first defined at line \(first.line), column \(first.column))",
                    hint: "remove one of the two entries or merge them", file: file, mark: keyMark))
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
