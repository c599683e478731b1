import DTEModel

extension CheckScope {
    struct Call {
        var name: String
        var args: YAMLNode
        var mark: Mark
    }

    /// A single-key map whose key is a TOSCA function name (or looks like one: `get_…`).
    func functionCall(in node: YAMLNode) -> Call? {
        guard case .mapping(let e, let mark) = node, e.count == 1 else { return nil }
        let k = e[0].key
        guard FunctionCall.names.contains(k) || k.hasPrefix("get_") else { return nil }
        return Call(name: k, args: e[0].value, mark: mark)
    }

    func ferror(_ code: String, _ message: String, hint: String? = nil, ctx: EvalContext, mark: Mark, path: @autoclosure () -> String) -> Resolution {
        error(code, message, hint: hint, file: ctx.file, mark: mark, path: path())
        return .failed
    }

    /// Evaluates a function call to the value it stands for, following chains (a property whose
    /// value is itself `get_input`, …); calls only apply can answer stay symbolic.
    func resolveFunction(_ name: String, _ args: YAMLNode, mark: Mark, ctx: EvalContext, path: @autoclosure () -> String, depth: Int) -> Resolution {
        if depth > 24 {
            // reported where the value being checked is written
            return ferror("function-cycle", "\(name) never reaches a value: the functions refer to each other in a cycle",
                          hint: "check the get_property / get_input chain for a loop", ctx: ctx, mark: ctx.site ?? mark, path: path())
        }
        switch name {
        case "get_input": return getInput(args, mark: mark, ctx: ctx, path: path(), depth: depth)
        case "get_property", "get_attribute": return getPropertyOrAttribute(name, args, mark: mark, ctx: ctx, path: path(), depth: depth)
        case "concat", "join", "token": return stringFunction(name, args, mark: mark, ctx: ctx, path: path(), depth: depth)
        case "get_operation_output", "get_nodes_of_type", "get_artifact":
            warning("function-not-evaluated", "\(name) is valid TOSCA but DTE does not evaluate it; the value stays unset",
                    file: ctx.file, mark: mark, path: path())
            return .failed
        default:
            let known = ["get_input", "get_property", "get_attribute", "concat", "join", "token"]
            return ferror("unknown-function", "unknown function \"\(name)\"",
                          hint: (Self.didYouMean(name, known).map { $0 + " " } ?? "") + "TOSCA functions: " + known.joined(separator: ", "),
                          ctx: ctx, mark: mark, path: path())
        }
    }

    /// Follows a resolution whose value is again a function (in the context where it was written).
    func settle(_ r: Resolution, ctx: EvalContext, path: @autoclosure () -> String, depth: Int) -> Resolution {
        guard case .node(let n, let origin) = r, let call = functionCall(in: n) else { return r }
        switch resolveFunction(call.name, call.args, mark: call.mark, ctx: ctx, path: path(), depth: depth + 1) {
        case .node(let n2, let o2): return .node(n2, origin: origin + " → " + o2)
        case let other: return other
        }
    }

    // MARK: get_input

    /// The value an input has for this run: supplied by the user, else its `value`, else its default.
    func inputValue(file: String, _ name: String) -> YAMLNode? {
        inputValues[file]?[name]
    }

    func getInput(_ args: YAMLNode, mark: Mark, ctx: EvalContext, path: @autoclosure () -> String, depth: Int) -> Resolution {
        var name: String
        var rest: [YAMLNode] = []
        if let s = args.string, args.items == nil {
            name = s
        } else if let items = args.items, let first = items.first?.string {
            name = first
            rest = Array(items.dropFirst())
        } else {
            return ferror("bad-function", "get_input takes an input name, or a list [input, index or key, …]", ctx: ctx, mark: mark, path: path())
        }
        guard let file = ctx.filePath, let topo = sources.files[file]?.template.topology else {
            return ferror("bad-function", "get_input can only be used inside a topology template", ctx: ctx, mark: mark, path: path())
        }
        guard topo.inputs.contains(where: { $0.name == name }) else {
            let names = topo.inputs.map(\.name)
            return ferror("unknown-input", "get_input refers to input \"\(name)\", which topology_template.inputs does not declare",
                          hint: Self.didYouMean(name, names, list: true) ?? "declare it under topology_template.inputs", ctx: ctx, mark: mark, path: path())
        }
        guard var v = inputValue(file: file, name) else {
            return .symbolic(.getInput(name: name, path: rest.map { n in n.string.map(Value.string) ?? .null }))
        }
        if rest.isEmpty, topo.inputs.first(where: { $0.name == name })?.schema.type == PrimitiveType.integer.rawValue,
           case .scalar(var s) = v, s.style.isQuoted, Int(s.value) != nil, !options.strict {
            // an integer input whose default is quoted ('6') is its integer: the quotes are reported with the input
            s.style = .plain
            v = .scalar(s)
        }
        for idx in rest {
            guard let next = index(v, by: idx) else {
                return ferror("bad-function", "get_input \"\(name)\": \(Self.show(idx)) does not index into \(v.kindDescription)",
                              ctx: ctx, mark: idx.mark, path: path())
            }
            v = next
        }
        return settle(.node(v, origin: "get_input \"\(name)\""), ctx: ctx, path: path(), depth: depth)
    }

