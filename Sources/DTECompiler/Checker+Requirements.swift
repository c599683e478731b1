import DTEModel

/// Requirements (their targets' types and capabilities, node filters), checked with each node
/// template in phase 4; then phase 5: relationship templates, groups, policies, outputs and
/// substitution mappings: the compiled model.
extension CheckedNodes {
    /// Phase 5: the model of the checked nodes, with the relationship templates, groups,
    /// policies, outputs and substitution mappings of every topology.
    static func checkMembers(_ checked: CheckedNodes, diagnostics: inout [Diagnostic]) -> CompiledModel {
        let index = checked.index
        var model = CompiledModel()
        model.nodes = checked.nodes
        model.inputs = index.inputs
        let scope = CheckScope(index)
        for f in index.types.sources.allFiles {
            guard let topo = f.template.topology, let table = index.types.tables.byFile[f.path] else { continue }
            scope.checkMembers(topo, file: f, table: table, into: &model)
        }
        diagnostics += scope.diagnostics
        return model
    }
}

extension CheckScope {
    func checkRequirements(_ nt: NodeTemplate, type: TypeDefinition, ctx: EvalContext) -> [ResolvedRequirement] {
        let defs = ctx.table.requirements(type)
        var out: [ResolvedRequirement] = []
        out.reserveCapacity(nt.requirements.count)
        var counts: [String: Int] = [:]
        // assignments and definitions are read where they are (a copy of either retains each of its
        // fields, on objects every worker shares)
        nt.requirements.withUnsafeBufferPointer { assignments in
            defs.withUnsafeBufferPointer { declared in
                for a in assignments.indices {
                    if let d = declared.lastIndex(where: { $0.name == assignments[a].name }) {
                        out.append(checkRequirement(assignments[a], def: declared[d], nt: nt, type: type, ctx: ctx, counts: &counts))
                    } else if let def = undeclaredRequirement(assignments[a], nt: nt, type: type, defs: defs, ctx: ctx) {
                        out.append(checkRequirement(assignments[a], def: def, nt: nt, type: type, ctx: ctx, counts: &counts))
                    }
                }
            }
        }
        for d in defs.indices where defs[d].occurrencesExplicit {
            let n = counts[defs[d].name] ?? 0
            let lower = defs[d].occurrences.lower
            if n < lower {
                error("requirement-missing", "\"\(nt.name)\" must fulfil requirement \"\(defs[d].name)\" at least \(lower) time\(lower == 1 ? "" : "s")",
                      hint: "add \"- \(defs[d].name): <node template>\" under requirements", file: ctx.file, mark: nt.source.mark, path: nt.source.path)
            }
        }
        return out
    }

    /// One requirement assignment against its definition.
    private func checkRequirement(_ ra: RequirementAssignment, def: RequirementDefinition, nt: NodeTemplate, type: TypeDefinition,
                                  ctx: EvalContext, counts: inout [String: Int]) -> ResolvedRequirement {
        let table = ctx.table
        let n = (counts[ra.name] ?? 0) + 1
        counts[ra.name] = n
        if def.occurrencesExplicit, let up = def.occurrences.upper, n == up + 1 {
            error("requirement-too-many", "\"\(nt.name)\" fulfils requirement \"\(ra.name)\" \(n) times; \(type.name) allows at most \(up)",
                  hint: "remove this entry", file: ctx.file, mark: ra.source.mark, path: ra.source.path)
        }
        var relationship = def.relationship
        if let rel = ra.relationship {
            if let rtype = table.lookup(.relationship, rel) {
                if let want = def.relationship, table.lookup(.relationship, want) != nil, !table.derives(rtype, from: want) {
                    error("requirement-type-mismatch",
                          "requirement \"\(ra.name)\" of \"\(nt.name)\" uses relationship \(rel), but \(type.name) declares it with \(want)",
                          hint: "use \(want) or a type derived from it", file: ctx.file, mark: ra.relationshipMark, path: ra.source.path + ".relationship")
                }
                relationship = rel
                if !ra.relationshipProperties.isEmpty {
                    _ = checkAssignments(ra.relationshipProperties, defs: table.properties(rtype),
                                         owner: "relationship of requirement \"\(ra.name)\" of \"\(nt.name)\"", typeName: rtype.name, ctx: ctx,
                                         path: ra.source.path + ".relationship.properties", mark: ra.relationshipMark)
                }
            } else {
                error("unknown-type", "requirement \"\(ra.name)\" of \"\(nt.name)\" names unknown relationship type \"\(rel)\"",
                      hint: Self.didYouMean(rel, table.names(.relationship)), file: ctx.file, mark: ra.relationshipMark,
                      path: ra.source.path + ".relationship")
            }
        }
        var target: String?
        if let n = ra.node {
            if let tref = nodeIndex[n] {
                target = n
                if let ttype = tref.type {
                    checkRequirementTarget(ra, def: def, nt: nt, target: n, tref: tref, ttype: ttype, ctx: ctx)
                }
            } else if table.lookup(.node, n) != nil {
                target = nil  // an abstract requirement naming a node type, fulfilled by the orchestrator
            } else {
                error("unknown-node", "requirement \"\(ra.name)\" of \"\(nt.name)\" refers to node template \"\(n)\", which does not exist",
                      hint: Self.didYouMean(n, Array(nodeIndex.keys)) ?? "define the node template or fix the name",
                      file: ctx.file, mark: ra.nodeMark, path: ra.source.path)
            }
        }
        if let nf = ra.nodeFilter {
            checkNodeFilter(nf, targetType: def.node.flatMap { table.lookup(.node, $0) }, ctx: ctx, path: ra.source.path + ".node_filter")
        }
        return ResolvedRequirement(name: ra.name, target: target, relationship: relationship, mark: ra.source.mark)
    }

