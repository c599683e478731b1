import DTEModel

/// Phase 4: each node template's properties, attributes, capabilities, interfaces, artifacts and
/// requirements, over all cores (every worker reads the same template index: a requirement's
/// target is known from it).
extension CheckedNodes {
    static func check(_ index: TemplateIndex, diagnostics: inout [Diagnostic]) -> CheckedNodes {
        let (nodes, found) = CheckScope.inParallel(index.order, scope: { CheckScope(index) }) { scope, ref in scope.checkNodeTemplate(ref) }
        diagnostics += found
        return CheckedNodes(index: index, nodes: nodes)
    }
}

extension CheckScope {
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
        table.propertyIndex(t)
    }

    /// Checks property assignments against definitions: unknown names, required ones missing, each value.
    func checkAssignments(_ entries: [YAMLEntry], defs: [PropertyDefinition], owner: String, typeName: String, ctx: EvalContext,
                          path: @autoclosure () -> String, mark: Mark, byName: [String: PropertyDefinition]? = nil) -> [Value.MapEntry] {
        let index = byName ?? Dictionary(defs.map { ($0.name, $0) }, uniquingKeysWith: { _, b in b })
        var out: [Value.MapEntry] = []
        out.reserveCapacity(defs.count)
        // each written entry's position in the slot of its definition (found by identity: no
        // string compares; positions, not copies of the entries)
        var given = [Int](repeating: -1, count: defs.count)
        // (entries read in place: a copy of one retains its key and value)
        for k in entries.indices {
            guard let def = index[entries[k].key] else {
                let e = entries[k]
                let names = defs.map(\.name)
                error("unknown-property", "\(owner): type \(typeName) has no property \"\(e.key)\"",
                      hint: Self.didYouMean(e.key, names, list: true) ?? (names.isEmpty ? "this type declares no properties" : nil),
                      file: ctx.file, mark: e.keyMark, path: path() + "." + e.key)
                continue
            }
            if let i = defs.firstIndex(where: { $0 === def }) ?? defs.firstIndex(where: { $0.name == entries[k].key }), given[i] < 0 { given[i] = k }
        }
        for (i, def) in defs.enumerated() {
            if given[i] >= 0 {
                if let v = checkValue(entries[given[i]].value, schema: def.schema, ctx: ctx, subject: "property \"\(def.name)\" of \(owner)",
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
        if let known = knownDefaults[id] ?? defaultMemo[id] { return known }
        if containsFunction(d) {
            return checkValue(d, schema: def.schema, ctx: ctx, subject: "property \"\(def.name)\" (default) of \(owner)",
                              path: path() + "." + def.name)
        }
        let v = checkValue(d, schema: def.schema, ctx: ctx, subject: "", path: "", quiet: true)
        defaultMemo[id] = .some(v)
        return v
    }

    /// A node template, resolved.
    func checkNodeTemplate(_ ref: NodeRef) -> ResolvedNode? {
        // the template is read where the index holds it (a copy would retain each of its fields)
        let file = ref.display
        let table = ref.table
        let base = ref.template.source.path
        guard let type = resolveType(.node, ref.template.type, mark: ref.template.typeMark, file: file, path: base + ".type", table: table) else { return nil }
        let ctx = EvalContext(file: file, filePath: ref.file, selfNode: ref.template.name, table: table)
        let owner = "\"\(ref.template.name)\""
        let props = checkAssignments(ref.template.properties, defs: table.properties(type), owner: owner, typeName: type.name, ctx: ctx,
                                     path: base + ".properties", mark: ref.template.source.mark, byName: propertyDefs(type, table: table))
        // attributes: values for declared attributes (or properties)
        let attrDefs = table.attributes(type)
        for a in ref.template.attributes {
            if let def = attrDefs.first(where: { $0.name == a.key }) {
                _ = checkValue(a.value, schema: def.schema, ctx: ctx, subject: "attribute \"\(a.key)\" of \(owner)",
                               path: base + ".attributes." + a.key)
            } else {
                error("unknown-attribute", "\(owner): type \(type.name) has no attribute \"\(a.key)\"",
                      hint: Self.didYouMean(a.key, attrDefs.map(\.name), list: true), file: file, mark: a.keyMark, path: base + ".attributes." + a.key)
            }
        }
        var caps: [String: [Value.MapEntry]] = [:]
        let capDefs = table.capabilities(type)
        for ca in ref.template.capabilities {
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
        checkInterfaces(ref.template.interfaces, defs: table.interfaces(type), owner: owner, typeName: type.name, ctx: ctx, path: base + ".interfaces")
        for a in ref.template.artifacts {
            if let t = a.value["type"]?.string {
                _ = resolveType(.artifact, t, mark: a.value["type"]?.mark ?? a.keyMark, file: file,
                                path: base + ".artifacts." + a.key + ".type", table: table)
            }
        }
        if let nf = ref.template.nodeFilter { checkNodeFilter(nf, targetType: nil, ctx: ctx, path: base + ".node_filter") }
        return ResolvedNode(name: ref.template.name, type: type.name, typeChain: table.ancestorNames(type), file: file, mark: ref.template.source.mark,
                            properties: props, requirements: checkRequirements(ref.template, type: type, ctx: ctx), capabilities: caps,
                            rawProperties: ref.template.properties)
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
