/// Turns the YAML tree of one TOSCA file into a `ServiceTemplate`, reporting every structural
/// problem (unknown keys, wrong shapes, missing `type`) as a diagnostic with its YAML path.
public struct TemplateParser: Sendable {
    public let file: String
    public internal(set) var diagnostics: [Diagnostic] = []
    var path: [String] = []
    let normative: Bool
    /// Refuse what only YAML 1.1 or TOSCA 1.0 tools accept (`--strict`) instead of reading it with a warning.
    let strict: Bool
    /// YAML 1.1 booleans read where a boolean belongs: reported once per file (the first, and how many).
    var yaml11Booleans: [(value: String, mark: Mark)] = []
    /// Interfaces written without a type under a normative short name (`Standard:`), as TOSCA 1.0
    /// templates do: read as that interface and reported once per file.
    var shortInterfaces: [(name: String, mark: Mark)] = []
    /// Property definitions whose `default:` is empty (null): read as having no default.
    var emptyDefaults: [(name: String, mark: Mark)] = []
    /// The normative interfaces TOSCA 1.0 templates name by their short names alone.
    static let shortInterfaceTypes = [
        "Standard": "tosca.interfaces.node.lifecycle.Standard",
        "Configure": "tosca.interfaces.relationship.Configure",
    ]

    public init(file: String, normative: Bool = false, strict: Bool = false) {
        self.file = file
        self.normative = normative
        self.strict = strict
    }

    /// A parser starting at `path` (a worker of `parseNodeTemplates`).
    init(file: String, normative: Bool, strict: Bool, path: [String]) {
        self.init(file: file, normative: normative, strict: strict)
        self.path = path
    }

    /// Versions of `tosca_definitions_version` DTE reads.
    public static let supportedVersions = [
        "tosca_simple_yaml_1_0", "tosca_simple_yaml_1_1", "tosca_simple_yaml_1_2", "tosca_simple_yaml_1_3",
        "tosca_simple_profile_for_nfv_1_0_0",
    ]

    public static func parse(root: YAMLNode?, file: String, normative: Bool = false, strict: Bool = false) -> (ServiceTemplate, [Diagnostic]) {
        var p = TemplateParser(file: file, normative: normative, strict: strict)
        let t = p.parseServiceTemplate(root)
        p.reportLooseness()
        return (t, p.diagnostics)
    }

    /// One warning per file for the YAML 1.1 booleans read as booleans (files written for PyYAML
    /// have dozens: `required: no`), naming the first and how to write them strictly.
    /// " (and N more … in this file)" for a once-per-file warning; empty when there are no more.
    static func andMore(_ count: Int, _ one: String, _ many: String) -> String {
        count > 0 ? " (and \(count) more \(count == 1 ? one : many) in this file)" : ""
    }

    mutating func reportLooseness() {
        if let first = emptyDefaults.first {
            let more = emptyDefaults.count - 1
            diagnostics.append(Diagnostic(
                .warning, code: "empty-default",
                "the default of \"\(first.name)\" is empty and is read as no default, as tosca-parser reads it"
                    + Self.andMore(more, "empty default", "empty defaults"),
                hint: "remove the empty default: key, or give a value (dte validate --strict refuses an empty default)",
                file: file, mark: first.mark))
        }
        if let first = shortInterfaces.first, let type = Self.shortInterfaceTypes[first.name] {
            let more = shortInterfaces.count - 1
            diagnostics.append(Diagnostic(
                .warning, code: "interface-short-form",
                "interface \"\(first.name)\" has no type and is read as \(type), as TOSCA 1.0 tools read it"
                    + Self.andMore(more, "interface like it", "interfaces like it"),
                hint: "add \"type: \(type)\" (TOSCA 1.3 requires the type of an interface definition; dte validate --strict does too)",
                file: file, mark: first.mark))
        }
        guard let first = yaml11Booleans.first else { return }
        let more = yaml11Booleans.count - 1
        diagnostics.append(Diagnostic(
            .warning, code: "yaml11-boolean",
            "\"\(first.value)\" is read as \(PlainScalar.yaml11Boolean(first.value) == true ? "true" : "false"), as YAML 1.1 tools read it"
                + Self.andMore(more, "YAML 1.1 boolean", "YAML 1.1 booleans")
                + "; YAML 1.2 reads yes/no/on/off as strings",
            hint: "write true or false (dte validate --strict refuses the YAML 1.1 forms)", file: file, mark: first.mark))
    }

    // MARK: - helpers

    var pathString: String { path.joined(separator: ".") }

