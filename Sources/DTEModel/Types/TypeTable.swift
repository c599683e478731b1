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

    /// The primitive type `name` stands for (`string`, `tosca:string`), nil for any other name.
    /// One hash lookup: the checker asks it for every value it checks.
    public static func named(_ name: String) -> PrimitiveType? { byName[name] }

    private static let byName: [String: PrimitiveType] = {
        var names: [String: PrimitiveType] = [:]
        for p in allCases {
            names[p.rawValue] = p
            names["tosca:" + p.rawValue] = p
        }
        return names
    }()
}

/// The types visible from one file: TOSCA's normative types plus everything it imports.
/// Resolves short names (`Compute`, `tosca:Compute`), inheritance and merged definitions.
///
/// Immutable: a `Builder` collects the definitions, and `build()` resolves every type's
/// ancestors and merged properties, attributes, requirements, capabilities and interfaces once,
/// so any number of threads read a table at once.
public final class TypeTable: Sendable {
    /// What one type resolves to in this table. A class: every lookup hands out one reference,
    /// not a copy of eight arrays (the checker asks for it once per value it checks).
    final class Resolved: Sendable {
        let ancestors: [TypeDefinition]
        let ancestorNames: [String]
        let properties: [PropertyDefinition]
        let propertyIndex: [String: PropertyDefinition]
        let attributes: [PropertyDefinition]
        let requirements: [RequirementDefinition]
        let capabilities: [CapabilityDefinition]
        let interfaces: [InterfaceDefinition]

        init(ancestors: [TypeDefinition], ancestorNames: [String], properties: [PropertyDefinition],
             propertyIndex: [String: PropertyDefinition], attributes: [PropertyDefinition], requirements: [RequirementDefinition],
             capabilities: [CapabilityDefinition], interfaces: [InterfaceDefinition]) {
            self.ancestors = ancestors
            self.ancestorNames = ancestorNames
            self.properties = properties
            self.propertyIndex = propertyIndex
            self.attributes = attributes
            self.requirements = requirements
            self.capabilities = capabilities
            self.interfaces = interfaces
        }
    }

    private let types: [TypeKind: [String: TypeDefinition]]
    private let resolved: [ObjectIdentifier: Resolved]

    /// Collects definitions by name before the table is built.
    public struct Builder: Sendable {
        fileprivate var types: [TypeKind: [String: TypeDefinition]] = [:]

        public init() {}

        /// Adds a definition; returns the one already there under that name when it is a different definition.
        @discardableResult
        public mutating func add(_ t: TypeDefinition, as name: String? = nil) -> TypeDefinition? {
            let key = name ?? t.name
            if let existing = types[t.kind]?[key], existing !== t { return existing }
            types[t.kind, default: [:]][key] = t
            return nil
        }

        /// Whether nothing was added.
        public var isEmpty: Bool { types.isEmpty }

        public func build() -> TypeTable { TypeTable(types: types) }
    }

    private init(types: [TypeKind: [String: TypeDefinition]]) {
        self.types = types
        var resolved: [ObjectIdentifier: Resolved] = [:]
        for (kind, table) in types {
            for t in table.values where resolved[ObjectIdentifier(t)] == nil {
                resolved[ObjectIdentifier(t)] = Self.resolve(t, kind: kind, types: types)
            }
        }
        self.resolved = resolved
    }

    /// A table of the given definitions, under their own names.
    public convenience init(_ definitions: [TypeDefinition]) {
        var b = Builder()
        for t in definitions { b.add(t) }
        self.init(types: b.types)
    }

    /// A builder holding this table's definitions (for a file that sees these and more).
    public func builder() -> Builder {
        var b = Builder()
        b.types = types
        return b
    }

