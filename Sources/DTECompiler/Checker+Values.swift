import DTEModel

/// Where a value is being checked: its file, the node template `SELF` means, and the type table.
/// Copied for every value checked, so what stays the same for a node is one shared reference.
struct EvalContext {
    private final class Place: Sendable {
        let file: String
        let filePath: String?
        let selfNode: String?
        let table: TypeTable

        init(file: String, filePath: String?, selfNode: String?, table: TypeTable) {
            self.file = file
            self.filePath = filePath
            self.selfNode = selfNode
            self.table = table
        }
    }

    private let place: Place
    var file: String { place.file }
    /// The absolute path of the file whose topology inputs `get_input` reads (nil inside type definitions).
    var filePath: String? { place.filePath }
    var selfNode: String? { place.selfNode }
    var table: TypeTable { place.table }
    /// The value being checked at the top level (function cycles are reported there).
    var site: Mark? = nil

    init(file: String, filePath: String?, selfNode: String?, table: TypeTable) {
        place = Place(file: file, filePath: filePath, selfNode: selfNode, table: table)
    }
}

extension CheckScope {
    /// What a function call evaluated to: a value written somewhere else, or a call kept for apply time.
    enum Resolution {
        case node(YAMLNode, origin: String)
        case symbolic(FunctionCall)
        case failed
    }

    // MARK: - entry points

    /// Checks `node` against `schema` (type, entry/key schema, constraints) and returns its typed value.
    /// With `quiet`, problems are not reported (values already checked where they were written).
    func checkValue(_ node: YAMLNode, schema: SchemaDefinition, ctx: EvalContext, subject: @autoclosure () -> String, path: @autoclosure () -> String,
                    quiet: Bool = false) -> Value? {
        let before = diagnostics.count
        var ctx = ctx
        ctx.site = node.mark
        let cs = constraints(for: schema, table: ctx.table, file: ctx.file)
        let v = checkTyped(node, type: schema.type, entry: schema.entrySchema, key: schema.keySchema, constraints: cs, ctx: ctx,
                           subject: subject(), path: path(), origin: nil, site: node.mark, depth: 0)
        if quiet, diagnostics.count > before { removeDiagnostics(from: before) }
        return v
    }

    /// A value with no declared type (outputs, operation inputs): functions are checked and evaluated.
    func genericValue(_ node: YAMLNode, ctx: EvalContext, path: @autoclosure () -> String, subject: @autoclosure () -> String) -> Value? {
        checkTyped(node, type: PrimitiveType.any.rawValue, entry: nil, key: nil, constraints: [], ctx: ctx, subject: subject(), path: path(),
                   origin: nil, site: node.mark, depth: 0)
    }

    func fail(_ code: String, _ detail: String, hint: String?, ctx: EvalContext, subject: @autoclosure () -> String, path: @autoclosure () -> String, site: Mark) {
        error(code, "\(subject()): \(detail)", hint: hint, file: ctx.file, mark: site, path: path())
    }

    static func show(_ node: YAMLNode) -> String {
        switch node {
        case .scalar(let s):
            if s.isNull { return "null" }
            if s.style.isQuoted || PlainScalar.classify(s.value) == .string { return "\"\(s.value)\"" }
            return s.value
        case .sequence(let items, _): return items.count <= 6 ? "[" + items.map(show).joined(separator: ", ") + "]" : "a list of \(items.count)"
        case .mapping(let e, _): return e.count <= 4 ? "{" + e.map { "\($0.key): \(show($0.value))" }.joined(separator: ", ") + "}" : "a map"
        }
    }

    // MARK: - typed checking

