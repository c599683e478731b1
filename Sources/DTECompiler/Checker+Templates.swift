import DTEModel

/// Phases 3 and 4: the template index (node templates by global name, `copy`), the supplied inputs,
/// each topology's inputs and outputs, and each node template's properties, attributes, capabilities,
/// interfaces and artifacts.
extension Checker {
    func indexTemplates() {
        for f in sources.allFiles {
            guard let topo = f.template.topology, let table = tables[f.path] else { continue }
            for var nt in topo.nodeTemplates {
                if let c = nt.copy {
                    // `copy`: start from another node template of this topology; what is written here wins
                    guard let src = topo.nodeTemplates.first(where: { $0.name == c && $0.copy == nil }) else {
                        error("unknown-node", "\"\(nt.name)\" copies node template \"\(c)\", which does not exist in this topology (or is itself a copy)",
                              hint: Self.didYouMean(c, topo.nodeTemplates.map(\.name)), file: f.display, mark: nt.copyMark, path: nt.source.path + ".copy")
                        continue
                    }
                    if nt.type.isEmpty { nt.type = src.type; nt.typeMark = src.typeMark }
                    let own = Set(nt.properties.map(\.key))
                    nt.properties += src.properties.filter { !own.contains($0.key) }
                    if nt.requirements.isEmpty { nt.requirements = src.requirements }
                    if nt.capabilities.isEmpty { nt.capabilities = src.capabilities }
                    if nt.interfaces.isEmpty { nt.interfaces = src.interfaces }
                    if nt.artifacts.isEmpty { nt.artifacts = src.artifacts }
                }
                if let existing = nodeIndex[nt.name] {
                    // reported in the file the user named when the other one is only imported
                    let existingIsRoot = sources.files[existing.file]?.isRoot ?? false
                    if existingIsRoot && !f.isRoot {
                        error("duplicate-node-template",
                              "node template \"\(nt.name)\" is also defined in \(f.display):\(nt.source.mark.line)",
                              hint: "node template names are global in a DTE repository; rename one of them", file: existing.display,
                              mark: existing.template.source.mark, path: existing.template.source.path)
                    } else {
                        error("duplicate-node-template",
                              "node template \"\(nt.name)\" is already defined in \(existing.display):\(existing.template.source.mark.line)",
                              hint: "node template names are global in a DTE repository; rename one of them", file: f.display,
                              mark: nt.source.mark, path: nt.source.path)
                    }
                    continue
                }
                nodeIndex[nt.name] = NodeRef(file: f.path, display: f.display, template: nt, type: table.lookup(.node, nt.type), table: table)
            }
            for g in topo.groups where groupIndex[g.name] == nil { groupIndex[g.name] = (f.display, g) }
        }
    }

    func checkSuppliedInputs() {
        guard !options.inputs.isEmpty else { return }
        var known: Set<String> = []
        for f in sources.allFiles where f.isRoot {
            for i in f.template.topology?.inputs ?? [] { known.insert(i.name) }
        }
        for name in options.inputs.keys.sorted() where !known.contains(name) {
            diagnostics.append(Diagnostic(.error, code: "unknown-input", "no topology template declares the input \"\(name)\"",
                                          hint: Self.didYouMean(name, Array(known), list: true), file: options.inputsSource))
        }
    }

