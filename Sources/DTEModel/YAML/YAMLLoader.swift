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

private struct TreeBuilder {
    enum Frame {
        case mapping(entries: [YAMLEntry], mark: Mark, anchor: String?, pendingKey: (String, Mark)?, merges: [YAMLEntry], seen: Set<String>?)
        case sequence(items: [YAMLNode], mark: Mark, anchor: String?)
    }

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
            let anchor = Self.text(event.data.sequence_start.anchor)
            stack.append(.sequence(items: [], mark: Self.mark(event.start_mark), anchor: anchor))
        case YAML_MAPPING_START_EVENT:
            let anchor = Self.text(event.data.mapping_start.anchor)
            stack.append(.mapping(entries: [], mark: Self.mark(event.start_mark), anchor: anchor, pendingKey: nil, merges: [], seen: nil))
        case YAML_SEQUENCE_END_EVENT:
            guard case .sequence(let items, let mark, let anchor)? = stack.popLast() else { return }
            let node = YAMLNode.sequence(items, mark)
            if let anchor { anchors[anchor] = node }
            add(node)
        case YAML_MAPPING_END_EVENT:
            guard case .mapping(var entries, let mark, let anchor, _, let merges, _)? = stack.popLast() else { return }
            if !merges.isEmpty {
                // `<<` merge keys: entries written here win over merged ones.
                var present = Set(entries.map(\.key))
                for m in merges where !present.contains(m.key) {
                    entries.append(m)
                    present.insert(m.key)
                }
            }
            let node = YAMLNode.mapping(entries, mark)
            if let anchor { anchors[anchor] = node }
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
                add(.scalar(YAMLScalar(value: "", mark: mark)))
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
        guard let top = stack.popLast() else {
            root = node
            return
        }
        switch top {
        case .sequence(var items, let mark, let anchor):
            items.append(node)
            stack.append(.sequence(items: items, mark: mark, anchor: anchor))
        case .mapping(var entries, let mark, let anchor, let pendingKey, var merges, var seen):
            if let (key, keyMark) = pendingKey {
                if key == "<<" && scalarKeyWasMerge(node) {
                    merges.append(contentsOf: mergeEntries(node, at: keyMark))
                } else if isDuplicate(key, in: entries, seen: &seen) {
                    let first = entries.first(where: { $0.key == key })?.keyMark ?? mark
                    diagnostics.append(Diagnostic(
                        .error, code: "yaml-duplicate-key",
                        "duplicate key \"\(key)\" (first defined at line \(first.line), column \(first.column))",
                        hint: "remove one of the two entries or merge them", file: file, mark: keyMark))
                } else {
                    entries.append(YAMLEntry(key: key, keyMark: keyMark, value: node))
                }
                stack.append(.mapping(entries: entries, mark: mark, anchor: anchor, pendingKey: nil, merges: merges, seen: seen))
            } else {
                let keyText: String
                let keyMark = aliasMark ?? node.mark
                if case .scalar(let s) = node {
                    keyText = s.value
                } else {
                    diagnostics.append(Diagnostic(
                        .error, code: "yaml-complex-key", "a map key must be a plain string, not \(node.kindDescription)",
                        hint: "write the key as a single word or quoted string", file: file, mark: keyMark))
                    keyText = "\u{0}invalid-key-\(keyMark.line)-\(keyMark.column)"
                }
                stack.append(.mapping(entries: entries, mark: mark, anchor: anchor, pendingKey: (keyText, keyMark), merges: merges, seen: seen))
            }
        }
    }

    func scalarKeyWasMerge(_ node: YAMLNode) -> Bool {
        switch node {
        case .mapping: return true
        case .sequence(let items, _): return items.allSatisfy { if case .mapping = $0 { return true } else { return false } }
        case .scalar: return false
        }
    }

    func mergeEntries(_ node: YAMLNode, at mark: Mark) -> [YAMLEntry] {
        switch node {
        case .mapping(let e, _): return e
        case .sequence(let items, _): return items.flatMap { $0.entries ?? [] }
        case .scalar: return []
        }
    }

    /// Linear search for small maps; a set once a map grows (node_templates of 10,000 entries).
    func isDuplicate(_ key: String, in entries: [YAMLEntry], seen: inout Set<String>?) -> Bool {
        if entries.count < 16 {
            for e in entries where e.key == key { return true }
            return false
        }
        if seen == nil { seen = Set(entries.lazy.map(\.key)) }
        return seen?.insert(key).inserted == false
    }
}