    /// A requirement the node type does not declare. tosca-parser takes one written out in full
    /// (a node template and the capability it connects to) as an extra requirement of the
    /// template; so does DTE, with a warning, and checks the target offers the capability. Anything
    /// else (and everything under --strict) is an unknown requirement.
    func undeclaredRequirement(_ ra: RequirementAssignment, nt: NodeTemplate, type: TypeDefinition, defs: [RequirementDefinition],
                               ctx: EvalContext) -> RequirementDefinition? {
        if !options.strict, let target = ra.node, nodeIndex[target] != nil, let capability = ra.capability {
            warning("undeclared-requirement",
                    "\"\(nt.name)\": type \(type.name) declares no requirement \"\(ra.name)\"; it is read as an extra requirement on \"\(target)\"'s"
                        + " \(capability), as tosca-parser reads it",
                    hint: "declare \"\(ra.name)\" in a node type derived from \(type.name) (\(Spec.requirementAssignment): an assignment names a requirement"
                        + " its node type defines; dte validate --strict refuses it)",
                    file: ctx.file, mark: ra.source.mark, path: ra.source.path)
            return RequirementDefinition(name: ra.name, capability: ctx.table.lookup(.capability, capability) != nil ? capability : nil, node: nil,
                                         relationship: ra.relationship, occurrences: (0, nil), occurrencesExplicit: false, source: ra.source)
        }
        let written = ra.node != nil && ra.capability != nil
        error("unknown-requirement", "\"\(nt.name)\": type \(type.name) has no requirement \"\(ra.name)\"",
              hint: Self.didYouMean(ra.name, defs.map(\.name), list: true)
                  ?? (written ? "declare it in a node type derived from \(type.name) (\(Spec.requirementAssignment))" : nil),
              file: ctx.file, mark: ra.source.mark, path: ra.source.path)
        return nil
    }

