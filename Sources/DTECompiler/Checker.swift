import Foundation
import DTEModel

/// Options of a check run.
public struct CheckOptions: Sendable {
    /// Input values supplied by the user (`--input name=value`), by name, with where they came from.
    public var inputs: [String: YAMLNode] = [:]
    public var inputsSource: String = "<command line>"
    /// Report required inputs that have no value (planning needs them; validating does not).
    public var requireInputs = false
    /// Refuse what only YAML 1.1 tools accept (`--strict`) instead of reading it with a warning.
    public var strict = false

    public init() {}
}

/// Type-checks loaded files: types and their inheritance, node templates, requirements,
/// policies, groups, inputs, outputs and every function, collecting all diagnostics.
public final class Checker {
    let sources: SourceSet
    let options: CheckOptions
    public internal(set) var diagnostics: [Diagnostic] = []
    public private(set) var model = CompiledModel()

    var tables: [String: TypeTable] = [:]
    /// Node templates by global name.
    var nodeIndex: [String: NodeRef] = [:]
    var groupIndex: [String: (file: String, group: MemberDefinition)] = [:]
    var propertyDefsByType: [ObjectIdentifier: [String: PropertyDefinition]] = [:]
    var constraintCache: [ObjectIdentifier: [Constraint]] = [:]
    var checkedTypes: Set<ObjectIdentifier> = []
    var inputValueCache: [String: YAMLNode?] = [:]
    var defaultCache: [ObjectIdentifier: Value?] = [:]
    var typeChainCache: [ObjectIdentifier: [String]] = [:]
    /// The value being checked at the top level (function cycles are reported there).
    var currentSite: Mark?

    struct NodeRef {
        var file: String
        var display: String
        var template: NodeTemplate
        var type: TypeDefinition?
        var table: TypeTable
    }

    public init(sources: SourceSet, options: CheckOptions = CheckOptions()) {
        self.sources = sources
        self.options = options
    }

    // MARK: - diagnostics

    func error(_ code: String, _ message: String, hint: String? = nil, file: String, mark: Mark, path: String) {
        diagnostics.append(Diagnostic(.error, code: code, message, hint: hint, file: file, mark: mark, path: path))
    }

    func warning(_ code: String, _ message: String, hint: String? = nil, file: String, mark: Mark, path: String) {
        diagnostics.append(Diagnostic(.warning, code: code, message, hint: hint, file: file, mark: mark, path: path))
    }

    static func didYouMean(_ word: String, _ candidates: [String], list: Bool = false) -> String? {
        if let m = closestMatch(to: word, in: candidates) { return "did you mean \"\(m)\"?" }
        if list, !candidates.isEmpty, candidates.count <= 12 { return "expected one of: " + candidates.sorted().joined(separator: ", ") }
        return nil
    }

    // MARK: - run

    /// Checks every loaded file; returns the resolved model.
    @discardableResult
    public func run() -> CompiledModel {
        buildTypeTables()
        for f in sources.allFiles {
            guard let table = tables[f.path] else { continue }
            for t in f.template.types { checkTypeDefinition(t, table: table, file: f.display) }
        }
        indexTemplates()
        checkSuppliedInputs()
        for f in sources.allFiles {
            guard let table = tables[f.path], let topo = f.template.topology else { continue }
            checkTopology(topo, file: f, table: table)
        }
        model.files = sources.allFiles.map(\.display)
        return model
    }

    // MARK: - type tables

    /// One table per file: the normative types, the file's own types, and (transitively) its imports'.
    func buildTypeTables() {
        let normative = TypeTable()
        for t in NormativeTypes.definitions { normative.add(t) }
        /// The file's own types and, transitively, its imports' (prefixed where imported with a
        /// namespace_prefix); import cycles are walked once.
        func exports(_ path: String) -> [(String, TypeDefinition)] {
            var out: [(String, TypeDefinition)] = []
            var visited: Set<String> = []
            func walk(_ p: String, prefix: String?) {
                guard visited.insert(p).inserted, let f = sources.files[p] else { return }
                for t in f.template.types { out.append((prefix.map { "\($0):\(t.name)" } ?? t.name, t)) }
                for imp in f.imports { walk(imp.path, prefix: imp.prefix ?? prefix) }
            }
            walk(path, prefix: nil)
            return out
        }

        for f in sources.allFiles {
            let table = normative.copy()
            for (name, t) in exports(f.path) {
                if let existing = table.add(t, as: name) {
                    let here = f.template.types.contains { $0 === t } ? t : existing
                    let other = here === t ? existing : t
                    if existing.isNormative && !options.strict {
                        // type files written for tosca-parser restate normative types (tosca.datatypes.Root):
                        // the normative definition stands, as normative names are the profile's
                        if f.template.types.contains(where: { $0 === t }) {
                            warning("normative-redefinition", "\(t.kind.label) \"\(name)\" restates a TOSCA normative type; DTE uses the normative definition",
                                    hint: "remove it from this file (dte validate --strict refuses it)", file: t.source.file, mark: t.source.mark,
                                    path: t.source.path)
                        }
                    } else if existing.isNormative {
                        error("duplicate-type", "\(t.kind.label) \"\(name)\" redefines a TOSCA normative type",
                              hint: "choose another name, e.g. with your organisation's prefix", file: t.source.file, mark: t.source.mark,
                              path: t.source.path)
                    } else if f.template.types.contains(where: { $0 === here }) || f.isRoot {
                        error("duplicate-type",
                              "\(t.kind.label) \"\(name)\" is defined twice: here and in \(other.source.file):\(other.source.mark.line)",
                              hint: "keep one definition and import it where needed", file: here.source.file, mark: here.source.mark,
                              path: here.source.path)
                    }
                }
            }
            tables[f.path] = table
        }
        model.typeCount = Set(tables.values.flatMap { t in TypeKind.allCases.flatMap { t.all($0).map(ObjectIdentifier.init) } }).count
    }

