import DTEModel

/// Phase 2: every type definition of every file, against its file's type table (derivation and
/// cycles, property and schema types, defaults, constraints, requirement, capability and interface types).
extension CheckedTypes {
    static func check(_ tables: TypeTables, sources: SourceSet, options: CheckOptions, diagnostics: inout [Diagnostic]) -> CheckedTypes {
        let scope = CheckScope(sources: sources, options: options, tables: tables.byFile)
        var checked: Set<ObjectIdentifier> = []
        for f in sources.allFiles {
            guard let table = tables.byFile[f.path] else { continue }
            for t in f.template.types where checked.insert(ObjectIdentifier(t)).inserted {
                scope.checkTypeDefinition(t, table: table, file: f.display)
            }
        }
        diagnostics += scope.diagnostics
        // what every node template of a type receives, worked out once: the defaults without
        // functions (problems in them were reported with their definitions just now)
        var seen: Set<ObjectIdentifier> = []
        for table in tables.byFile.values where seen.insert(ObjectIdentifier(table)).inserted {
            for kind in [TypeKind.node, .capability, .relationship, .policy, .group, .data] {
                for t in table.all(kind) {
                    for def in table.properties(t) where scope.defaultMemo[ObjectIdentifier(def)] == nil {
                        guard let d = def.defaultValue, !scope.containsFunction(d) else { continue }
                        let ctx = EvalContext(file: t.source.file, filePath: nil, selfNode: nil, table: table)
                        scope.defaultMemo[ObjectIdentifier(def)] = .some(scope.checkValue(d, schema: def.schema, ctx: ctx, subject: "", path: "", quiet: true))
                    }
                }
            }
        }
        return CheckedTypes(sources: sources, options: options, tables: tables, constraints: scope.constraintMemo, defaults: scope.defaultMemo)
    }
}

extension CheckScope {
    func checkTypeDefinition(_ t: TypeDefinition, table: TypeTable, file: String) {
        let base = t.source.path
        if let parent = t.derivedFrom {
            if t.kind == .data, PrimitiveType.named(parent) != nil {
                // a data type derived from a primitive
            } else if table.lookup(t.kind, parent) == nil {
                let otherKind = TypeKind.allCases.first { $0 != t.kind && table.lookup($0, parent) != nil }
                let hint = otherKind.map { "\"\(parent)\" is a \($0.label); a \(t.kind.label) must derive from a \(t.kind.label)" }
                    ?? Self.didYouMean(parent, table.names(t.kind)) ?? "import the file that defines it"
                error("unknown-type", "\(t.kind.label) \"\(t.name)\" derives from unknown \(t.kind.label) \"\(parent)\"", hint: hint,
                      file: file, mark: t.derivedFromMark, path: base + ".derived_from")
            } else {
                // inheritance cycle?
                var seen: Set<ObjectIdentifier> = [ObjectIdentifier(t)]
                var cur: TypeDefinition? = table.lookup(t.kind, parent)
                var chain = [t.name]
                while let c = cur {
                    chain.append(c.name)
                    if c === t {
                        error("inheritance-cycle", "\(t.kind.label) \"\(t.name)\" derives from itself: \(chain.joined(separator: " → "))",
                              hint: "break the cycle by changing one derived_from", file: file, mark: t.derivedFromMark, path: base + ".derived_from")
                        break
                    }
                    guard seen.insert(ObjectIdentifier(c)).inserted else { break }
                    cur = c.derivedFrom.flatMap { table.lookup(t.kind, $0) }
                }
            }
        }
        for p in t.properties { checkPropertyDefinition(p, table: table, file: file) }
        for a in t.attributes { checkPropertyDefinition(a, table: table, file: file) }
        if let s = t.entrySchema { checkSchemaType(s, table: table, file: file) }
        if let s = t.keySchema { checkSchemaType(s, table: table, file: file) }
        if t.kind == .data, !t.constraints.isEmpty, let prim = table.primitiveBase(t) {
            let schema = SchemaDefinition(type: prim.rawValue, typeMark: t.source.mark, description: nil, constraints: t.constraints,
                                          entrySchema: nil, keySchema: nil, source: t.source)
            _ = constraints(for: schema, table: table, file: file)
        }
        for r in t.requirements {
            if let c = r.capability, table.lookup(.capability, c) == nil {
                error("unknown-type", "requirement \"\(r.name)\" names unknown capability type \"\(c)\"",
                      hint: Self.didYouMean(c, table.names(.capability)), file: file, mark: r.source.mark, path: r.source.path + ".capability")
            }
            if let n = r.node, table.lookup(.node, n) == nil {
                error("unknown-type", "requirement \"\(r.name)\" names unknown node type \"\(n)\"",
                      hint: Self.didYouMean(n, table.names(.node)), file: file, mark: r.source.mark, path: r.source.path + ".node")
            }
            if let rel = r.relationship, table.lookup(.relationship, rel) == nil {
                error("unknown-type", "requirement \"\(r.name)\" names unknown relationship type \"\(rel)\"",
                      hint: Self.didYouMean(rel, table.names(.relationship)), file: file, mark: r.source.mark,
                      path: r.source.path + ".relationship")
            }
        }
        for c in t.capabilities {
            if table.lookup(.capability, c.type) == nil {
                error("unknown-type", "capability \"\(c.name)\" has unknown capability type \"\(c.type)\"",
                      hint: Self.didYouMean(c.type, table.names(.capability)), file: file, mark: c.source.mark, path: c.source.path)
            }
            for p in c.properties { checkPropertyDefinition(p, table: table, file: file) }
        }
        for i in t.interfaces where table.lookup(.interface, i.type) == nil {
            error("unknown-type", "interface \"\(i.name)\" has unknown interface type \"\(i.type)\"",
                  hint: Self.didYouMean(i.type, table.names(.interface)), file: file, mark: i.source.mark, path: i.source.path)
        }
        if let valid = t.validTypes {
            let kinds: [TypeKind]
            switch t.kind {
            case .capability, .group: kinds = [.node]
            case .relationship: kinds = [.capability, .node]
            case .policy: kinds = [.node, .group]
            default: kinds = []
            }
            for v in valid where !kinds.contains(where: { table.lookup($0, v.name) != nil }) {
                error("unknown-type", "\(t.kind.label) \"\(t.name)\" lists unknown type \"\(v.name)\"",
                      hint: Self.didYouMean(v.name, kinds.flatMap { table.names($0) }), file: file, mark: v.mark, path: base)
            }
        }
    }