    /// The target node fits the requirement: its type, and a capability of the wanted type.
    func checkRequirementTarget(_ ra: RequirementAssignment, def: RequirementDefinition, nt: NodeTemplate, target n: String, tref: NodeRef,
                                ttype: TypeDefinition, ctx: EvalContext) {
        let table = ctx.table
        let tcaps = tref.table.capabilities(ttype)
        if let want = def.node, let wt = table.lookup(.node, want), !tref.table.ancestors(ttype).contains(where: { $0 === wt }) {
            // TOSCA 1.0–1.3 (§3.7.3) name in `node` a type that contains the capability, and the
            // capability is what fulfils the requirement: a target of another type that offers it is
            // what tosca-parser accepts, and it deploys
            let offered = def.capability.flatMap { want in tcaps.first { tref.table.derives(.capability, $0.type, from: want) } }
            guard !options.strict, let offered else {
                error("requirement-type-mismatch",
                      "requirement \"\(ra.name)\" of \"\(nt.name)\" needs a node of type \(want), but \"\(n)\" is a \(ttype.name)",
                      hint: "point it at a \(want) node template (\(Spec.requirementDefinition): the target's type derives from the requirement's node type)",
                      file: ctx.file, mark: ra.nodeMark, path: ra.source.path)
                return
            }
            warning("requirement-node-type",
                    "requirement \"\(ra.name)\" of \"\(nt.name)\" names node type \(want), and \"\(n)\" is of type \(ttype.name), which does not derive from it;"
                        + " it is read as fulfilled by \"\(n)\"'s capability \"\(offered.name)\" (\(offered.type)), as tosca-parser reads it",
                    hint: "derive \(ttype.name) from \(want), or point the requirement at a \(want) node template (\(Spec.requirementDefinition); dte validate --strict refuses the mismatch)",
                    file: ctx.file, mark: ra.nodeMark, path: ra.source.path)
        }
        var offered: String { tcaps.map { "\($0.name) (\($0.type))" }.joined(separator: ", ") }
        if let capName = ra.capability {
            // a capability named in the assignment: by name on the target, or by type
            let mark = ra.capabilityMark == .unknown ? ra.nodeMark : ra.capabilityMark
            if let named = tcaps.first(where: { $0.name == capName }) {
                if let want = def.capability, tref.table.lookup(.capability, want) != nil, !tref.table.derives(.capability, named.type, from: want) {
                    error("requirement-type-mismatch",
                          "requirement \"\(ra.name)\" of \"\(nt.name)\" needs a \(want) capability, but \"\(n)\"'s \"\(capName)\" is a \(named.type)",
                          hint: "\"\(n)\" offers: \(offered)", file: ctx.file, mark: mark, path: ra.source.path + ".capability")
                }
            } else if !tcaps.contains(where: { tref.table.derives(.capability, $0.type, from: capName) }) {
                error("requirement-capability-missing",
                      "requirement \"\(ra.name)\" of \"\(nt.name)\" needs capability \(capName), which \"\(n)\" (\(ttype.name)) does not offer",
                      hint: "\"\(n)\" offers: \(offered)", file: ctx.file, mark: mark, path: ra.source.path + ".capability")
            }
        } else if let capName = def.capability {
            let key = CapabilityOffer(table: ObjectIdentifier(tref.table), nodeType: ObjectIdentifier(ttype), capability: capName)
            let ok = capabilityOffers[key] ?? {
                let offered = tcaps.contains { c in c.name == capName || tref.table.derives(.capability, c.type, from: capName) }
                capabilityOffers[key] = offered
                return offered
            }()
            if !ok {
                error("requirement-capability-missing",
                      "requirement \"\(ra.name)\" of \"\(nt.name)\" needs capability \(capName), which \"\(n)\" (\(ttype.name)) does not offer",
                      hint: "\"\(n)\" offers: \(offered)", file: ctx.file, mark: ra.nodeMark, path: ra.source.path)
            }
        }
    }

    func checkNodeFilter(_ nf: YAMLNode, targetType: TypeDefinition?, ctx: EvalContext, path: String) {
        guard let entries = nf.entries else {
            error("expected-map", "node_filter must be a map with \"properties\" and/or \"capabilities\"", file: ctx.file, mark: nf.mark, path: path)
            return
        }
        for e in entries {
            switch e.key {
            case "properties":
                let defs = targetType.map { propertyDefs($0, table: ctx.table) }
                checkFilterProperties(e.value, defs: defs, owner: targetType?.name, ctx: ctx, path: path + ".properties")
            case "capabilities":
                let items: [YAMLEntry]
                if let l = e.value.items { items = l.compactMap { $0.entries?.first } } else { items = e.value.entries ?? [] }
                for ce in items {
                    // a capability name on the target type, or a capability type
                    var ctype: TypeDefinition? = ctx.table.lookup(.capability, ce.key)
                    if ctype == nil, let t = targetType, let def = ctx.table.capabilities(t).first(where: { $0.name == ce.key }) {
                        ctype = ctx.table.lookup(.capability, def.type)
                    }
                    if ctype == nil, targetType != nil || !ce.key.contains(".") {
                        let names = targetType.map { ctx.table.capabilities($0).map(\.name) } ?? []
                        if targetType != nil {
                            error("unknown-capability", "node_filter: \(targetType?.name ?? "the target") has no capability \"\(ce.key)\"",
                                  hint: Self.didYouMean(ce.key, names, list: true), file: ctx.file, mark: ce.keyMark,
                                  path: path + ".capabilities." + ce.key)
                            continue
                        }
                    }
                    guard let props = ce.value["properties"] else { continue }
                    let defs = ctype.map { t in Dictionary(ctx.table.properties(t).map { ($0.name, $0) }, uniquingKeysWith: { _, b in b }) }
                    checkFilterProperties(props, defs: defs, owner: ctype?.name, ctx: ctx, path: path + ".capabilities." + ce.key + ".properties")
                }
            case "requirements": break
            default:
                error("unknown-key", "unknown key \"\(e.key)\" in node_filter", hint: "allowed keys: properties, capabilities",
                      file: ctx.file, mark: e.keyMark, path: path + "." + e.key)
            }
        }
    }

