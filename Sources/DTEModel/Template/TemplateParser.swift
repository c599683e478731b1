/// Turns the YAML tree of one TOSCA file into a `ServiceTemplate`, reporting every structural
/// problem (unknown keys, wrong shapes, missing `type`) as a diagnostic with its YAML path.
public struct TemplateParser {
    public let file: String
    public private(set) var diagnostics: [Diagnostic] = []
    private var path: [String] = []
    private let normative: Bool
    /// Refuse what only YAML 1.1 or TOSCA 1.0 tools accept (`--strict`) instead of reading it with a warning.
    let strict: Bool
    /// YAML 1.1 booleans read where a boolean belongs: reported once per file (the first, and how many).
    private var yaml11Booleans: [(value: String, mark: Mark)] = []
    /// Interfaces written without a type under a normative short name (`Standard:`), as TOSCA 1.0
    /// templates do: read as that interface and reported once per file.
    private var shortInterfaces: [(name: String, mark: Mark)] = []
    /// Property definitions whose `default:` is empty (null): read as having no default.
    private var emptyDefaults: [(name: String, mark: Mark)] = []
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
    mutating func mapping(_ node: YAMLNode, what: String) -> [YAMLEntry]? {
        switch node {
        case .mapping(let e, _): return e
        case .scalar(let s) where s.isNull: return []
        default:
            error("expected-map", "\(what) must be a map, not \(node.kindDescription)", at: node.mark)
            return nil
        }
    }

    mutating func sequence(_ node: YAMLNode, what: String) -> [YAMLNode]? {
        switch node {
        case .sequence(let i, _): return i
        case .scalar(let s) where s.isNull: return []
        default:
            error("expected-list", "\(what) must be a list, not \(node.kindDescription)", at: node.mark)
            return nil
        }
    }

    mutating func string(_ node: YAMLNode, what: String) -> String? {
        if case .scalar(let s) = node, !s.isNull { return s.value }
        error("expected-string", "\(what) must be a string, not \(node.kindDescription)", at: node.mark)
        return nil
    }

    mutating func bool(_ node: YAMLNode, what: String) -> Bool? {
        if case .scalar(let s) = node, s.style == .plain, case .boolean(let b) = PlainScalar.classify(s.value) { return b }
        if !strict, case .scalar(let s) = node, s.style == .plain, let b = PlainScalar.yaml11Boolean(s.value) {
            yaml11Booleans.append((s.value, s.mark))
            return b
        }
        error("expected-boolean", "\(what) must be true or false, not \(node.kindDescription)",
              hint: strict && node.scalar.map({ PlainScalar.yaml11Boolean($0.value) != nil }) == true
                  ? "\"\(node.scalar?.value ?? "")\" is a boolean in YAML 1.1 only; write true or false" : nil,
              at: node.mark)
        return nil
    }

    mutating func stringList(_ node: YAMLNode, what: String) -> [(name: String, mark: Mark)]? {
        if case .scalar(let s) = node, !s.isNull { return [(s.value, s.mark)] }
        guard let items = sequence(node, what: what) else { return nil }
        var out: [(String, Mark)] = []
        for item in items {
            if let s = string(item, what: "each entry of \(what)") { out.append((s, item.mark)) }
        }
        return out
    }

    mutating func unknownKey(_ e: YAMLEntry, allowed: [String], in what: String) {
        var hint = "allowed keys: " + allowed.joined(separator: ", ")
        if let m = closestMatch(to: e.key, in: allowed) { hint = "did you mean \"\(m)\"? " + hint }
        error("unknown-key", "unknown key \"\(e.key)\" in \(what)", hint: hint, at: e.keyMark, key: e.key)
    }

    /// Runs `body` with `key` appended to the YAML path.
    mutating func at<T>(_ key: String, _ body: (inout TemplateParser) -> T) -> T {
        path.append(key)
        defer { path.removeLast() }
        return body(&self)
    }

