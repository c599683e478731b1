import DTEModel

/// Constraint clauses: parsed once per schema into typed constraints, their operands checked
/// against the property's type, problems reported once, where the clause is written.
extension CheckScope {
    /// The typed constraints of a schema (parsed once; problems in them reported once, where written).
    func constraints(for schema: SchemaDefinition, table: TypeTable, file: String) -> [Constraint] {
        let id = ObjectIdentifier(schema)
        if let c = knownConstraints[id] ?? constraintMemo[id] { return c }
        var out: [Constraint] = []
        var prim = PrimitiveType.named(schema.type)
        if prim == nil, let dt = table.lookup(.data, schema.type) { prim = table.primitiveBase(dt) }
        for (i, clause) in schema.constraints.enumerated() {
            let path = schema.source.path + ".constraints.\(i)"
            if let c = parseConstraint(clause, type: prim, typeName: schema.type, table: table, file: file, path: path) { out.append(c) }
        }
        constraintMemo[id] = out
        return out
    }

    func dataTypeConstraints(_ dt: TypeDefinition, primitive: PrimitiveType, table: TypeTable) -> [Constraint] {
        let schema = SchemaDefinition(type: primitive.rawValue, typeMark: dt.source.mark, description: nil, constraints: dt.constraints,
                                      entrySchema: nil, keySchema: nil, source: dt.source)
        let id = ObjectIdentifier(dt)
        if let c = knownConstraints[id] ?? constraintMemo[id] { return c }
        let quietStart = diagnostics.count
        let c = constraints(for: schema, table: table, file: dt.source.file)
        if diagnostics.count > quietStart { removeDiagnostics(from: quietStart) }  // reported with the type definition
        constraintMemo[id] = c
        return c
    }

    func parseConstraint(_ clause: YAMLNode, type: PrimitiveType?, typeName: String, table: TypeTable, file: String, path: String) -> Constraint? {
        guard case .mapping(let entries, _) = clause, entries.count == 1 else {
            error("bad-constraint", "a constraint must be a map with one operator, e.g. { greater_or_equal: 1 }",
                  hint: "operators: " + Constraint.operators.joined(separator: ", "), file: file, mark: clause.mark, path: path)
            return nil
        }
        let e = entries[0]
        let ctx = EvalContext(file: file, filePath: nil, selfNode: nil, table: table)
        // in_range on a range (PortSpec's source_range: in_range [1, 65535]) bounds both ends: its operands are integers
        let operandType = type == .range && e.key == "in_range" ? PrimitiveType.integer.rawValue
            : type?.rawValue ?? (table.lookup(.data, typeName) != nil ? "any" : typeName)
        func operand(_ n: YAMLNode) -> Value? {
            let before = diagnostics.count
            let v = checkTyped(n, type: operandType, entry: nil, key: nil, constraints: [], ctx: ctx,
                               subject: "constraint \(e.key)", path: path + "." + e.key, origin: nil, site: n.mark, depth: 0)
            if diagnostics.count > before {
                // rephrase: the operand does not fit the property's type
                amendDiagnostic(at: before, code: "bad-constraint", appending: " — an operand of \(e.key) must be of the property's type \(operandType == typeName ? typeName : "\(typeName) (\(operandType))")")
            }
            return v
        }
        func natural(_ n: YAMLNode) -> Int? {
            if let s = n.scalar, s.style == .plain, case .integer(let i) = PlainScalar.classify(s.value), i >= 0 { return i }
            error("bad-constraint", "\(e.key) takes a non-negative integer, not \(Self.show(n))", file: file, mark: n.mark, path: path + "." + e.key)
            return nil
        }
        switch e.key {
        case "equal": return operand(e.value).map(Constraint.equal)
        case "greater_than": return operand(e.value).map(Constraint.greaterThan)
        case "greater_or_equal": return operand(e.value).map(Constraint.greaterOrEqual)
        case "less_than": return operand(e.value).map(Constraint.lessThan)
        case "less_or_equal": return operand(e.value).map(Constraint.lessOrEqual)
        case "in_range":
            guard let items = e.value.items, items.count == 2 else {
                error("bad-constraint", "in_range takes a list of two values, [lower, upper]", file: file, mark: e.value.mark, path: path + ".in_range")
                return nil
            }
            guard let lo = operand(items[0]) else { return nil }
            if items[1].string == "UNBOUNDED" { return .inRange(lo, .float(.infinity)) }
            guard let hi = operand(items[1]) else { return nil }
            if let c = Value.compare(lo, hi), c > 0 {
                error("bad-constraint", "in_range: the lower bound \(lo.display) is above the upper bound \(hi.display)", file: file,
                      mark: e.value.mark, path: path + ".in_range")
                return nil
            }
            return .inRange(lo, hi)
        case "valid_values":
            guard let items = e.value.items else {
                error("bad-constraint", "valid_values takes a list of values", file: file, mark: e.value.mark, path: path + ".valid_values")
                return nil
            }
            let vs = items.compactMap(operand)
            return vs.count == items.count ? .validValues(vs) : nil
        case "length": return natural(e.value).map(Constraint.length)
        case "min_length": return natural(e.value).map(Constraint.minLength)
        case "max_length": return natural(e.value).map(Constraint.maxLength)
        case "pattern":
            guard let s = e.value.string else {
                error("bad-constraint", "pattern takes a regular expression string", file: file, mark: e.value.mark, path: path + ".pattern")
                return nil
            }
            guard let p = Pattern(s) else {
                error("bad-constraint", "pattern \"\(s)\" is not a valid regular expression", file: file, mark: e.value.mark, path: path + ".pattern")
                return nil
            }
            return .pattern(p)
        default:
            error("unknown-constraint", "unknown constraint operator \"\(e.key)\"",
                  hint: Self.didYouMean(e.key, Constraint.operators, list: true), file: file, mark: e.keyMark, path: path + "." + e.key)
            return nil
        }
    }
}