    mutating func error(_ code: String, _ message: String, hint: String? = nil, at mark: Mark, key: String? = nil) {
        var p = pathString
        if let key { p = p.isEmpty ? key : p + "." + key }
        diagnostics.append(Diagnostic(.error, code: code, message, hint: hint, file: file, mark: mark, path: p))
    }

    mutating func warning(_ code: String, _ message: String, hint: String? = nil, at mark: Mark) {
        diagnostics.append(Diagnostic(.warning, code: code, message, hint: hint, file: file, mark: mark, path: pathString))
    }

    func ref(_ mark: Mark, _ key: String? = nil) -> SourceRef {
        var p = pathString
        if let key { p = p.isEmpty ? key : p + "." + key }
        return SourceRef(file: file, mark: mark, path: p)
    }

    /// The entries of a mapping, or a diagnostic when `node` is not one. Null is an empty map.
    mutating func mapping(_ node: YAMLNode, what: @autoclosure () -> String) -> [YAMLEntry]? {
        switch node {
        case .mapping(let e, _): return e
        case .scalar(let s) where s.isNull: return []
        default:
            error("expected-map", "\(what()) must be a map, not \(node.kindDescription)", at: node.mark)
            return nil
        }
    }

    mutating func sequence(_ node: YAMLNode, what: @autoclosure () -> String) -> [YAMLNode]? {
        switch node {
        case .sequence(let i, _): return i
        case .scalar(let s) where s.isNull: return []
        default:
            error("expected-list", "\(what()) must be a list, not \(node.kindDescription)", at: node.mark)
            return nil
        }
    }

    mutating func string(_ node: YAMLNode, what: @autoclosure () -> String) -> String? {
        if case .scalar(let s) = node, !s.isNull { return s.value }
        error("expected-string", "\(what()) must be a string, not \(node.kindDescription)", at: node.mark)
        return nil
    }

    mutating func bool(_ node: YAMLNode, what: @autoclosure () -> String) -> Bool? {
        if case .scalar(let s) = node, s.style == .plain, case .boolean(let b) = PlainScalar.classify(s.value) { return b }
        if !strict, case .scalar(let s) = node, s.style == .plain, let b = PlainScalar.yaml11Boolean(s.value) {
            yaml11Booleans.append((s.value, s.mark))
            return b
        }
        error("expected-boolean", "\(what()) must be true or false, not \(node.kindDescription)",
              hint: strict && node.scalar.map({ PlainScalar.yaml11Boolean($0.value) != nil }) == true
                  ? "\"\(node.scalar?.value ?? "")\" is a boolean in YAML 1.1 only; write true or false" : nil,
              at: node.mark)
        return nil
    }

    mutating func stringList(_ node: YAMLNode, what: @autoclosure () -> String) -> [(name: String, mark: Mark)]? {
        if case .scalar(let s) = node, !s.isNull { return [(s.value, s.mark)] }
        guard let items = sequence(node, what: what()) else { return nil }
        var out: [(String, Mark)] = []
        for item in items {
            if let s = string(item, what: "each entry of \(what())") { out.append((s, item.mark)) }
        }
        return out
    }

    mutating func unknownKey(_ e: YAMLEntry, allowed: [String], in what: @autoclosure () -> String) {
        var hint = "allowed keys: " + allowed.joined(separator: ", ")
        if let m = closestMatch(to: e.key, in: allowed) { hint = "did you mean \"\(m)\"? " + hint }
        error("unknown-key", "unknown key \"\(e.key)\" in \(what())", hint: hint, at: e.keyMark, key: e.key)
    }

    /// Runs `body` with `key` appended to the YAML path.
    mutating func at<T>(_ key: String, _ body: (inout TemplateParser) -> T) -> T {
        path.append(key)
        defer { path.removeLast() }
        return body(&self)
    }

    /// Entries that must each be a single-key map (TOSCA's ordered lists of named things).
    mutating func namedList(_ node: YAMLNode, what: @autoclosure () -> String) -> [YAMLEntry] {
        if case .mapping(let e, _) = node { return e }  // tolerated: a map instead of a list of maps
        guard let items = sequence(node, what: what()) else { return [] }
        var out: [YAMLEntry] = []
        for (i, item) in items.enumerated() {
            if case .mapping(let e, _) = item, e.count == 1 {
                out.append(e[0])
            } else {
                at("\(i)") { p in
                    p.error("expected-single-key-map", "each entry of \(what()) must be a map with one key (its name), not \(item.kindDescription)",
                            hint: "write \"- name: ...\"", at: item.mark)
                }
            }
        }
        return out
    }

    // MARK: - service template

    static let serviceTemplateKeys = [
        "tosca_definitions_version", "namespace", "metadata", "description", "dsl_definitions", "repositories",
        "imports", "artifact_types", "data_types", "capability_types", "interface_types", "relationship_types",
        "node_types", "group_types", "policy_types", "topology_template", "template_name", "template_author",
        "template_version",
    ]