    /// `- name: [constraints]` (or `- name: { constraint }`): the property must exist and each operand fit its type.
    func checkFilterProperties(_ node: YAMLNode, defs: [String: PropertyDefinition]?, owner: String?, ctx: EvalContext, path: String) {
        let items: [YAMLEntry]
        if let l = node.items { items = l.compactMap { $0.entries?.first } } else { items = node.entries ?? [] }
        for pe in items {
            var schema: SchemaDefinition?
            if let defs {
                guard let def = defs[pe.key] else {
                    error("unknown-property", "node_filter: \(owner ?? "the target") has no property \"\(pe.key)\"",
                          hint: Self.didYouMean(pe.key, Array(defs.keys), list: true), file: ctx.file, mark: pe.keyMark, path: path + "." + pe.key)
                    continue
                }
                schema = def.schema
            }
            let clauses = pe.value.items ?? (pe.value.entries != nil ? [pe.value] : [])
            let s = SchemaDefinition(type: schema?.type ?? "any", typeMark: pe.keyMark, description: nil, constraints: clauses,
                                     entrySchema: schema?.entrySchema, keySchema: nil,
                                     source: SourceRef(file: ctx.file, mark: pe.keyMark, path: path + "." + pe.key))
            _ = constraints(for: s, table: ctx.table, file: ctx.file)
        }
    }

    func checkMember(_ m: MemberDefinition, kind: TypeKind, ctx: EvalContext) -> ResolvedMember? {
        let what = kind == .group ? "group" : "policy"
        guard let type = resolveType(kind, m.type, mark: m.typeMark, file: ctx.file, path: m.source.path + ".type", table: ctx.table) else { return nil }
        let props = checkAssignments(m.properties, defs: ctx.table.properties(type), owner: "\(what) \"\(m.name)\"", typeName: type.name,
                                     ctx: ctx, path: m.source.path + ".properties", mark: m.source.mark)
        let allowed = ctx.table.ancestors(type).lazy.compactMap(\.validTypes).first
        var members: [String] = []
        for t in m.members {
            let memberType: (TypeDefinition, TypeTable)?
            if let n = nodeIndex[t.name] {
                memberType = n.type.map { ($0, n.table) }
            } else if kind == .policy, let g = groupIndex[t.name] {
                memberType = ctx.table.lookup(.group, g.group.type).map { ($0, ctx.table) }
            } else {
                let candidates = Array(nodeIndex.keys) + (kind == .policy ? Array(groupIndex.keys) : [])
                error("unknown-node", "\(what) \"\(m.name)\" \(kind == .group ? "has member" : "targets") \"\(t.name)\", which is not a node template\(kind == .policy ? " or group" : "")",
                      hint: Self.didYouMean(t.name, candidates), file: ctx.file, mark: t.mark, path: m.source.path + (kind == .group ? ".members" : ".targets"))
                continue
            }
            members.append(t.name)
            if let allowed, !allowed.isEmpty, let (mt, mtable) = memberType {
                let ok = allowed.contains { a in mtable.ancestors(mt).contains { $0.name == a.name || mtable.lookup(mt.kind, a.name) === $0 } }
                if !ok {
                    error("invalid-target", "\(what) \"\(m.name)\" of type \(type.name) cannot \(kind == .group ? "contain" : "target") \"\(t.name)\" (\(mt.name))",
                          hint: "\(type.name) accepts: " + allowed.map(\.name).joined(separator: ", "), file: ctx.file, mark: t.mark,
                          path: m.source.path + (kind == .group ? ".members" : ".targets"))
                }
            }
        }
        return ResolvedMember(name: m.name, type: type.name, typeChain: ctx.table.ancestors(type).map(\.name), file: ctx.file,
                              mark: m.source.mark, properties: props, members: members,
                              propertyMarks: Dictionary(m.properties.map { ($0.key, $0.value.mark) }, uniquingKeysWith: { a, _ in a }),
                              path: m.source.path)
    }