    func checkTyped(_ node: YAMLNode, type: String, entry: SchemaDefinition?, key: SchemaDefinition?, constraints: [Constraint],
                    ctx: EvalContext, subject: @autoclosure () -> String, path: @autoclosure () -> String, origin: String?, site: Mark, depth: Int) -> Value? {
        if let call = functionCall(in: node) {
            switch resolveFunction(call.name, call.args, mark: call.mark, ctx: ctx, path: path(), depth: depth) {
            case .failed: return nil
            case .symbolic(let f): return .function(f)
            case .node(let resolved, let o):
                return checkTyped(resolved, type: type, entry: entry, key: key, constraints: constraints, ctx: ctx, subject: subject(),
                                  path: path(), origin: o, site: site, depth: depth + 1)
            }
        }
        if case .scalar(let s) = node, s.tag == YAMLScalar.invalidTag { return nil }  // reported by the loader
        let from = origin.map { " (from \($0))" } ?? ""
        let value: Value?
        if let prim = PrimitiveType.named(type) {
            value = checkPrimitive(prim, node, entry: entry, key: key, ctx: ctx, subject: subject(), path: path(), from: from, site: site, depth: depth)
        } else if let dt = ctx.table.lookup(.data, type) {
            if let prim = ctx.table.primitiveBase(dt) {
                let chain = ctx.table.ancestors(dt)
                let e = entry ?? chain.lazy.compactMap(\.entrySchema).first
                let k = key ?? chain.lazy.compactMap(\.keySchema).first
                value = checkPrimitive(prim, node, entry: e, key: k, ctx: ctx, subject: subject(), path: path(), from: from, site: site, depth: depth)
                if let v = value {
                    for a in chain where !a.constraints.isEmpty {
                        let cs = dataTypeConstraints(a, primitive: prim, table: ctx.table)
                        reportViolations(v, cs, node: node, ctx: ctx, subject: subject(), path: path(), from: from, site: site,
                                         note: " of data type \(a.name)")
                    }
                }
            } else {
                value = checkComplex(node, dt, ctx: ctx, subject: subject(), path: path(), from: from, site: site, depth: depth)
            }
        } else {
            return nil  // the unknown type is reported where it is declared
        }
        if let v = value, !constraints.isEmpty {
            reportViolations(v, constraints, node: node, ctx: ctx, subject: subject(), path: path(), from: from, site: site, note: "")
        }
        return value
    }

    func reportViolations(_ v: Value, _ cs: [Constraint], node: YAMLNode, ctx: EvalContext, subject: @autoclosure () -> String, path: @autoclosure () -> String, from: String,
                          site: Mark, note: String) {
        for c in cs where !c.isSatisfied(by: v) {
            fail("constraint-" + c.operatorName.replacingOccurrences(of: "_", with: "-"),
                 "\(v.isSymbolic ? Self.show(node) : v.display)\(from) violates constraint \(c.display)\(note)",
                 hint: Self.constraintHint(c), ctx: ctx, subject: subject(), path: path(), site: site)
        }
    }

    static func constraintHint(_ c: Constraint) -> String {
        switch c {
        case .equal(let v): return "the only allowed value is \(v.display)"
        case .greaterThan(let v): return "use a value greater than \(v.display)"
        case .greaterOrEqual(let v): return "use a value of at least \(v.display)"
        case .lessThan(let v): return "use a value less than \(v.display)"
        case .lessOrEqual(let v): return "use a value of at most \(v.display)"
        case .inRange(let a, let b): return "use a value between \(a.display) and \(b.display)"
        case .validValues(let vs): return "use one of: " + vs.map(\.display).joined(separator: ", ")
        case .length(let n): return "the length must be exactly \(n)"
        case .minLength(let n): return "the length must be at least \(n)"
        case .maxLength(let n): return "the length must be at most \(n)"
        case .pattern(let p): return "the whole value must match the regular expression \(p.source)"
        }
    }

    /// A scalar of another type that arrives through a function (`get_input` of a string input
    /// "true" where a boolean belongs, an integer input where a string belongs) and whose text reads
    /// as the wanted type: tosca-parser passes such values on unchecked and its orchestrators
    /// convert them, so DTE reads it too, with a warning; nil under --strict (a type mismatch).
    func converted(_ value: Value, _ s: YAMLScalar, subject: String, ctx: EvalContext, from: String, site: Mark, path: String) -> Value? {
        guard !options.strict else { return nil }
        let node = YAMLNode.scalar(s)
        let kind: String
        switch value {
        case .string: kind = "the string "
        case .integer: kind = "the integer "
        case .float: kind = "the float "
        case .boolean: kind = "the boolean "
        default: kind = ""
        }
        warning("value-converted", "\(subject): \(Self.show(node))\(from) is \(node.kindDescription), read as \(kind)\(value.display)",
                hint: "give what it comes from the type the property has (\(Spec.parameterDefinition) and \(Spec.getInput): the input's type"
                    + " is the value's type; dte validate --strict refuses the conversion)",
                file: ctx.file, mark: site, path: path)
        return value
    }

