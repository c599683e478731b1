/// The TOSCA primitive and special types that are not defined in YAML.
public enum PrimitiveType: String, Sendable, CaseIterable {
    case string, integer, float, boolean, timestamp, null, version, range, list, map
    case scalarSize = "scalar-unit.size"
    case scalarTime = "scalar-unit.time"
    case scalarFrequency = "scalar-unit.frequency"
    case scalarBitrate = "scalar-unit.bitrate"
    /// Internal: an input declared without a type accepts any value.
    case any

    public var scalarKind: ScalarUnitKind? { ScalarUnitKind(rawValue: rawValue) }

    public static func named(_ name: String) -> PrimitiveType? {
        if let p = PrimitiveType(rawValue: name) { return p }
        if name.hasPrefix("tosca:"), let p = PrimitiveType(rawValue: String(name.dropFirst(6))) { return p }
        return nil
    }
}

/// The types visible from one file: TOSCA's normative types plus everything it imports.
/// Resolves short names (`Compute`, `tosca:Compute`), inheritance and merged definitions.
public final class TypeTable: @unchecked Sendable {
    // The caches fill lazily while one thread checks; `freeze()` fills them all, after which
    // nothing is written and several threads may read (see `frozen`).
    private var types: [TypeKind: [String: TypeDefinition]] = [:]
    private var mergedProperties: [ObjectIdentifier: [PropertyDefinition]] = [:]
    private var mergedAttributes: [ObjectIdentifier: [PropertyDefinition]] = [:]
    private var mergedRequirements: [ObjectIdentifier: [RequirementDefinition]] = [:]
    private var mergedCapabilities: [ObjectIdentifier: [CapabilityDefinition]] = [:]
    private var mergedInterfaces: [ObjectIdentifier: [InterfaceDefinition]] = [:]
    private var ancestorCache: [ObjectIdentifier: [TypeDefinition]] = [:]
    /// Once set, the table is read-only: a cache miss computes without storing.
    public private(set) var frozen = false

    public init() {}

    /// Computes every cached answer so the table can be read from several threads at once.
    public func freeze() {
        for kind in TypeKind.allCases {
            for t in all(kind) {
                _ = ancestors(t)
                _ = properties(t)
                _ = attributes(t)
                _ = requirements(t)
                _ = capabilities(t)
                _ = interfaces(t)
            }
        }
        frozen = true
    }

    /// Adds a definition; returns the one already there under that name when it is a different definition.
    @discardableResult
    public func add(_ t: TypeDefinition, as name: String? = nil) -> TypeDefinition? {
        precondition(!frozen, "a frozen type table cannot change")
        let key = name ?? t.name
        if let existing = types[t.kind]?[key], existing !== t { return existing }
        types[t.kind, default: [:]][key] = t
        return nil
    }

    public func all(_ kind: TypeKind) -> [TypeDefinition] {
        Array((types[kind] ?? [:]).values)
    }

    public func names(_ kind: TypeKind) -> [String] {
        Array((types[kind] ?? [:]).keys)
    }

    /// Finds a type by its full name, its TOSCA short name (`Compute`) or prefixed name (`tosca:Compute`).
    public func lookup(_ kind: TypeKind, _ name: String) -> TypeDefinition? {
        guard let table = types[kind] else { return nil }
        if let t = table[name] { return t }
        var short = Substring(name)
        if short.hasPrefix("tosca:") { short = short.dropFirst(6) }
        return table[kind.normativePrefix + short]
    }

    /// The type and its ancestors, nearest first; stops at a cycle or an unknown parent.
    public func ancestors(_ t: TypeDefinition) -> [TypeDefinition] {
        let id = ObjectIdentifier(t)
        if let c = ancestorCache[id] { return c }
        var chain: [TypeDefinition] = [t]
        var seen: Set<ObjectIdentifier> = [id]
        var cur = t
        while let parentName = cur.derivedFrom, let parent = lookup(t.kind, parentName), seen.insert(ObjectIdentifier(parent)).inserted {
            chain.append(parent)
            cur = parent
        }
        if !frozen { ancestorCache[id] = chain }
        return chain
    }

    /// Whether the type named `name` is `base` or derives from it.
    public func derives(_ kind: TypeKind, _ name: String, from base: String) -> Bool {
        guard let t = lookup(kind, name), let b = lookup(kind, base) else { return name == base }
        return ancestors(t).contains { $0 === b }
    }

    public func derives(_ t: TypeDefinition, from base: String) -> Bool {
        guard let b = lookup(t.kind, base) else { return false }
        return ancestors(t).contains { $0 === b }
    }

    /// For a data type derived (eventually) from a primitive type: that primitive.
    public func primitiveBase(_ t: TypeDefinition) -> PrimitiveType? {
        for a in ancestors(t) {
            if let d = a.derivedFrom, let p = PrimitiveType.named(d) { return p }
        }
        return nil
    }

    private func merge<T>(_ t: TypeDefinition, _ cache: inout [ObjectIdentifier: [T]], _ items: (TypeDefinition) -> [T],
                          _ name: (T) -> String) -> [T] {
        if let c = cache[ObjectIdentifier(t)] { return c }
        var out: [T] = []
        var index: [String: Int] = [:]
        for a in ancestors(t).reversed() {
            for item in items(a) {
                if let i = index[name(item)] { out[i] = item } else {
                    index[name(item)] = out.count
                    out.append(item)
                }
            }
        }
        if !frozen { cache[ObjectIdentifier(t)] = out }
        return out
    }

    /// Properties including inherited ones; a redefinition in a child replaces the parent's.
    public func properties(_ t: TypeDefinition) -> [PropertyDefinition] {
        merge(t, &mergedProperties, { $0.properties }, { $0.name })
    }

    public func attributes(_ t: TypeDefinition) -> [PropertyDefinition] {
        merge(t, &mergedAttributes, { $0.attributes }, { $0.name })
    }

    public func requirements(_ t: TypeDefinition) -> [RequirementDefinition] {
        merge(t, &mergedRequirements, { $0.requirements }, { $0.name })
    }

    public func capabilities(_ t: TypeDefinition) -> [CapabilityDefinition] {
        merge(t, &mergedCapabilities, { $0.capabilities }, { $0.name })
    }

    public func interfaces(_ t: TypeDefinition) -> [InterfaceDefinition] {
        merge(t, &mergedInterfaces, { $0.interfaces }, { $0.name })
    }

    /// Operation names of an interface type, inherited ones included.
    public func operations(_ t: TypeDefinition) -> [String] {
        ancestors(t).flatMap(\.operations)
    }

    /// A copy holding the same definitions (for a file that imports this one's set and more).
    public func copy() -> TypeTable {
        let c = TypeTable()
        c.types = types
        return c
    }
}