    func index(_ node: YAMLNode, by idx: YAMLNode) -> YAMLNode? {
        guard let key = idx.string else { return nil }
        switch node {
        case .sequence(let items, _):
            guard let i = Int(key), items.indices.contains(i) else { return nil }
            return items[i]
        case .mapping:
            return node[key]
        case .scalar:
            return nil
        }
    }

    // MARK: get_property / get_attribute

    func getPropertyOrAttribute(_ fname: String, _ args: YAMLNode, mark: Mark, ctx: EvalContext, path: @autoclosure () -> String, depth: Int) -> Resolution {
        guard let items = args.items, items.count >= 2, let strings = Optional(items.compactMap(\.string)), strings.count == items.count else {
            return ferror("bad-function", "\(fname) takes a list: [SELF | SOURCE | TARGET | HOST | node_template, (requirement or capability,) name, …]",
                          ctx: ctx, mark: mark, path: path())
        }
        let entity = strings[0]
        let attribute = fname == "get_attribute"
        var nodeName: String
        switch entity {
        case "SELF":
            guard let s = ctx.selfNode else {
                return ferror("bad-function", "\(fname): SELF can only be used inside a node template", ctx: ctx, mark: mark, path: path())
            }
            nodeName = s
        case "SOURCE", "TARGET":
            return ferror("bad-function", "\(fname): \(entity) can only be used in relationship templates and their interfaces",
                          hint: "use SELF or a node template's name", ctx: ctx, mark: mark, path: path())
        case "HOST":
            guard let s = ctx.selfNode else {
                return ferror("bad-function", "\(fname): HOST can only be used inside a node template", ctx: ctx, mark: mark, path: path())
            }
            guard let h = hostOf(s, having: strings[1], attribute: attribute) else {
                return ferror("bad-function", "\(fname): no node hosting \"\(s)\" (through a HostedOn requirement) has \(attribute ? "an attribute" : "a property") \"\(strings[1])\"",
                              ctx: ctx, mark: mark, path: path())
            }
            nodeName = h
        default:
            guard nodeIndex[entity] != nil else {
                return ferror("unknown-node", "\(fname) refers to node template \"\(entity)\", which does not exist",
                              hint: Self.didYouMean(entity, Array(nodeIndex.keys) + ["SELF", "HOST"]), ctx: ctx, mark: items[0].mark, path: path())
            }
            nodeName = entity
        }
        guard let ref = nodeIndex[nodeName], let type = ref.type else { return .failed }
        let table = ref.table
        let target = EvalContext(file: ref.display, filePath: ref.file, selfNode: nodeName, table: table)
        let name = strings[1]
        let defs = propertyDefs(type, table: table)
        let attrs = table.attributes(type)
        if attribute {
            if attrs.contains(where: { $0.name == name }) || defs[name] != nil {
                return .symbolic(.getAttribute([nodeName] + strings.dropFirst()))
            }
            if strings.count >= 3, let cap = table.capabilities(type).first(where: { $0.name == name }),
               let ct = table.lookup(.capability, cap.type),
               table.attributes(ct).contains(where: { $0.name == strings[2] }) || table.properties(ct).contains(where: { $0.name == strings[2] }) {
                return .symbolic(.getAttribute([nodeName] + strings.dropFirst()))
            }
            if strings.count >= 3, let req = ref.template.requirements.first(where: { $0.name == name }), let tn = req.node,
               let tref = nodeIndex[tn], let tt = tref.type,
               tref.table.attributes(tt).contains(where: { $0.name == strings[2] }) || propertyDefs(tt, table: tref.table)[strings[2]] != nil {
                return .symbolic(.getAttribute([tn] + strings.dropFirst(2)))
            }
            return ferror("unknown-attribute", "get_attribute: \"\(nodeName)\" (\(type.name)) has no attribute \"\(name)\"",
                          hint: Self.didYouMean(name, attrs.map(\.name) + Array(defs.keys), list: true), ctx: ctx, mark: items[1].mark, path: path())
        }
        // get_property: a property of the node, then a capability's, then a requirement target's
        if defs[name] != nil {
            guard let raw = rawProperty(ref, type: type, name) else {
                return ferror("unset-property", "get_property: property \"\(name)\" of \"\(nodeName)\" has no value and no default",
                              ctx: ctx, mark: items[1].mark, path: path())
            }
            return nested(raw, Array(items.dropFirst(2)), origin: "get_property [\(strings.joined(separator: ", "))]", ctx: target,
                          reportCtx: ctx, mark: mark, path: path(), depth: depth)
        }
        if strings.count >= 3, let cap = table.capabilities(type).first(where: { $0.name == name }) {
            let assigned = ref.template.capabilities.first { $0.name == name }?.properties.first { $0.key == strings[2] }?.value
            var raw = assigned
            if raw == nil, let ct = table.lookup(.capability, cap.type) {
                raw = (cap.properties + table.properties(ct)).first { $0.name == strings[2] }?.defaultValue
            }
            guard let raw else {
                return ferror("unknown-property", "get_property: capability \"\(name)\" of \"\(nodeName)\" has no property \"\(strings[2])\" with a value",
                              ctx: ctx, mark: items[2].mark, path: path())
            }
            return nested(raw, Array(items.dropFirst(3)), origin: "get_property [\(strings.joined(separator: ", "))]", ctx: target,
                          reportCtx: ctx, mark: mark, path: path(), depth: depth)
        }
        if strings.count >= 3, let req = ref.template.requirements.first(where: { $0.name == name }) {
            guard let tn = req.node, nodeIndex[tn] != nil else {
                return ferror("bad-function", "get_property: requirement \"\(name)\" of \"\(nodeName)\" has no node template to read from",
                              ctx: ctx, mark: items[1].mark, path: path())
            }
            let rest = YAMLNode.sequence([.scalar(YAMLScalar(value: tn, mark: items[1].mark))] + items.dropFirst(2), args.mark)
            return getPropertyOrAttribute(fname, rest, mark: mark, ctx: ctx, path: path(), depth: depth + 1)
        }
        let caps = table.capabilities(type).map(\.name), reqs = ref.template.requirements.map(\.name)
        return ferror("unknown-property",
                      "get_property: \"\(nodeName)\" (\(type.name)) has no property\(strings.count >= 3 ? ", capability or requirement" : "") \"\(name)\"",
                      hint: Self.didYouMean(name, Array(defs.keys) + caps + reqs, list: true), ctx: ctx, mark: items[1].mark, path: path())
    }