    /// Entries that must each be a single-key map (TOSCA's ordered lists of named things).
    mutating func namedList(_ node: YAMLNode, what: String) -> [YAMLEntry] {
        if case .mapping(let e, _) = node { return e }  // tolerated: a map instead of a list of maps
        guard let items = sequence(node, what: what) else { return [] }
        var out: [YAMLEntry] = []
        for (i, item) in items.enumerated() {
            if case .mapping(let e, _) = item, e.count == 1 {
                out.append(e[0])
            } else {
                at("\(i)") { p in
                    p.error("expected-single-key-map", "each entry of \(what) must be a map with one key (its name), not \(item.kindDescription)",
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

    // MARK: - types

    static let commonTypeKeys = ["derived_from", "version", "metadata", "description"]
    static func typeKeys(_ kind: TypeKind) -> [String] {
        switch kind {
        case .data: return commonTypeKeys + ["constraints", "properties", "key_schema", "entry_schema"]
        case .artifact: return commonTypeKeys + ["mime_type", "file_ext", "properties"]
        case .capability: return commonTypeKeys + ["properties", "attributes", "valid_source_types"]
        case .interface: return commonTypeKeys + ["inputs", "operations", "notifications"]
        case .relationship: return commonTypeKeys + ["properties", "attributes", "interfaces", "valid_target_types"]
        case .node: return commonTypeKeys + ["properties", "attributes", "requirements", "capabilities", "interfaces", "artifacts"]
        case .group: return commonTypeKeys + ["properties", "attributes", "members", "requirements", "capabilities", "interfaces"]
        case .policy: return commonTypeKeys + ["properties", "targets", "triggers"]
        }
    }

    mutating func parseType(_ kind: TypeKind, _ d: YAMLEntry) -> TypeDefinition? {
        guard let entries = mapping(d.value, what: "\(kind.label) \"\(d.key)\"") else { return nil }
        let allowed = Self.typeKeys(kind)
        var derivedFrom: String?, derivedMark = d.keyMark, version: String?, description: String?
        var properties: [PropertyDefinition] = [], attributes: [PropertyDefinition] = []
        var requirements: [RequirementDefinition] = [], capabilities: [CapabilityDefinition] = []
        var interfaces: [InterfaceDefinition] = [], constraints: [YAMLNode] = []
        var keySchema: SchemaDefinition?, entrySchema: SchemaDefinition?
        var validTypes: [(name: String, mark: Mark)]?, operations: [String] = []
        for e in entries {
            at(e.key) { p in
                switch e.key {
                case "derived_from": derivedFrom = p.string(e.value, what: "derived_from"); derivedMark = e.value.mark
                case "version": version = e.value.string
                case "description": description = p.string(e.value, what: "description")
                case "metadata": _ = p.mapping(e.value, what: "metadata")
                case "properties" where allowed.contains("properties"):
                    properties = p.parsePropertyDefinitions(e.value, attribute: false)
                case "attributes" where allowed.contains("attributes"):
                    attributes = p.parsePropertyDefinitions(e.value, attribute: true)
                case "inputs" where kind == .interface:
                    _ = p.parsePropertyDefinitions(e.value, attribute: false)
                case "constraints" where kind == .data:
                    constraints = p.sequence(e.value, what: "constraints") ?? []
                case "key_schema" where kind == .data: keySchema = p.parseSchema(e.value, what: "key_schema")
                case "entry_schema" where kind == .data: entrySchema = p.parseSchema(e.value, what: "entry_schema")
                case "requirements" where allowed.contains("requirements"):
                    requirements = p.parseRequirementDefinitions(e.value)
                case "capabilities" where allowed.contains("capabilities"):
                    capabilities = p.parseCapabilityDefinitions(e.value)
                case "interfaces" where allowed.contains("interfaces"):
                    interfaces = p.parseInterfaceDefinitions(e.value)
                case "artifacts" where kind == .node: _ = p.mapping(e.value, what: "artifacts")
                case "mime_type" where kind == .artifact, "file_ext" where kind == .artifact: break
                case "valid_source_types" where kind == .capability, "valid_target_types" where kind == .relationship,
                     "members" where kind == .group, "targets" where kind == .policy:
                    validTypes = p.stringList(e.value, what: e.key)
                case "triggers" where kind == .policy: _ = p.mapping(e.value, what: "triggers")
                case "operations" where kind == .interface, "notifications" where kind == .interface:
                    for o in p.mapping(e.value, what: e.key) ?? [] { operations.append(o.key) }
                default:
                    if kind == .interface {
                        operations.append(e.key)  // TOSCA 1.0–1.2 style: operations directly in the type
                    } else {
                        p.path.removeLast()
                        p.unknownKey(e, allowed: allowed, in: "\(kind.label) \"\(d.key)\"")
                        p.path.append(e.key)
                    }
                }
            }
        }
        return TypeDefinition(
            kind: kind, name: d.key, derivedFrom: derivedFrom, derivedFromMark: derivedMark, version: version,
            description: description, properties: properties, attributes: attributes, requirements: requirements,
            capabilities: capabilities, interfaces: interfaces, constraints: constraints, keySchema: keySchema,
            entrySchema: entrySchema, validTypes: validTypes, operations: operations, isNormative: normative,
            source: ref(d.keyMark))
    }

    static let propertyKeys = ["type", "description", "required", "default", "value", "status", "constraints",
                               "key_schema", "entry_schema", "external-schema", "metadata"]
    static let attributeKeys = ["type", "description", "default", "status", "key_schema", "entry_schema", "metadata"]

    mutating func parsePropertyDefinitions(_ node: YAMLNode, attribute: Bool) -> [PropertyDefinition] {
        var out: [PropertyDefinition] = []
        for e in mapping(node, what: attribute ? "attributes" : "properties") ?? [] {
            if let d = at(e.key, { $0.parsePropertyDefinition(e, attribute: attribute, parameter: false) }) { out.append(d) }
        }
        return out
    }

    /// A property, attribute or parameter (input/output) definition.
    mutating func parsePropertyDefinition(_ e: YAMLEntry, attribute: Bool, parameter: Bool) -> PropertyDefinition? {
        let what = parameter ? "input \"\(e.key)\"" : (attribute ? "attribute \"\(e.key)\"" : "property \"\(e.key)\"")
        guard let entries = mapping(e.value, what: what) else { return nil }
        let allowed = attribute ? Self.attributeKeys : Self.propertyKeys
        var type: String?, typeMark = e.keyMark, description: String?, required = true
        var defaultValue: YAMLNode?, value: YAMLNode?, status: String?, constraints: [YAMLNode] = []
        var keySchema: SchemaDefinition?, entrySchema: SchemaDefinition?
        for k in entries {
            at(k.key) { p in
                switch k.key {
                case "type": type = p.string(k.value, what: "type"); typeMark = k.value.mark
                case "description": description = p.string(k.value, what: "description")
                case "required" where !attribute: required = p.bool(k.value, what: "required") ?? true
                case "default":
                    if !p.strict, case .scalar(let v) = k.value, v.isNull, v.style == .plain {
                        // `default:` left empty: tosca-parser reads it as no default
                        p.emptyDefaults.append((e.key, k.keyMark))
                    } else {
                        defaultValue = k.value
                    }
                case "value" where !attribute: value = k.value
                case "status": status = p.string(k.value, what: "status")
                case "constraints" where !attribute: constraints = p.sequence(k.value, what: "constraints") ?? []
                case "key_schema": keySchema = p.parseSchema(k.value, what: "key_schema")
                case "entry_schema": entrySchema = p.parseSchema(k.value, what: "entry_schema")
                case "metadata", "external-schema": break
                default:
                    p.path.removeLast()
                    p.unknownKey(k, allowed: allowed, in: what)
                    p.path.append(k.key)
                }
            }
        }
        if type == nil {
            if parameter {
                type = "any"  // TOSCA 1.3 makes an input's type optional
            } else {
                error("missing-type", "\(what) has no \"type\"", hint: "add e.g. \"type: string\"", at: e.keyMark)
                return nil
            }
        }
        let schema = SchemaDefinition(type: type ?? "any", typeMark: typeMark, description: description, constraints: constraints,
                                      entrySchema: entrySchema, keySchema: keySchema, source: ref(e.keyMark))
        return PropertyDefinition(name: e.key, schema: schema, required: required, defaultValue: defaultValue, value: value,
                                  status: status, source: ref(e.keyMark))
    }

    mutating func parseSchema(_ node: YAMLNode, what: String) -> SchemaDefinition? {
        if case .scalar(let s) = node, !s.isNull {
            return SchemaDefinition(type: s.value, typeMark: s.mark, description: nil, constraints: [], entrySchema: nil,
                                    keySchema: nil, source: ref(s.mark))
        }
        guard let entries = mapping(node, what: what) else { return nil }
        var type: String?, typeMark = node.mark, description: String?, constraints: [YAMLNode] = []
        var entrySchema: SchemaDefinition?, keySchema: SchemaDefinition?
        for k in entries {
            at(k.key) { p in
                switch k.key {
                case "type": type = p.string(k.value, what: "type"); typeMark = k.value.mark
                case "description": description = p.string(k.value, what: "description")
                case "constraints": constraints = p.sequence(k.value, what: "constraints") ?? []
                case "entry_schema": entrySchema = p.parseSchema(k.value, what: "entry_schema")
                case "key_schema": keySchema = p.parseSchema(k.value, what: "key_schema")
                default:
                    p.path.removeLast()
                    p.unknownKey(k, allowed: ["type", "description", "constraints", "entry_schema", "key_schema"], in: what)
                    p.path.append(k.key)
                }
            }
        }
        guard let type else {
            error("missing-type", "\(what) has no \"type\"", at: node.mark)
            return nil
        }
        return SchemaDefinition(type: type, typeMark: typeMark, description: description, constraints: constraints,
                                entrySchema: entrySchema, keySchema: keySchema, source: ref(node.mark))
    }

    mutating func parseOccurrences(_ node: YAMLNode) -> (Int, Int?)? {
        guard let items = node.items, items.count == 2,
              let lo = items[0].string.flatMap({ Int($0) }), lo >= 0 else {
            error("bad-occurrences", "occurrences must be a list of two bounds, e.g. [0, UNBOUNDED]", at: node.mark)
            return nil
        }
        if items[1].string == "UNBOUNDED" { return (lo, nil) }
        guard let hi = items[1].string.flatMap({ Int($0) }), hi >= lo, hi > 0 else {
            error("bad-occurrences", "the upper bound of occurrences must be a positive integer ≥ the lower bound, or UNBOUNDED", at: items[1].mark)
            return nil
        }
        return (lo, hi)
    }

    mutating func parseRequirementDefinitions(_ node: YAMLNode) -> [RequirementDefinition] {
        var out: [RequirementDefinition] = []
        for (i, e) in namedList(node, what: "requirements").enumerated() {
            at("\(i)") { p in
                p.at(e.key) { p in
                    var def = RequirementDefinition(name: e.key, capability: nil, node: nil, relationship: nil,
                                                    occurrences: (1, 1), occurrencesExplicit: false, source: p.ref(e.keyMark))
                    if case .scalar(let s) = e.value, !s.isNull {
                        def.capability = s.value
                    } else if let entries = p.mapping(e.value, what: "requirement \"\(e.key)\"") {
                        for k in entries {
                            switch k.key {
                            case "capability": def.capability = p.at(k.key) { $0.string(k.value, what: "capability") }
                            case "node": def.node = p.at(k.key) { $0.string(k.value, what: "node") }
                            case "relationship":
                                if case .scalar(let s) = k.value { def.relationship = s.value } else { def.relationship = k.value["type"]?.string }
                            case "occurrences":
                                if let o = p.at(k.key, { $0.parseOccurrences(k.value) }) {
                                    def.occurrences = o
                                    def.occurrencesExplicit = true
                                }
                            case "description", "node_filter": break
                            default: p.unknownKey(k, allowed: ["capability", "node", "relationship", "occurrences", "description", "node_filter"],
                                                  in: "requirement \"\(e.key)\"")
                            }
                        }
                    }
                    out.append(def)
                }
            }
        }
        return out
    }

    mutating func parseCapabilityDefinitions(_ node: YAMLNode) -> [CapabilityDefinition] {
        var out: [CapabilityDefinition] = []
        for e in mapping(node, what: "capabilities") ?? [] {
            at(e.key) { p in
                if case .scalar(let s) = e.value, !s.isNull {
                    out.append(CapabilityDefinition(name: e.key, type: s.value, properties: [], attributes: [], validSourceTypes: nil,
                                                    source: p.ref(e.keyMark)))
                    return
                }
                guard let entries = p.mapping(e.value, what: "capability \"\(e.key)\"") else { return }
                var def = CapabilityDefinition(name: e.key, type: "", properties: [], attributes: [], validSourceTypes: nil,
                                               source: p.ref(e.keyMark))
                for k in entries {
                    p.at(k.key) { p in
                        switch k.key {
                        case "type": def.type = p.string(k.value, what: "type") ?? ""; def.source.mark = k.value.mark
                        case "properties": def.properties = p.parsePropertyDefinitions(k.value, attribute: false)
                        case "attributes": def.attributes = p.parsePropertyDefinitions(k.value, attribute: true)
                        case "valid_source_types": def.validSourceTypes = p.stringList(k.value, what: "valid_source_types")?.map(\.name)
                        case "occurrences": _ = p.parseOccurrences(k.value)
                        case "description", "metadata": break
                        default:
                            p.path.removeLast()
                            p.unknownKey(k, allowed: ["type", "description", "properties", "attributes", "valid_source_types", "occurrences"],
                                         in: "capability \"\(e.key)\"")
                            p.path.append(k.key)
                        }
                    }
                }
                if def.type.isEmpty {
                    p.error("missing-type", "capability \"\(e.key)\" has no \"type\"", at: e.keyMark)
                } else {
                    out.append(def)
                }
            }
        }
        return out
    }

    mutating func parseInterfaceDefinitions(_ node: YAMLNode) -> [InterfaceDefinition] {
        var out: [InterfaceDefinition] = []
        for e in mapping(node, what: "interfaces") ?? [] {
            at(e.key) { p in
                guard let entries = p.mapping(e.value, what: "interface \"\(e.key)\"") else { return }
                var def = InterfaceDefinition(name: e.key, type: "", operations: [], source: p.ref(e.keyMark))
                for k in entries {
                    switch k.key {
                    case "type": def.type = p.at(k.key) { $0.string(k.value, what: "type") } ?? ""; def.source.mark = k.value.mark
                    case "inputs", "description": break
                    case "operations", "notifications": def.operations += (k.value.entries ?? []).map(\.key)
                    default: def.operations.append(k.key)
                    }
                }
                if def.type.isEmpty, !p.strict, let normative = Self.shortInterfaceTypes[e.key] {
                    // TOSCA 1.0's short form: the normative interface named by its short name
                    def.type = normative
                    p.shortInterfaces.append((e.key, e.keyMark))
                }
                if def.type.isEmpty {
                    p.error("missing-type", "interface \"\(e.key)\" has no \"type\"",
                            hint: Self.shortInterfaceTypes[e.key].map { "add \"type: \($0)\"" }, at: e.keyMark)
                } else {
                    out.append(def)
                }
            }
        }
        return out
    }

    // MARK: - topology template

    static let topologyKeys = ["description", "inputs", "node_templates", "relationship_templates", "groups", "policies",
                               "outputs", "substitution_mappings", "workflows"]

    mutating func parseTopology(_ node: YAMLNode) -> TopologyTemplate? {
        guard let entries = mapping(node, what: "topology_template") else { return nil }
        var t = TopologyTemplate()
        for e in entries {
            at(e.key) { p in
                switch e.key {
                case "description": t.description = p.string(e.value, what: "description")
                case "inputs":
                    for i in p.mapping(e.value, what: "inputs") ?? [] {
                        if let d = p.at(i.key, { $0.parsePropertyDefinition(i, attribute: false, parameter: true) }) { t.inputs.append(d) }
                    }
                case "node_templates":
                    let list = p.mapping(e.value, what: "node_templates") ?? []
                    t.nodeTemplates.reserveCapacity(list.count)
                    for n in list {
                        if let nt = p.at(n.key, { $0.parseNodeTemplate(n) }) { t.nodeTemplates.append(nt) }
                    }
                case "relationship_templates":
                    for r in p.mapping(e.value, what: "relationship_templates") ?? [] {
                        if let rt = p.at(r.key, { $0.parseRelationshipTemplate(r) }) { t.relationshipTemplates.append(rt) }
                    }
                case "groups":
                    for g in p.mapping(e.value, what: "groups") ?? [] {
                        if let gd = p.at(g.key, { $0.parseMember(g, group: true) }) { t.groups.append(gd) }
                    }
                case "policies":
                    for (i, pe) in p.namedList(e.value, what: "policies").enumerated() {
                        let path = e.value.items == nil ? pe.key : "\(i).\(pe.key)"
                        if let pd = p.at(path, { $0.parseMember(pe, group: false) }) { t.policies.append(pd) }
                    }
                case "outputs":
                    for o in p.mapping(e.value, what: "outputs") ?? [] {
                        p.at(o.key) { p in
                            guard let entries = p.mapping(o.value, what: "output \"\(o.key)\"") else { return }
                            var out = OutputDefinition(name: o.key, value: nil, type: nil, description: nil, source: p.ref(o.keyMark))
                            for k in entries {
                                switch k.key {
                                case "value": out.value = k.value
                                case "type": out.type = p.at(k.key) { $0.string(k.value, what: "type") }
                                case "description": out.description = k.value.string
                                case "required", "status", "constraints", "entry_schema", "key_schema", "metadata", "default": break
                                default: p.unknownKey(k, allowed: ["value", "type", "description", "required", "status", "constraints",
                                                                   "entry_schema", "key_schema", "metadata"], in: "output \"\(o.key)\"")
                                }
                            }
                            if out.value == nil {
                                p.error("missing-key", "output \"\(o.key)\" has no \"value\"", hint: "add e.g. value: { get_attribute: [node, attribute] }", at: o.keyMark)
                            }
                            t.outputs.append(out)
                        }
                    }
                case "substitution_mappings":
                    t.substitutionMappings = e.value
                    t.substitutionMark = e.keyMark
                case "workflows": _ = p.mapping(e.value, what: "workflows")
                default:
                    p.path.removeLast()
                    p.unknownKey(e, allowed: Self.topologyKeys, in: "topology_template")
                    p.path.append(e.key)
                }
            }
        }
        return t
    }

    static let nodeTemplateKeys = ["type", "description", "metadata", "directives", "properties", "attributes", "requirements",
                                   "capabilities", "interfaces", "artifacts", "node_filter", "copy"]

    mutating func parseNodeTemplate(_ e: YAMLEntry) -> NodeTemplate? {
        guard let entries = mapping(e.value, what: "node template \"\(e.key)\"") else { return nil }
        var nt = NodeTemplate(name: e.key, type: "", typeMark: e.keyMark, description: nil, metadata: [], directives: [],
                              properties: [], attributes: [], requirements: [], capabilities: [], interfaces: [], artifacts: [],
                              nodeFilter: nil, copy: nil, source: ref(e.keyMark))
        for k in entries {
            switch k.key {
            case "type": nt.type = at(k.key) { $0.string(k.value, what: "type") } ?? ""; nt.typeMark = k.value.mark
            case "description": nt.description = k.value.string
            case "metadata": nt.metadata = at(k.key) { $0.mapping(k.value, what: "metadata") } ?? []
            case "directives": nt.directives = at(k.key) { $0.stringList(k.value, what: "directives") }?.map(\.name) ?? []
            case "properties": nt.properties = at(k.key) { $0.mapping(k.value, what: "properties") } ?? []
            case "attributes": nt.attributes = at(k.key) { $0.mapping(k.value, what: "attributes") } ?? []
            case "requirements": nt.requirements = at(k.key) { $0.parseRequirementAssignments(k.value) }
            case "capabilities":
                at(k.key) { p in
                    for c in p.mapping(k.value, what: "capabilities") ?? [] {
                        p.at(c.key) { p in
                            guard let ce = p.mapping(c.value, what: "capability \"\(c.key)\"") else { return }
                            var ca = CapabilityAssignment(name: c.key, properties: [], attributes: [], source: p.ref(c.keyMark))
                            for x in ce {
                                switch x.key {
                                case "properties": ca.properties = p.at(x.key) { $0.mapping(x.value, what: "properties") } ?? []
                                case "attributes": ca.attributes = p.at(x.key) { $0.mapping(x.value, what: "attributes") } ?? []
                                case "occurrences", "description": break
                                default: p.unknownKey(x, allowed: ["properties", "attributes", "occurrences"], in: "capability \"\(c.key)\"")
                                }
                            }
                            nt.capabilities.append(ca)
                        }
                    }
                }
            case "interfaces": nt.interfaces = at(k.key) { $0.mapping(k.value, what: "interfaces") } ?? []
            case "artifacts": nt.artifacts = at(k.key) { $0.mapping(k.value, what: "artifacts") } ?? []
            case "node_filter": nt.nodeFilter = k.value
            case "copy": nt.copy = k.value.string; nt.copyMark = k.value.mark
            default: unknownKey(k, allowed: Self.nodeTemplateKeys, in: "node template \"\(e.key)\"")
            }
        }
        if nt.type.isEmpty && nt.copy == nil {
            if entries.contains(where: { $0.key == "type" }) == false {
                error("missing-type", "node template \"\(e.key)\" has no \"type\"", hint: "add e.g. \"type: dte.nodes.BatchJob\"", at: e.keyMark)
            }
            return nil
        }
        return nt
    }

    mutating func parseRequirementAssignments(_ node: YAMLNode) -> [RequirementAssignment] {
        var out: [RequirementAssignment] = []
        guard let items = sequence(node, what: "requirements") else { return [] }
        for (i, item) in items.enumerated() {
            at("\(i)") { p in
                guard case .mapping(let es, _) = item, es.count == 1 else {
                    p.error("expected-single-key-map", "each requirement must be a map with one key (the requirement's name), not \(item.kindDescription)",
                            hint: "write \"- host: my_server\"", at: item.mark)
                    return
                }
                let e = es[0]
                p.at(e.key) { p in
                    var ra = RequirementAssignment(name: e.key, node: nil, nodeMark: e.value.mark, capability: nil, relationship: nil,
                                                   nodeFilter: nil, source: p.ref(e.keyMark))
                    if case .scalar(let s) = e.value, !s.isNull {
                        ra.node = s.value
                    } else if let entries = p.mapping(e.value, what: "requirement \"\(e.key)\"") {
                        for k in entries {
                            switch k.key {
                            case "node": ra.node = p.at(k.key) { $0.string(k.value, what: "node") }; ra.nodeMark = k.value.mark
                            case "capability":
                                ra.capability = p.at(k.key) { $0.string(k.value, what: "capability") }
                                ra.capabilityMark = k.value.mark
                            case "relationship":
                                if case .scalar(let s) = k.value {
                                    ra.relationship = s.value
                                    ra.relationshipMark = s.mark
                                } else {
                                    p.at(k.key) { p in
                                        for r in p.mapping(k.value, what: "relationship") ?? [] {
                                            switch r.key {
                                            case "type": ra.relationship = p.string(r.value, what: "type"); ra.relationshipMark = r.value.mark
                                            case "properties": ra.relationshipProperties = p.at(r.key) { $0.mapping(r.value, what: "properties") } ?? []
                                            case "interfaces", "description", "metadata": break
                                            default: p.unknownKey(r, allowed: ["type", "properties", "interfaces"], in: "relationship")
                                            }
                                        }
                                    }
                                }
                            case "node_filter": ra.nodeFilter = k.value
                            case "occurrences", "description", "metadata": break
                            default: p.unknownKey(k, allowed: ["node", "capability", "relationship", "node_filter", "occurrences"],
                                                  in: "requirement \"\(e.key)\"")
                            }
                        }
                    }
                    out.append(ra)
                }
            }
        }
        return out
    }

    mutating func parseRelationshipTemplate(_ e: YAMLEntry) -> RelationshipTemplate? {
        guard let entries = mapping(e.value, what: "relationship template \"\(e.key)\"") else { return nil }
        var rt = RelationshipTemplate(name: e.key, type: "", typeMark: e.keyMark, properties: [], attributes: [], interfaces: [],
                                      source: ref(e.keyMark))
        for k in entries {
            switch k.key {
            case "type": rt.type = at(k.key) { $0.string(k.value, what: "type") } ?? ""; rt.typeMark = k.value.mark
            case "properties": rt.properties = at(k.key) { $0.mapping(k.value, what: "properties") } ?? []
            case "attributes": rt.attributes = at(k.key) { $0.mapping(k.value, what: "attributes") } ?? []
            case "interfaces": rt.interfaces = at(k.key) { $0.mapping(k.value, what: "interfaces") } ?? []
            case "description", "metadata", "copy": break
            default: unknownKey(k, allowed: ["type", "description", "metadata", "properties", "attributes", "interfaces", "copy"],
                                in: "relationship template \"\(e.key)\"")
            }
        }
        if rt.type.isEmpty {
            error("missing-type", "relationship template \"\(e.key)\" has no \"type\"", at: e.keyMark)
            return nil
        }
        return rt
    }

    mutating func parseMember(_ e: YAMLEntry, group: Bool) -> MemberDefinition? {
        let what = group ? "group \"\(e.key)\"" : "policy \"\(e.key)\""
        guard let entries = mapping(e.value, what: what) else { return nil }
        var md = MemberDefinition(name: e.key, type: "", typeMark: e.keyMark, description: nil, properties: [], members: [],
                                  triggers: [], source: ref(e.keyMark))
        let membersKey = group ? "members" : "targets"
        let allowed = group ? ["type", "description", "metadata", "properties", "attributes", "members", "interfaces"]
                            : ["type", "description", "metadata", "properties", "targets", "triggers"]
        for k in entries {
            guard allowed.contains(k.key) else {
                unknownKey(k, allowed: allowed, in: what)
                continue
            }
            switch k.key {
            case "type": md.type = at(k.key) { $0.string(k.value, what: "type") } ?? ""; md.typeMark = k.value.mark
            case "description": md.description = k.value.string
            case "metadata", "attributes", "interfaces": break
            case "properties": md.properties = at(k.key) { $0.mapping(k.value, what: "properties") } ?? []
            case membersKey: md.members = at(k.key) { $0.stringList(k.value, what: membersKey) } ?? []
            case "triggers" where !group: md.triggers = at(k.key) { $0.mapping(k.value, what: "triggers") } ?? []
            default: unknownKey(k, allowed: allowed, in: what)
            }
        }
        if md.type.isEmpty {
            error("missing-type", "\(what) has no \"type\"", at: e.keyMark)
            return nil
        }
        return md
    }
}