    private static func lookup(_ types: [TypeKind: [String: TypeDefinition]], _ kind: TypeKind, _ name: String) -> TypeDefinition? {
        guard let table = types[kind] else { return nil }
        if let t = table[name] { return t }
        var short = Substring(name)
        if short.hasPrefix("tosca:") { short = short.dropFirst(6) }
        return table[kind.normativePrefix + short]
    }

    private static func resolve(_ t: TypeDefinition, kind: TypeKind, types: [TypeKind: [String: TypeDefinition]]) -> Resolved {
        // the type and its ancestors, nearest first; stops at a cycle or an unknown parent
        var chain: [TypeDefinition] = [t]
        var seen: Set<ObjectIdentifier> = [ObjectIdentifier(t)]
        var cur = t
        while let parentName = cur.derivedFrom, let parent = lookup(types, t.kind, parentName), seen.insert(ObjectIdentifier(parent)).inserted {
            chain.append(parent)
            cur = parent
        }
        /// Definitions of the chain, root first; a redefinition in a child replaces the parent's.
        func merge<T>(_ items: (TypeDefinition) -> [T], _ name: (T) -> String) -> [T] {
            if chain.count == 1 { return items(t) }
            var out: [T] = []
            var index: [String: Int] = [:]
            for a in chain.reversed() {
                for item in items(a) {
                    if let i = index[name(item)] { out[i] = item } else {
                        index[name(item)] = out.count
                        out.append(item)
                    }
                }
            }
            return out
        }
        let properties = merge({ $0.properties }, { $0.name })
        return Resolved(ancestors: chain, ancestorNames: chain.map(\.name), properties: properties,
                        propertyIndex: Dictionary(properties.map { ($0.name, $0) }, uniquingKeysWith: { _, b in b }),
                        attributes: merge({ $0.attributes }, { $0.name }), requirements: merge({ $0.requirements }, { $0.name }),
                        capabilities: merge({ $0.capabilities }, { $0.name }), interfaces: merge({ $0.interfaces }, { $0.name }))
    }

    /// What `t` resolves to here; a type of another table is resolved on the spot.
    private func info(_ t: TypeDefinition) -> Resolved {
        resolved[ObjectIdentifier(t)] ?? Self.resolve(t, kind: t.kind, types: types)
    }

    public func all(_ kind: TypeKind) -> [TypeDefinition] {
        Array((types[kind] ?? [:]).values)
    }

    public func names(_ kind: TypeKind) -> [String] {
        Array((types[kind] ?? [:]).keys)
    }

    /// Finds a type by its full name, its TOSCA short name (`Compute`) or prefixed name (`tosca:Compute`).
    public func lookup(_ kind: TypeKind, _ name: String) -> TypeDefinition? {
        Self.lookup(types, kind, name)
    }

    /// The type and its ancestors, nearest first; stops at a cycle or an unknown parent.
    public func ancestors(_ t: TypeDefinition) -> [TypeDefinition] { info(t).ancestors }

    /// The names of the type and its ancestors, nearest first.
    public func ancestorNames(_ t: TypeDefinition) -> [String] { info(t).ancestorNames }

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

    /// Properties including inherited ones; a redefinition in a child replaces the parent's.
    public func properties(_ t: TypeDefinition) -> [PropertyDefinition] { info(t).properties }

    /// The same properties by name.
    public func propertyIndex(_ t: TypeDefinition) -> [String: PropertyDefinition] { info(t).propertyIndex }

    public func attributes(_ t: TypeDefinition) -> [PropertyDefinition] { info(t).attributes }

    public func requirements(_ t: TypeDefinition) -> [RequirementDefinition] { info(t).requirements }

    public func capabilities(_ t: TypeDefinition) -> [CapabilityDefinition] { info(t).capabilities }

    public func interfaces(_ t: TypeDefinition) -> [InterfaceDefinition] { info(t).interfaces }

    /// Operation names of an interface type, inherited ones included.
    public func operations(_ t: TypeDefinition) -> [String] {
        ancestors(t).flatMap(\.operations)
    }
}