    func mismatch(_ expected: String, _ node: YAMLNode, hint: String? = nil, ctx: EvalContext, subject: @autoclosure () -> String, path: @autoclosure () -> String, from: String,
                  site: Mark) {
        var h = hint
        if h == nil, case .mapping(let e, _) = node, e.count == 1 {
            h = "\"\(e[0].key)\" is not a TOSCA function; functions are get_input, get_property, get_attribute, concat, join, token"
            if let m = closestMatch(to: e[0].key, in: ["get_input", "get_property", "get_attribute", "concat", "join", "token"]) {
                h = "did you mean \"\(m)\"? " + (h ?? "")
            }
            fail("unknown-function", "unknown function \"\(e[0].key)\"", hint: h, ctx: ctx, subject: subject(), path: path(), site: site)
            return
        }
        fail("type-mismatch", "expected \(expected), got \(node.kindDescription) (\(Self.show(node)))\(from)", hint: h, ctx: ctx,
             subject: subject(), path: path(), site: site)
    }

    func checkPrimitive(_ prim: PrimitiveType, _ node: YAMLNode, entry: SchemaDefinition?, key: SchemaDefinition?, ctx: EvalContext,
                        subject: @autoclosure () -> String, path: @autoclosure () -> String, from: String, site: Mark, depth: Int) -> Value? {
        switch prim {
        case .any:
            return anyValue(node, ctx: ctx, subject: subject(), path: path(), site: site, depth: depth)
        case .range:
            if let v = checkRange(node) { return v }
            mismatch("a range [lower, upper] (upper may be UNBOUNDED)", node, ctx: ctx, subject: subject(), path: path(), from: from, site: site)
            return nil
        case .list:
            guard case .sequence(let items, _) = node else {
                mismatch("a list", node, ctx: ctx, subject: subject(), path: path(), from: from, site: site)
                return nil
            }
            var out: [Value] = []
            out.reserveCapacity(items.count)
            let cs = entry.map { constraints(for: $0, table: ctx.table, file: ctx.file) } ?? []
            for (i, item) in items.enumerated() {
                                let itemSite = from.isEmpty ? item.mark : site
                if let v = checkTyped(item, type: entry?.type ?? "any", entry: entry?.entrySchema, key: entry?.keySchema, constraints: cs,
                                      ctx: ctx, subject: subject() + " [\(i)]", path: path() + "." + String(i), origin: nil, site: itemSite, depth: depth) {
                    out.append(v)
                }
            }
            return .list(out)
        case .map:
            guard case .mapping(let entries, _) = node else {
                mismatch("a map", node, ctx: ctx, subject: subject(), path: path(), from: from, site: site)
                return nil
            }
            var out: [Value.MapEntry] = []
            out.reserveCapacity(entries.count)
            let cs = entry.map { constraints(for: $0, table: ctx.table, file: ctx.file) } ?? []
            let kcs = key.map { constraints(for: $0, table: ctx.table, file: ctx.file) } ?? []
            for e in entries {
                                if let key {
                    _ = checkTyped(.scalar(YAMLScalar(value: e.key, style: .singleQuoted, mark: e.keyMark)), type: key.type, entry: nil, key: nil,
                                   constraints: kcs, ctx: ctx, subject: subject() + " key \"\(e.key)\"", path: path() + "." + e.key, origin: nil,
                                   site: from.isEmpty ? e.keyMark : site, depth: depth)
                }
                if let v = checkTyped(e.value, type: entry?.type ?? "any", entry: entry?.entrySchema, key: entry?.keySchema, constraints: cs,
                                      ctx: ctx, subject: subject() + " [\(e.key)]", path: path() + "." + e.key, origin: nil,
                                      site: from.isEmpty ? e.value.mark : site, depth: depth) {
                    out.append(Value.MapEntry(key: e.key, value: v))
                }
            }
            return .map(out)
        default:
            break
        }
        guard case .scalar(let s) = node else {
            mismatch(Self.article(prim), node, ctx: ctx, subject: subject(), path: path(), from: from, site: site)
            return nil
        }
        if s.isNull {
            if prim == .null { return .null }
            mismatch(Self.article(prim), node, hint: "give a value or remove the key", ctx: ctx, subject: subject(), path: path(), from: from, site: site)
            return nil
        }
        let plain = s.style == .plain ? PlainScalar.classify(s.value) : .string
        switch prim {
        case .string:
            if plain == .string { return .string(s.value) }
            if !from.isEmpty, s.style == .plain, plain != .null, let v = converted(.string(s.value), s, subject: subject(), ctx: ctx, from: from, site: site, path: path()) {
                return v
            }
            if !options.strict, from.isEmpty, s.style == .plain, plain != .null {
                // a plain true, 1 or 1.0 where a string belongs: YAML tools hand tosca-parser a
                // bool or number there and it takes its text
                warning("unquoted-string", "\(subject()): \(s.value) is read as the string \"\(s.value)\"",
                        hint: "quote it: \"\(s.value)\" (dte validate --strict refuses an unquoted non-string)", file: ctx.file, mark: site, path: path())
                return .string(s.value)
            }
            mismatch("a string", node, hint: "quote it: \"\(s.value)\"", ctx: ctx, subject: subject(), path: path(), from: from, site: site)
        case .integer:
            if case .integer(let i) = plain { return .integer(i) }
            if s.style.isQuoted, let i = Int(s.value), !from.isEmpty,
               let v = converted(.integer(i), s, subject: subject(), ctx: ctx, from: from, site: site, path: path()) {
                return v
            }
            if s.style.isQuoted, let i = Int(s.value), !options.strict, from.isEmpty {
                // tosca-parser converts a quoted integer ("-1") written where an integer is expected
                // (not a string arriving through get_input: that is a type error wherever it came from)
                warning("quoted-integer", "\(subject()): \"\(s.value)\" is quoted and read as the integer \(i), as tosca-parser reads it",
                        hint: "remove the quotes: \(s.value) (dte validate --strict refuses a quoted integer)", file: ctx.file, mark: site, path: path())
                return .integer(i)
            }
            if s.style.isQuoted, Int(s.value) != nil {
                mismatch("an integer", node, hint: "remove the quotes: \(s.value)", ctx: ctx, subject: subject(), path: path(), from: from, site: site)
            } else {
                mismatch("an integer", node, ctx: ctx, subject: subject(), path: path(), from: from, site: site)
            }
        case .float:
            if case .float(let d) = plain { return .float(d) }
            if case .integer(let i) = plain { return .float(Double(i)) }
            if s.style.isQuoted, let d = Double(s.value), d.isFinite, !from.isEmpty,
               let v = converted(.float(d), s, subject: subject(), ctx: ctx, from: from, site: site, path: path()) {
                return v
            }
            mismatch("a float", node, hint: s.style.isQuoted && Double(s.value) != nil ? "remove the quotes: \(s.value)" : nil,
                     ctx: ctx, subject: subject(), path: path(), from: from, site: site)
        case .boolean:
            if case .boolean(let b) = plain { return .boolean(b) }
            if s.style.isQuoted, !from.isEmpty, let b = ["true": true, "false": false][s.value.lowercased()],
               let v = converted(.boolean(b), s, subject: subject(), ctx: ctx, from: from, site: site, path: path()) {
                return v
            }
            mismatch("a boolean", node, hint: "use true or false", ctx: ctx, subject: subject(), path: path(), from: from, site: site)
        case .timestamp:
            if let t = TOSCATimestamp.parse(s.value) { return .timestamp(t) }
            fail("bad-timestamp", "\(Self.show(node))\(from) is not a timestamp", hint: "use ISO 8601, e.g. 2026-11-25T17:40:45Z or 2026-11-25",
                 ctx: ctx, subject: subject(), path: path(), site: site)
        case .version:
            if let v = TOSCAVersion.parse(s.value) { return .version(v) }
            if !options.strict, s.style == .plain, case .integer(let major) = plain, major >= 0, let v = TOSCAVersion.parse("\(major).0") {
                // `version: 7` (an OS release): YAML reads an integer, tosca-parser takes it as 7.0
                warning("version-major-only", "\(subject()): \(s.value)\(from) is read as the version \(major).0, as tosca-parser reads it",
                        hint: "write \(major).0 (\(Spec.version): a version has at least major.minor; dte validate --strict refuses a lone major number)",
                        file: ctx.file, mark: site, path: path())
                return .version(v)
            }
            fail("bad-version", "\(Self.show(node))\(from) is not a version", hint: "use major.minor[.fix[.qualifier[-build]]], e.g. 1.4 or 2.0.1",
                 ctx: ctx, subject: subject(), path: path(), site: site)
        case .null:
            mismatch("null", node, ctx: ctx, subject: subject(), path: path(), from: from, site: site)
        case .scalarSize, .scalarTime, .scalarFrequency, .scalarBitrate:
            guard let kind = prim.scalarKind else { return nil }
            if let u = scalarUnit(s.value, kind: kind) { return .scalar(u) }
            fail("bad-scalar-unit", "\(Self.show(node))\(from) is not a \(kind.rawValue)",
                 hint: "use a number and one of \(kind.unitList) — e.g. \"\(kind.example)\"", ctx: ctx, subject: subject(), path: path(), site: site)
        case .any, .list, .map, .range:
            break
        }
        return nil
    }

