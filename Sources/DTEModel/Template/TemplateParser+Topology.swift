/// The topology template: inputs, outputs, node and relationship templates, groups and policies.
extension TemplateParser {
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
                    t.nodeTemplates = p.parseNodeTemplates(p.mapping(e.value, what: "node_templates") ?? [])
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