    func checkSubstitution(_ sm: YAMLNode, mark: Mark, ctx: EvalContext) {
        let path = "topology_template.substitution_mappings"
        guard let entries = sm.entries else {
            error("expected-map", "substitution_mappings must be a map", file: ctx.file, mark: sm.mark, path: path)
            return
        }
        var nodeType: TypeDefinition?
        if let nt = sm["node_type"]?.string {
            nodeType = resolveType(.node, nt, mark: sm["node_type"]?.mark ?? mark, file: ctx.file, path: path + ".node_type", table: ctx.table)
        } else {
            error("missing-key", "substitution_mappings has no \"node_type\"", file: ctx.file, mark: mark, path: path)
        }
        for e in entries {
            switch e.key {
            case "node_type", "substitution_filter", "interfaces", "attributes": break
            case "properties":
                for p in e.value.entries ?? [] {
                    if let t = nodeType, propertyDefs(t, table: ctx.table)[p.key] == nil {
                        error("unknown-property", "substitution_mappings: \(t.name) has no property \"\(p.key)\"", file: ctx.file,
                              mark: p.keyMark, path: path + ".properties." + p.key)
                    }
                }
            case "capabilities", "requirements":
                for c in e.value.entries ?? [] {
                    if let items = c.value.items, let n = items.first?.string, nodeIndex[n] == nil {
                        error("unknown-node", "substitution_mappings maps \(e.key) \"\(c.key)\" to node template \"\(n)\", which does not exist",
                              hint: Self.didYouMean(n, Array(nodeIndex.keys)), file: ctx.file, mark: items[0].mark, path: path + "." + e.key + "." + c.key)
                    }
                }
            default:
                error("unknown-key", "unknown key \"\(e.key)\" in substitution_mappings",
                      hint: "allowed keys: node_type, substitution_filter, properties, attributes, capabilities, requirements, interfaces",
                      file: ctx.file, mark: e.keyMark, path: path + "." + e.key)
            }
        }
    }

    /// Relationship templates, groups, policies, outputs and substitution mappings of one topology.
    func checkMembers(_ topo: TopologyTemplate, file f: SourceFile, table: TypeTable, into model: inout CompiledModel) {
        let file = f.display
        let ctx = EvalContext(file: file, filePath: f.path, selfNode: nil, table: table)
        for rt in topo.relationshipTemplates {
            guard let rtype = resolveType(.relationship, rt.type, mark: rt.typeMark, file: file, path: rt.source.path + ".type", table: table)
            else { continue }
            _ = checkAssignments(rt.properties, defs: table.properties(rtype), owner: "relationship template \"\(rt.name)\"",
                                 typeName: rtype.name, ctx: ctx, path: rt.source.path + ".properties", mark: rt.source.mark)
        }
        for g in topo.groups {
            if let m = checkMember(g, kind: .group, ctx: ctx) { model.groups.append(m) }
        }
        var policyNames: [String: MemberDefinition] = [:]
        for p in topo.policies {
            if let first = policyNames[p.name] {
                error("duplicate-policy", "policy \"\(p.name)\" is already defined at line \(first.source.mark.line)",
                      hint: "give each policy its own name", file: file, mark: p.source.mark, path: p.source.path)
                continue
            }
            policyNames[p.name] = p
            if let m = checkMember(p, kind: .policy, ctx: ctx) { model.policies.append(m) }
        }
        for o in topo.outputs {
            guard let v = o.value else { continue }
            let value = genericValue(v, ctx: ctx, path: o.source.path + ".value", subject: "output \"\(o.name)\"")
            model.outputs.append(ResolvedParameter(name: o.name, file: file, value: value))
        }
        if let sm = topo.substitutionMappings { checkSubstitution(sm, mark: topo.substitutionMark, ctx: ctx) }
    }
}