    // MARK: - type definitions

    func checkTypeDefinition(_ t: TypeDefinition, table: TypeTable, file: String) {
        guard checkedTypes.insert(ObjectIdentifier(t)).inserted else { return }
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

    // MARK: - templates

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

    /// Checks node templates; a large topology is split between two workers (the machine's
    /// cores), each a checker of its own over the same read-only inputs.
    func checkNodeTemplates(_ refs: [NodeRef]) -> [ResolvedNode] {
        let workers = refs.count >= 2_000 ? min(2, max(1, ProcessInfo.processInfo.activeProcessorCount)) : 1
        guard workers > 1 else { return refs.compactMap(checkNodeTemplate) }
        for t in tables.values { t.freeze() }
        let chunk = (refs.count + workers - 1) / workers
        let parts = (0..<workers).map { Array(refs[min(refs.count, $0 * chunk)..<min(refs.count, ($0 + 1) * chunk)]) }
        let checkers = Workers(parts.map { _ in worker() })
        let results = ResultSlots(count: workers)
        DispatchQueue.concurrentPerform(iterations: workers) { i in
            results.set(i, checkers.items[i].checkNodesAlone(parts[i]))
        }
        for c in checkers.items { diagnostics += c.diagnostics }
        return results.all.flatMap { $0 }
    }

    /// A checker sharing this one's loaded files, type tables and indexes, with caches of its own.
    func worker() -> Checker {
        let w = Checker(sources: sources, options: options)
        w.tables = tables
        w.nodeIndex = nodeIndex
        w.groupIndex = groupIndex
        w.propertyDefsByType = propertyDefsByType
        w.constraintCache = constraintCache
        w.checkedTypes = checkedTypes
        return w
    }

    func checkNodesAlone(_ refs: [NodeRef]) -> [ResolvedNode] {
        refs.compactMap(checkNodeTemplate)
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

    func checkRequirements(_ nt: NodeTemplate, type: TypeDefinition, ctx: EvalContext) -> [ResolvedRequirement] {
        let table = ctx.table
        let defs = table.requirements(type)
        var out: [ResolvedRequirement] = []
        var counts: [String: Int] = [:]
        for ra in nt.requirements {
            guard let def = defs.last(where: { $0.name == ra.name }) else {
                error("unknown-requirement", "\"\(nt.name)\": type \(type.name) has no requirement \"\(ra.name)\"",
                      hint: Self.didYouMean(ra.name, defs.map(\.name), list: true), file: ctx.file, mark: ra.source.mark, path: ra.source.path)
                continue
            }
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
            out.append(ResolvedRequirement(name: ra.name, target: target, relationship: relationship, mark: ra.source.mark))
        }
        for def in defs where def.occurrencesExplicit {
            let n = counts[def.name] ?? 0
            if n < def.occurrences.lower {
                error("requirement-missing", "\"\(nt.name)\" must fulfil requirement \"\(def.name)\" at least \(def.occurrences.lower) time\(def.occurrences.lower == 1 ? "" : "s")",
                      hint: "add \"- \(def.name): <node template>\" under requirements", file: ctx.file, mark: nt.source.mark, path: nt.source.path)
            }
        }
        return out
    }

    /// The target node fits the requirement: its type, and a capability of the wanted type.
    func checkRequirementTarget(_ ra: RequirementAssignment, def: RequirementDefinition, nt: NodeTemplate, target n: String, tref: NodeRef,
                                ttype: TypeDefinition, ctx: EvalContext) {
        let table = ctx.table
        if let want = def.node, let wt = table.lookup(.node, want), !tref.table.ancestors(ttype).contains(where: { $0 === wt }) {
            error("requirement-type-mismatch",
                  "requirement \"\(ra.name)\" of \"\(nt.name)\" needs a node of type \(want), but \"\(n)\" is a \(ttype.name)",
                  hint: "point it at a \(want) node template", file: ctx.file, mark: ra.nodeMark, path: ra.source.path)
            return
        }
        let tcaps = tref.table.capabilities(ttype)
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
            let ok = tcaps.contains { c in c.name == capName || tref.table.derives(.capability, c.type, from: capName) }
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
}

/// One result per worker, written by that worker only (distinct indexes), read after all joined.
private final class ResultSlots: @unchecked Sendable {
    private var slots: [[ResolvedNode]]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: [], count: count) }

    func set(_ i: Int, _ v: [ResolvedNode]) {
        lock.lock()
        slots[i] = v
        lock.unlock()
    }

    var all: [[ResolvedNode]] {
        lock.lock()
        defer { lock.unlock() }
        return slots
    }
}

/// Carries worker checkers to the threads of `concurrentPerform`: worker `i` is used by
/// iteration `i` only, and by the caller again only after all iterations returned.
private final class Workers: @unchecked Sendable {
    let items: [Checker]
    init(_ items: [Checker]) { self.items = items }
}
