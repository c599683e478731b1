import DTEModel

/// Phase 3: the template index — node templates by global name (with `copy` applied), groups, the
/// inputs supplied on the command line, and each topology's inputs with the value they have for this run.
extension TemplateIndex {
    static func build(_ types: CheckedTypes, diagnostics: inout [Diagnostic]) -> TemplateIndex {
        let scope = CheckScope(types)
        let (nodes, groups, order) = scope.indexTemplates()
        scope.checkSuppliedInputs()
        var inputValues: [String: [String: YAMLNode]] = [:]
        for f in types.sources.allFiles {
            guard let topo = f.template.topology else { continue }
            var seen: Set<String> = []
            for input in topo.inputs where seen.insert(input.name).inserted {
                let supplied = f.isRoot ? types.options.inputs[input.name] : nil
                if let v = supplied ?? input.value ?? input.defaultValue { inputValues[f.path, default: [:]][input.name] = v }
            }
        }
        let partial = TemplateIndex(types: types, nodes: nodes, groups: groups, inputValues: inputValues, order: order, inputs: [])
        // the inputs are checked with the index (an input's default may read another input)
        let inputScope = CheckScope(partial)
        var inputs: [ResolvedParameter] = []
        for f in types.sources.allFiles {
            guard let topo = f.template.topology, let table = types.tables.byFile[f.path] else { continue }
            inputs += inputScope.checkInputs(topo, file: f, table: table)
        }
        diagnostics += scope.diagnostics + inputScope.diagnostics
        return TemplateIndex(types: types, nodes: nodes, groups: groups, inputValues: inputValues, order: order, inputs: inputs)
    }
}

extension CheckScope {
    func indexTemplates() -> (nodes: [String: NodeRef], groups: [String: (file: String, group: MemberDefinition)], order: [NodeRef]) {
        var nodeIndex: [String: NodeRef] = [:]
        var groupIndex: [String: (file: String, group: MemberDefinition)] = [:]
        var order: [NodeRef] = []
        for f in sources.allFiles {
            guard let topo = f.template.topology, let table = tables[f.path] else { continue }
            let templates = topo.nodeTemplates
            for position in templates.indices {
                var completed: NodeTemplate?
                if let c = templates[position].copy {
                    // `copy`: start from another node template of this topology; what is written here wins
                    var nt = templates[position]
                    guard let src = templates.first(where: { $0.name == c && $0.copy == nil }) else {
                        error("unknown-node", "\"\(nt.name)\" copies node template \"\(c)\", which does not exist in this topology (or is itself a copy)",
                              hint: Self.didYouMean(c, templates.map(\.name)), file: f.display, mark: nt.copyMark, path: nt.source.path + ".copy")
                        continue
                    }
                    if nt.type.isEmpty { nt.type = src.type; nt.typeMark = src.typeMark }
                    let own = Set(nt.properties.map(\.key))
                    nt.properties += src.properties.filter { !own.contains($0.key) }
                    if nt.requirements.isEmpty { nt.requirements = src.requirements }
                    if nt.capabilities.isEmpty { nt.capabilities = src.capabilities }
                    if nt.interfaces.isEmpty { nt.interfaces = src.interfaces }
                    if nt.artifacts.isEmpty { nt.artifacts = src.artifacts }
                    completed = nt
                }
                let ref = NodeRef(file: f.path, display: f.display, templates: templates, position: position, completed: completed,
                                  type: table.lookup(.node, completed?.type ?? templates[position].type), table: table)
                let name = ref.template.name
                if let existing = nodeIndex[name] {
                    // reported in the file the user named when the other one is only imported
                    let existingIsRoot = sources.files[existing.file]?.isRoot ?? false
                    if existingIsRoot && !f.isRoot {
                        error("duplicate-node-template",
                              "node template \"\(name)\" is also defined in \(f.display):\(ref.template.source.mark.line)",
                              hint: "node template names are global in a DTE repository; rename one of them", file: existing.display,
                              mark: existing.template.source.mark, path: existing.template.source.path)
                    } else {
                        error("duplicate-node-template",
                              "node template \"\(name)\" is already defined in \(existing.display):\(existing.template.source.mark.line)",
                              hint: "node template names are global in a DTE repository; rename one of them", file: f.display,
                              mark: ref.template.source.mark, path: ref.template.source.path)
                    }
                    continue
                }
                nodeIndex[name] = ref
                order.append(ref)
            }
            for g in topo.groups where groupIndex[g.name] == nil { groupIndex[g.name] = (f.display, g) }
        }
        return (nodeIndex, groupIndex, order)
    }

    func checkSuppliedInputs() {
        guard !options.inputs.isEmpty else { return }
        var known: Set<String> = []
        for f in sources.allFiles where f.isRoot {
            for i in f.template.topology?.inputs ?? [] { known.insert(i.name) }
        }
        for name in options.inputs.keys.sorted() where !known.contains(name) {
            report(Diagnostic(.error, code: "unknown-input", "no topology template declares the input \"\(name)\"",
                                          hint: Self.didYouMean(name, Array(known), list: true), file: options.inputsSource))
        }
    }

    func checkInputs(_ topo: TopologyTemplate, file f: SourceFile, table: TypeTable) -> [ResolvedParameter] {
        let file = f.display
        var resolved: [ResolvedParameter] = []
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
                let d = diagnostics.count
                _ = checkValue(supplied, schema: input.schema, ctx: ctx, subject: "input \"\(input.name)\"", path: "inputs.\(input.name)")
                relocateDiagnostics(from: d, to: options.inputsSource)
            }
            let value = inputValue(file: f.path, input.name)
            if value == nil, input.required, options.requireInputs {
                error("missing-input", "input \"\(input.name)\" has no value and no default",
                      hint: "pass --input \(input.name)=VALUE", file: file, mark: input.source.mark, path: input.source.path)
            }
            resolved.append(ResolvedParameter(name: input.name, file: file,
                                                  value: value.flatMap { genericValue($0, ctx: ctx, path: input.source.path, subject: "input") }))
        }
        return resolved
    }
}
