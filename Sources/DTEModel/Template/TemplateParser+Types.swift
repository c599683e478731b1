/// Type definitions: data, artifact, capability, interface, relationship, node, group and policy
/// types, with their property, requirement, capability and interface definitions.
extension TemplateParser {
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
}