    func checkSchemaType(_ s: SchemaDefinition, table: TypeTable, file: String) {
        if PrimitiveType.named(s.type) == nil, table.lookup(.data, s.type) == nil {
            let candidates = PrimitiveType.allCases.filter { $0 != .any }.map(\.rawValue) + table.names(.data)
            error("unknown-type", "unknown data type \"\(s.type)\"",
                  hint: Self.didYouMean(s.type, candidates) ?? "use a TOSCA type (string, integer, float, boolean, timestamp, version, list, map, scalar-unit.size, …) or a data type you import",
                  file: file, mark: s.typeMark, path: s.source.path + ".type")
            return
        }
        if let e = s.entrySchema { checkSchemaType(e, table: table, file: file) }
        if let k = s.keySchema { checkSchemaType(k, table: table, file: file) }
    }

    func checkPropertyDefinition(_ p: PropertyDefinition, table: TypeTable, file: String) {
        let before = diagnostics.count
        checkSchemaType(p.schema, table: table, file: file)
        guard diagnostics.count == before else { return }
        _ = constraints(for: p.schema, table: table, file: file)
        // A default that uses functions (get_property SELF, concat, …) is checked for each node template that receives it.
        if let d = p.defaultValue, !containsFunction(d) {
            let ctx = EvalContext(file: file, filePath: nil, selfNode: nil, table: table)
            _ = checkValue(d, schema: p.schema, ctx: ctx, subject: "the default of \"\(p.name)\"", path: p.source.path + ".default")
        }
    }

    func containsFunction(_ node: YAMLNode) -> Bool {
        switch node {
        case .scalar: return false
        case .sequence(let items, _): return items.contains(where: containsFunction)
        case .mapping(let entries, _):
            if functionCall(in: node) != nil { return true }
            return entries.contains { containsFunction($0.value) }
        }
    }
}