    /// A property's value as written in the template, or its default.
    func rawProperty(_ ref: NodeRef, type: TypeDefinition, _ name: String) -> YAMLNode? {
        if let e = ref.template.properties.first(where: { $0.key == name }) { return e.value }
        return propertyDefs(type, table: ref.table)[name]?.defaultValue
    }

    func nested(_ raw: YAMLNode, _ indexes: [YAMLNode], origin: String, ctx target: EvalContext, reportCtx: EvalContext, mark: Mark,
                path: @autoclosure () -> String, depth: Int) -> Resolution {
        var r = settle(.node(raw, origin: origin), ctx: target, path: path(), depth: depth)
        for idx in indexes {
            guard case .node(let v, let o) = r else { return r }
            guard let next = index(v, by: idx) else {
                if case .mapping(let entries, _) = v, let key = idx.string {
                    let keys = entries.map(\.key)
                    return ferror("unknown-property", "\(origin): the value has no field \"\(key)\"",
                                  hint: Self.didYouMean(key, keys, list: true) ?? "its fields: " + keys.joined(separator: ", "), ctx: reportCtx,
                                  mark: idx.mark, path: path())
                }
                if case .sequence(let items, _) = v {
                    return ferror("bad-function", "\(origin): index \(Self.show(idx)) is outside the list of \(items.count)", ctx: reportCtx,
                                  mark: idx.mark, path: path())
                }
                return ferror("bad-function", "\(origin): \(Self.show(idx)) does not index into \(v.kindDescription)", ctx: reportCtx,
                              mark: idx.mark, path: path())
            }
            r = settle(.node(next, origin: o), ctx: target, path: path(), depth: depth)
        }
        return r
    }

    /// The nearest node below `node` in its HostedOn chain that has the property or attribute.
    func hostOf(_ node: String, having name: String, attribute: Bool) -> String? {
        var cur = node
        var seen: Set<String> = [node]
        while let ref = nodeIndex[cur] {
            let hostReq = ref.template.requirements.first { ra in
                if ra.name == "host" { return true }
                guard let type = ref.type else { return false }
                let def = ref.table.requirements(type).last { $0.name == ra.name }
                let rel = ra.relationship ?? def?.relationship
                return rel.map { ref.table.derives(.relationship, $0, from: Vocabulary.TOSCA.hostedOn) } ?? false
            }
            guard let h = hostReq?.node, let href = nodeIndex[h], seen.insert(h).inserted else { return nil }
            if let t = href.type {
                if propertyDefs(t, table: href.table)[name] != nil { return h }
                if attribute, href.table.attributes(t).contains(where: { $0.name == name }) { return h }
            }
            cur = h
        }
        return nil
    }