    mutating func parseServiceTemplate(_ root: YAMLNode?) -> ServiceTemplate {
        var t = ServiceTemplate(file: file)
        guard let root else { return t }
        guard let entries = mapping(root, what: "a TOSCA file") else { return t }
        if root.entry("tosca_definitions_version") == nil {
            error("missing-definitions-version", "missing \"tosca_definitions_version\"",
                  hint: "start the file with: tosca_definitions_version: tosca_simple_yaml_1_3", at: Mark(line: 1, column: 1))
        }
        for e in entries {
            at(e.key) { p in
                switch e.key {
                case "tosca_definitions_version":
                    if let v = p.string(e.value, what: "tosca_definitions_version") {
                        if !Self.supportedVersions.contains(v) {
                            p.error("unsupported-version", "unsupported tosca_definitions_version \"\(v)\"",
                                    hint: "use tosca_simple_yaml_1_3 (DTE reads 1_0 to 1_3)", at: e.value.mark)
                        }
                        t.definitionsVersion = v
                    }
                case "description": t.description = p.string(e.value, what: "description")
                case "metadata": t.metadata = p.mapping(e.value, what: "metadata") ?? []
                case "namespace", "dsl_definitions", "template_name", "template_author", "template_version": break
                case "repositories":
                    for r in p.mapping(e.value, what: "repositories") ?? [] {
                        p.at(r.key) { p in
                            if case .scalar(let s) = r.value, !s.isNull {
                                t.repositories[r.key] = s.value
                            } else if let m = p.mapping(r.value, what: "repository \"\(r.key)\"") {
                                for k in m where !["description", "url", "credential"].contains(k.key) {
                                    p.unknownKey(k, allowed: ["description", "url", "credential"], in: "repository \"\(r.key)\"")
                                }
                                if let u = r.value["url"], let url = p.string(u, what: "url") {
                                    t.repositories[r.key] = url
                                } else if r.value["url"] == nil {
                                    p.error("missing-key", "repository \"\(r.key)\" has no url", at: r.keyMark)
                                }
                            }
                        }
                    }
                case "imports": t.imports = p.parseImports(e.value)
                case "topology_template": t.topology = p.parseTopology(e.value)
                default:
                    if let kind = TypeKind.allCases.first(where: { $0.section == e.key }) {
                        for d in p.mapping(e.value, what: e.key) ?? [] {
                            if let td = p.at(d.key, { $0.parseType(kind, d) }) { t.types.append(td) }
                        }
                    } else {
                        p.path.removeLast()
                        p.unknownKey(e, allowed: Self.serviceTemplateKeys, in: "a TOSCA file")
                        p.path.append(e.key)
                    }
                }
            }
        }
        return t
    }

    mutating func parseImports(_ node: YAMLNode) -> [ImportDefinition] {
        var out: [ImportDefinition] = []
        guard let items = sequence(node, what: "imports") else { return [] }
        for (i, item) in items.enumerated() {
            at("\(i)") { p in
                switch item {
                case .scalar(let s) where !s.isNull:
                    out.append(ImportDefinition(file: s.value, repository: nil, namespacePrefix: nil, source: p.ref(s.mark)))
                case .mapping(var entries, _):
                    // TOSCA 1.0 also allows `- name: file-or-definition`
                    if entries.count == 1, entries[0].key != "file" {
                        if case .scalar(let s) = entries[0].value {
                            out.append(ImportDefinition(file: s.value, repository: nil, namespacePrefix: nil, source: p.ref(s.mark)))
                            return
                        }
                        entries = entries[0].value.entries ?? []
                    }
                    var def = ImportDefinition(file: "", repository: nil, namespacePrefix: nil, source: p.ref(item.mark))
                    for e in entries {
                        switch e.key {
                        case "file": def.file = p.string(e.value, what: "file") ?? ""; def.source.mark = e.value.mark
                        case "repository": def.repository = p.string(e.value, what: "repository"); def.repositoryMark = e.value.mark
                        case "namespace_prefix": def.namespacePrefix = p.string(e.value, what: "namespace_prefix")
                        case "namespace_uri": break
                        default: p.unknownKey(e, allowed: ["file", "repository", "namespace_prefix", "namespace_uri"], in: "an import")
                        }
                    }
                    if def.file.isEmpty {
                        p.error("missing-key", "import has no \"file\"", at: item.mark)
                    } else {
                        out.append(def)
                    }
                default:
                    p.error("expected-string", "an import must be a file path or a map with \"file\", not \(item.kindDescription)", at: item.mark)
                }
            }
        }
        return out
    }
}