    static func article(_ p: PrimitiveType) -> String {
        switch p {
        case .integer: return "an integer"
        case .any: return "a value"
        case .null: return "null"
        case .range: return "a range [lower, upper]"
        case .version: return "a version"
        case .timestamp: return "a timestamp"
        default: return "a " + p.rawValue
        }
    }

    /// Ranges are lists of two bounds; checked apart since they are sequences.
    func checkRange(_ node: YAMLNode) -> Value? {
        guard let items = node.items, items.count == 2, let lo = items[0].string.flatMap({ Int($0) }) else { return nil }
        if items[1].string == "UNBOUNDED" { return .range(lower: lo, upper: nil) }
        guard let hi = items[1].string.flatMap({ Int($0) }), hi >= lo else { return nil }
        return .range(lower: lo, upper: hi)
    }

    func checkComplex(_ node: YAMLNode, _ dt: TypeDefinition, ctx: EvalContext, subject: @autoclosure () -> String, path: @autoclosure () -> String, from: String, site: Mark,
                      depth: Int) -> Value? {
        guard case .mapping(let entries, _) = node else {
            mismatch("a map of \(dt.name)", node, ctx: ctx, subject: subject(), path: path(), from: from, site: site)
            return nil
        }
        let defs = ctx.table.properties(dt)
        var out: [Value.MapEntry] = []
        for e in entries where !defs.contains(where: { $0.name == e.key }) {
            fail("unknown-property", "data type \(dt.name) has no property \"\(e.key)\"",
                 hint: Self.didYouMean(e.key, defs.map(\.name), list: true), ctx: ctx, subject: subject(), path: path() + "." + e.key,
                 site: from.isEmpty ? e.keyMark : site)
        }
        for def in defs {
            let cs = constraints(for: def.schema, table: ctx.table, file: ctx.file)
            if let e = entries.first(where: { $0.key == def.name }) {
                if let v = checkTyped(e.value, type: def.type, entry: def.schema.entrySchema, key: def.schema.keySchema, constraints: cs,
                                      ctx: ctx, subject: subject() + " [\(def.name)]", path: path() + "." + def.name, origin: nil,
                                      site: from.isEmpty ? e.value.mark : site, depth: depth) {
                    out.append(Value.MapEntry(key: def.name, value: v))
                }
            } else if let d = def.defaultValue {
                let before = diagnostics.count
                if let v = checkTyped(d, type: def.type, entry: def.schema.entrySchema, key: def.schema.keySchema, constraints: cs, ctx: ctx,
                                      subject: subject(), path: path(), origin: nil, site: site, depth: depth) {
                    out.append(Value.MapEntry(key: def.name, value: v))
                }
                if diagnostics.count > before { removeDiagnostics(from: before) }
            } else if def.required {
                fail("missing-property", "missing required field \"\(def.name)\" of \(dt.name)",
                     hint: "add \(def.name): … to this map", ctx: ctx, subject: subject(), path: path(), site: from.isEmpty ? node.mark : site)
            }
        }
        return .map(out)
    }