    // MARK: concat / join / token

    /// The text of an argument, evaluating nested functions; nil with `symbolic` set when only apply can tell.
    func textArgument(_ node: YAMLNode, fname: String, ctx: EvalContext, path: @autoclosure () -> String, depth: Int, symbolic: inout Bool, failed: inout Bool) -> String? {
        var n = node
        if let call = functionCall(in: node) {
            switch resolveFunction(call.name, call.args, mark: call.mark, ctx: ctx, path: path(), depth: depth + 1) {
            case .failed: failed = true; return nil
            case .symbolic: symbolic = true; return nil
            case .node(let v, _): n = v
            }
        }
        guard case .scalar(let s) = n, !s.isNull else {
            error("bad-function", "an argument of \(fname) must be a string, a number or a function giving one, not \(n.kindDescription) (\(Self.show(n)))",
                  hint: "write the argument as text, e.g. \"--out=\", or as a function such as { get_input: name }",
                  file: ctx.file, mark: node.mark, path: path())
            failed = true
            return nil
        }
        return s.value
    }

    func symbolicValue(_ node: YAMLNode, ctx: EvalContext, path: @autoclosure () -> String) -> Value {
        anyValue(node, ctx: ctx, subject: "function argument", path: path(), site: node.mark, depth: 0) ?? .null
    }

    func stringFunction(_ name: String, _ args: YAMLNode, mark: Mark, ctx: EvalContext, path: @autoclosure () -> String, depth: Int) -> Resolution {
        var symbolic = false, failed = false
        func result(_ s: String) -> Resolution {
            .node(.scalar(YAMLScalar(value: s, style: .doubleQuoted, mark: mark)), origin: name)
        }
        switch name {
        case "concat":
            guard let items = args.items, !items.isEmpty else {
                return ferror("bad-function", "concat takes a list of strings and functions", ctx: ctx, mark: mark, path: path())
            }
            let parts = items.map { textArgument($0, fname: name, ctx: ctx, path: path(), depth: depth, symbolic: &symbolic, failed: &failed) }
            if failed { return .failed }
            if symbolic { return .symbolic(.concat(items.map { symbolicValue($0, ctx: ctx, path: path()) })) }
            return result(parts.compactMap { $0 }.joined())
        case "join":
            guard let items = args.items, (1...2).contains(items.count), let list = items[0].items else {
                return ferror("bad-function", "join takes [ [list of strings], optional delimiter ]", ctx: ctx, mark: mark, path: path())
            }
            var delimiter = ""
            if items.count == 2 {
                guard let d = items[1].scalar?.value else {
                    return ferror("bad-function", "join's delimiter must be a string", ctx: ctx, mark: items[1].mark, path: path())
                }
                delimiter = d
            }
            let parts = list.map { textArgument($0, fname: name, ctx: ctx, path: path(), depth: depth, symbolic: &symbolic, failed: &failed) }
            if failed { return .failed }
            if symbolic { return .symbolic(.join(list.map { symbolicValue($0, ctx: ctx, path: path()) }, delimiter: delimiter)) }
            return result(parts.compactMap { $0 }.joined(separator: delimiter))
        default:  // token
            guard let items = args.items, items.count == 3, let seps = items[1].scalar?.value, !seps.isEmpty,
                  let idxText = items[2].string, let index = Int(idxText), index >= 0 else {
                return ferror("bad-function", "token takes [string, separator characters, index ≥ 0]", ctx: ctx, mark: mark, path: path())
            }
            guard let text = textArgument(items[0], fname: name, ctx: ctx, path: path(), depth: depth, symbolic: &symbolic, failed: &failed) else {
                if symbolic { return .symbolic(.token(symbolicValue(items[0], ctx: ctx, path: path()), separators: seps, index: index)) }
                return .failed
            }
            let tokens = text.split(omittingEmptySubsequences: false) { seps.contains($0) }
            guard tokens.indices.contains(index) else {
                return ferror("bad-function", "token: \"\(text)\" has \(tokens.count) token\(tokens.count == 1 ? "" : "s") split by \"\(seps)\", so index \(index) does not exist",
                              ctx: ctx, mark: items[2].mark, path: path())
            }
            return result(String(tokens[index]))
        }
    }
}