    func checkTopology(_ topo: TopologyTemplate, file f: SourceFile, table: TypeTable) {
        let file = f.display
        let ctx = EvalContext(file: file, filePath: f.path, selfNode: nil, table: table)
        for input in topo.inputs {
            let before = diagnostics.count
            checkSchemaType(input.schema, table: table, file: file)
            guard diagnostics.count == before else { continue }
            _ = constraints(for: input.schema, table: table, file: file)
            if let d = input.defaultValue {
                _ = checkValue(d, schema: input.schema, ctx: ctx, subject: "the default of input \"\(input.name)\"",
                               path: input.source.path + ".default")
            }
            if let v = input.value {
                _ = checkValue(v, schema: input.schema, ctx: ctx, subject: "the value of input \"\(input.name)\"", path: input.source.path + ".value")
            }
            if f.isRoot, let supplied = options.inputs[input.name] {
                var d = diagnostics.count
                _ = checkValue(supplied, schema: input.schema, ctx: ctx, subject: "input \"\(input.name)\"", path: "inputs.\(input.name)")
                while d < diagnostics.count {
                    diagnostics[d].file = options.inputsSource
                    d += 1
                }
            }
            let value = inputValue(file: f.path, input.name, topo: topo)
            if value == nil, input.required, options.requireInputs {
                error("missing-input", "input \"\(input.name)\" has no value and no default",
                      hint: "pass --input \(input.name)=VALUE", file: file, mark: input.source.mark, path: input.source.path)
            }
            model.inputs.append(ResolvedParameter(name: input.name, file: file,
                                                  value: value.flatMap { genericValue($0, ctx: ctx, path: input.source.path, subject: "input") }))
        }
        let refs = topo.nodeTemplates.compactMap { nt in nodeIndex[nt.name].flatMap { $0.file == f.path ? $0 : nil } }
        model.nodes += checkNodeTemplates(refs)
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

    func resolveType(_ kind: TypeKind, _ name: String, mark: Mark, file: String, path: @autoclosure () -> String, table: TypeTable) -> TypeDefinition? {
        if let t = table.lookup(kind, name) { return t }
        if let other = TypeKind.allCases.first(where: { $0 != kind && table.lookup($0, name) != nil }) {
            error("wrong-type-kind", "\"\(name)\" is a \(other.label), not a \(kind.label)", file: file, mark: mark, path: path())
        } else {
            error("unknown-type", "unknown \(kind.label) \"\(name)\"",
                  hint: Self.didYouMean(name, table.names(kind)) ?? "import the file that defines it", file: file, mark: mark, path: path())
        }
        return nil
    }

    func propertyDefs(_ t: TypeDefinition, table: TypeTable) -> [String: PropertyDefinition] {
        if let c = propertyDefsByType[ObjectIdentifier(t)] { return c }
        var d: [String: PropertyDefinition] = [:]
        for p in table.properties(t) { d[p.name] = p }
        propertyDefsByType[ObjectIdentifier(t)] = d
        return d
    }

    /// Checks property assignments against definitions: unknown names, required ones missing, each value.
    func checkAssignments(_ entries: [YAMLEntry], defs: [PropertyDefinition], owner: String, typeName: String, ctx: EvalContext,
                          path: @autoclosure () -> String, mark: Mark, byName: [String: PropertyDefinition]? = nil) -> [Value.MapEntry] {
        let index = byName ?? Dictionary(defs.map { ($0.name, $0) }, uniquingKeysWith: { _, b in b })
        var out: [Value.MapEntry] = []
        out.reserveCapacity(defs.count)
        var given: [YAMLEntry] = []
        given.reserveCapacity(entries.count)
        for e in entries {
            guard index[e.key] != nil else {
                let names = defs.map(\.name)
                error("unknown-property", "\(owner): type \(typeName) has no property \"\(e.key)\"",
                      hint: Self.didYouMean(e.key, names, list: true) ?? (names.isEmpty ? "this type declares no properties" : nil),
                      file: ctx.file, mark: e.keyMark, path: path() + "." + e.key)
                continue
            }
            given.append(e)
        }
        for def in defs {
            if let e = given.first(where: { $0.key == def.name }) {
                if let v = checkValue(e.value, schema: def.schema, ctx: ctx, subject: "property \"\(def.name)\" of \(owner)",
                                      path: path() + "." + def.name) {
                    out.append(Value.MapEntry(key: def.name, value: v))
                }
            } else if let d = def.defaultValue {
                if let v = defaultValue(def, d, ctx: ctx, owner: owner, path: path()) {
                    out.append(Value.MapEntry(key: def.name, value: v))
                }
            } else if def.required && def.status != "deprecated" {
                error("missing-property", "\(owner) is missing required property \"\(def.name)\" (\(def.type))",
                      hint: "add \"\(def.name):\" under properties, or give the property a default in \(typeName)",
                      file: ctx.file, mark: mark, path: path())
            }
        }
        return out
    }

    /// A property's default as the node receives it. Defaults without functions are the same for
    /// every node (and were checked with the type), so they are evaluated once.
    func defaultValue(_ def: PropertyDefinition, _ d: YAMLNode, ctx: EvalContext, owner: String, path: @autoclosure () -> String) -> Value? {
        let id = ObjectIdentifier(def)
        if let cached = defaultCache[id] { return cached }
        if containsFunction(d) {
            return checkValue(d, schema: def.schema, ctx: ctx, subject: "property \"\(def.name)\" (default) of \(owner)",
                              path: path() + "." + def.name)
        }
        let v = checkValue(d, schema: def.schema, ctx: ctx, subject: "", path: "", quiet: true)
        defaultCache[id] = .some(v)
        return v
    }

    /// Names of a type and its ancestors, shared by every node of the type.
    func typeChain(_ t: TypeDefinition, table: TypeTable) -> [String] {
        if let c = typeChainCache[ObjectIdentifier(t)] { return c }
        let c = table.ancestors(t).map(\.name)
        typeChainCache[ObjectIdentifier(t)] = c
        return c
    }

    func checkNodeTemplate(_ ref: NodeRef) -> ResolvedNode? {
        let nt = ref.template
        let file = ref.display
        let table = ref.table
        let base = nt.source.path
        guard let type = resolveType(.node, nt.type, mark: nt.typeMark, file: file, path: base + ".type", table: table) else { return nil }
        let ctx = EvalContext(file: file, filePath: ref.file, selfNode: nt.name, table: table)
        let owner = "\"\(nt.name)\""
        let props = checkAssignments(nt.properties, defs: table.properties(type), owner: owner, typeName: type.name, ctx: ctx,
                                     path: base + ".properties", mark: nt.source.mark, byName: propertyDefs(type, table: table))
        // attributes: values for declared attributes (or properties)
        let attrDefs = table.attributes(type)
        for a in nt.attributes {
            if let def = attrDefs.first(where: { $0.name == a.key }) {
                _ = checkValue(a.value, schema: def.schema, ctx: ctx, subject: "attribute \"\(a.key)\" of \(owner)",
                               path: base + ".attributes." + a.key)
            } else {
                error("unknown-attribute", "\(owner): type \(type.name) has no attribute \"\(a.key)\"",
                      hint: Self.didYouMean(a.key, attrDefs.map(\.name), list: true), file: file, mark: a.keyMark, path: base + ".attributes." + a.key)
            }
        }
        let requirements = checkRequirements(nt, type: type, ctx: ctx)
        var caps: [String: [Value.MapEntry]] = [:]
        let capDefs = table.capabilities(type)
        for ca in nt.capabilities {
            guard let def = capDefs.first(where: { $0.name == ca.name }) else {
                error("unknown-capability", "\(owner): type \(type.name) has no capability \"\(ca.name)\"",
                      hint: Self.didYouMean(ca.name, capDefs.map(\.name), list: true), file: file, mark: ca.source.mark, path: ca.source.path)
                continue
            }
            guard let ctype = table.lookup(.capability, def.type) else { continue }
            var defs = table.properties(ctype)
            for refined in def.properties {
                if let i = defs.firstIndex(where: { $0.name == refined.name }) { defs[i] = refined } else { defs.append(refined) }
            }
            caps[ca.name] = checkAssignments(ca.properties, defs: defs, owner: "capability \"\(ca.name)\" of \(owner)", typeName: ctype.name,
                                             ctx: ctx, path: ca.source.path + ".properties", mark: ca.source.mark)
        }
        checkInterfaces(nt.interfaces, defs: table.interfaces(type), owner: owner, typeName: type.name, ctx: ctx, path: base + ".interfaces")
        for a in nt.artifacts {
            if let t = a.value["type"]?.string {
                _ = resolveType(.artifact, t, mark: a.value["type"]?.mark ?? a.keyMark, file: file,
                                path: base + ".artifacts." + a.key + ".type", table: table)
            }
        }
        if let nf = nt.nodeFilter { checkNodeFilter(nf, targetType: nil, ctx: ctx, path: base + ".node_filter") }
        return ResolvedNode(name: nt.name, type: type.name, typeChain: typeChain(type, table: table), file: file, mark: nt.source.mark,
                            properties: props, requirements: requirements, capabilities: caps, rawProperties: nt.properties)
    }

    func checkInterfaces(_ entries: [YAMLEntry], defs: [InterfaceDefinition], owner: String, typeName: String, ctx: EvalContext, path: String) {
        for e in entries {
            guard let def = defs.first(where: { $0.name == e.key }) else {
                error("unknown-interface", "\(owner): type \(typeName) has no interface \"\(e.key)\"",
                      hint: Self.didYouMean(e.key, defs.map(\.name), list: true), file: ctx.file, mark: e.keyMark, path: path + "." + e.key)
                continue
            }
            guard let itype = ctx.table.lookup(.interface, def.type) else { continue }
            let ops = Set(ctx.table.operations(itype) + def.operations)
            var opEntries = e.value.entries ?? []
            if let o = e.value["operations"]?.entries { opEntries = opEntries.filter { $0.key != "operations" } + o }
            for op in opEntries where !["inputs", "operations", "notifications", "type", "description"].contains(op.key) {
                if !ops.isEmpty, !ops.contains(op.key) {
                    error("unknown-operation", "interface \"\(e.key)\" (\(itype.name)) has no operation \"\(op.key)\"",
                          hint: Self.didYouMean(op.key, Array(ops), list: true), file: ctx.file, mark: op.keyMark,
                          path: path + "." + e.key + "." + op.key)
                }
                if let inputs = op.value["inputs"]?.entries {
                    for i in inputs { _ = genericValue(i.value, ctx: ctx, path: path + "." + e.key + "." + op.key + ".inputs." + i.key,
                                                       subject: "operation input \"\(i.key)\"") }
                }
            }
        }
    }
}