    /// A value with no schema: scalars typed by their YAML form; functions evaluated.
    func anyValue(_ node: YAMLNode, ctx: EvalContext, subject: @autoclosure () -> String, path: @autoclosure () -> String, site: Mark, depth: Int) -> Value? {
        switch node {
        case .scalar(let s):
            if s.isNull { return .null }
            if s.style.isQuoted { return .string(s.value) }
            switch PlainScalar.classify(s.value) {
            case .null: return .null
            case .boolean(let b): return .boolean(b)
            case .integer(let i): return .integer(i)
            case .float(let d): return .float(d)
            case .string: return .string(s.value)
            }
        case .sequence(let items, _):
            return .list(items.enumerated().compactMap { i, item in
                checkTyped(item, type: "any", entry: nil, key: nil, constraints: [], ctx: ctx, subject: subject(), path: path() + ".\(i)",
                           origin: nil, site: item.mark, depth: depth)
            })
        case .mapping(let entries, _):
            return .map(entries.compactMap { e in
                checkTyped(e.value, type: "any", entry: nil, key: nil, constraints: [], ctx: ctx, subject: subject(), path: path() + "." + e.key,
                           origin: nil, site: e.value.mark, depth: depth).map { Value.MapEntry(key: e.key, value: $0) }
            })
        }
    }
}
