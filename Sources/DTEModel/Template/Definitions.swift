/// The eight kinds of TOSCA types.
public enum TypeKind: String, Sendable, CaseIterable, Codable {
    case data, artifact, capability, interface, relationship, node, group, policy

    /// The service-template section that declares this kind, e.g. `node_types`.
    public var section: String { "\(rawValue)_types" }

    /// The prefix of this kind's TOSCA normative type names, e.g. `tosca.nodes.`.
    public var normativePrefix: String {
        switch self {
        case .data: return "tosca.datatypes."
        case .artifact: return "tosca.artifacts."
        case .capability: return "tosca.capabilities."
        case .interface: return "tosca.interfaces."
        case .relationship: return "tosca.relationships."
        case .node: return "tosca.nodes."
        case .group: return "tosca.groups."
        case .policy: return "tosca.policies."
        }
    }

    public var label: String {
        switch self {
        case .data: return "data type"
        case .artifact: return "artifact type"
        case .capability: return "capability type"
        case .interface: return "interface type"
        case .relationship: return "relationship type"
        case .node: return "node type"
        case .group: return "group type"
        case .policy: return "policy type"
        }
    }
}

/// Where a definition was written.
public struct SourceRef: Sendable, Hashable {
    public var file: String
    public var mark: Mark
    public var path: String

    public init(file: String, mark: Mark, path: String) {
        self.file = file
        self.mark = mark
        self.path = path
    }
}

/// The schema of a value: its type, constraints and (for list/map) entry and key schemas.
public final class SchemaDefinition: Sendable {
    public let type: String
    public let typeMark: Mark
    public let description: String?
    public let constraints: [YAMLNode]
    public let entrySchema: SchemaDefinition?
    public let keySchema: SchemaDefinition?
    public let source: SourceRef

    public init(type: String, typeMark: Mark, description: String?, constraints: [YAMLNode],
                entrySchema: SchemaDefinition?, keySchema: SchemaDefinition?, source: SourceRef) {
        self.type = type
        self.typeMark = typeMark
        self.description = description
        self.constraints = constraints
        self.entrySchema = entrySchema
        self.keySchema = keySchema
        self.source = source
    }
}

/// A property, attribute, input or operation-input definition.
public final class PropertyDefinition: Sendable {
    public let name: String
    public let schema: SchemaDefinition
    public let required: Bool
    public let defaultValue: YAMLNode?
    /// For inputs and parameters: a fixed `value`.
    public let value: YAMLNode?
    public let status: String?
    public let source: SourceRef

    public init(name: String, schema: SchemaDefinition, required: Bool, defaultValue: YAMLNode?, value: YAMLNode?,
                status: String?, source: SourceRef) {
        self.name = name
        self.schema = schema
        self.required = required
        self.defaultValue = defaultValue
        self.value = value
        self.status = status
        self.source = source
    }

    public var type: String { schema.type }
}

/// A requirement a node type declares.
public struct RequirementDefinition: Sendable {
    public var name: String
    public var capability: String?
    public var node: String?
    public var relationship: String?
    /// Lower and upper bound (`nil` upper = UNBOUNDED); `explicit` when the file wrote them.
    public var occurrences: (lower: Int, upper: Int?)
    public var occurrencesExplicit: Bool
    public var source: SourceRef

    public init(name: String, capability: String?, node: String?, relationship: String?, occurrences: (lower: Int, upper: Int?),
                occurrencesExplicit: Bool, source: SourceRef) {
        self.name = name
        self.capability = capability
        self.node = node
        self.relationship = relationship
        self.occurrences = occurrences
        self.occurrencesExplicit = occurrencesExplicit
        self.source = source
    }
}

/// A capability a node type declares.
public struct CapabilityDefinition: Sendable {
    public var name: String
    public var type: String
    public var properties: [PropertyDefinition]
    public var attributes: [PropertyDefinition]
    public var validSourceTypes: [String]?
    public var source: SourceRef
}

/// An interface a node or relationship type declares.
public struct InterfaceDefinition: Sendable {
    public var name: String
    public var type: String
    public var operations: [String]
    public var source: SourceRef
}

/// A type definition of any kind, as written (inheritance is resolved by the type registry).
public final class TypeDefinition: Sendable {
    public let kind: TypeKind
    public let name: String
    public let derivedFrom: String?
    public let derivedFromMark: Mark
    public let version: String?
    public let description: String?
    public let properties: [PropertyDefinition]
    public let attributes: [PropertyDefinition]
    public let requirements: [RequirementDefinition]
    public let capabilities: [CapabilityDefinition]
    public let interfaces: [InterfaceDefinition]
    /// Data types: constraints on the value, and key/entry schemas when derived from map/list.
    public let constraints: [YAMLNode]
    public let keySchema: SchemaDefinition?
    public let entrySchema: SchemaDefinition?
    /// Capability: `valid_source_types`; relationship: `valid_target_types`; group: `members`; policy: `targets`.
    public let validTypes: [(name: String, mark: Mark)]?
    /// Interface types: the operation (and notification) names.
    public let operations: [String]
    /// Whether it is one of TOSCA's own normative types.
    public let isNormative: Bool
    public let source: SourceRef

    public init(kind: TypeKind, name: String, derivedFrom: String?, derivedFromMark: Mark, version: String?,
                description: String?, properties: [PropertyDefinition], attributes: [PropertyDefinition],
                requirements: [RequirementDefinition], capabilities: [CapabilityDefinition],
                interfaces: [InterfaceDefinition], constraints: [YAMLNode], keySchema: SchemaDefinition?,
                entrySchema: SchemaDefinition?, validTypes: [(name: String, mark: Mark)]?, operations: [String],
                isNormative: Bool, source: SourceRef) {
        self.kind = kind
        self.name = name
        self.derivedFrom = derivedFrom
        self.derivedFromMark = derivedFromMark
        self.version = version
        self.description = description
        self.properties = properties
        self.attributes = attributes
        self.requirements = requirements
        self.capabilities = capabilities
        self.interfaces = interfaces
        self.constraints = constraints
        self.keySchema = keySchema
        self.entrySchema = entrySchema
        self.validTypes = validTypes
        self.operations = operations
        self.isNormative = isNormative
        self.source = source
    }
}

/// One `imports` entry.
public struct ImportDefinition: Sendable {
    public var file: String
    public var repository: String?
    public var repositoryMark: Mark = .unknown
    public var namespacePrefix: String?
    public var source: SourceRef
}

/// A requirement assignment in a node template.
public struct RequirementAssignment: Sendable {
    public var name: String
    public var node: String?
    public var nodeMark: Mark
    public var capability: String?
    public var capabilityMark: Mark = .unknown
    public var relationship: String?
    public var relationshipMark: Mark = .unknown
    /// `relationship: { type, properties }`: the property assignments of the relationship.
    public var relationshipProperties: [YAMLEntry] = []
    public var nodeFilter: YAMLNode?
    public var source: SourceRef
}

/// A capability assignment in a node template.
public struct CapabilityAssignment: Sendable {
    public var name: String
    public var properties: [YAMLEntry]
    public var attributes: [YAMLEntry]
    public var source: SourceRef
}

/// A node template as written.
public struct NodeTemplate: Sendable {
    public var name: String
    public var type: String
    public var typeMark: Mark
    public var description: String?
    public var metadata: [YAMLEntry]
    public var directives: [String]
    public var properties: [YAMLEntry]
    public var attributes: [YAMLEntry]
    public var requirements: [RequirementAssignment]
    public var capabilities: [CapabilityAssignment]
    public var interfaces: [YAMLEntry]
    public var artifacts: [YAMLEntry]
    public var nodeFilter: YAMLNode?
    public var copy: String?
    public var copyMark: Mark = .unknown
    public var source: SourceRef
}

/// A relationship template.
public struct RelationshipTemplate: Sendable {
    public var name: String
    public var type: String
    public var typeMark: Mark
    public var properties: [YAMLEntry]
    public var attributes: [YAMLEntry]
    public var interfaces: [YAMLEntry]
    public var source: SourceRef
}

/// A group or policy definition in a topology template.
public struct MemberDefinition: Sendable {
    public var name: String
    public var type: String
    public var typeMark: Mark
    public var description: String?
    public var properties: [YAMLEntry]
    /// Group members or policy targets.
    public var members: [(name: String, mark: Mark)]
    public var triggers: [YAMLEntry]
    public var source: SourceRef
}

/// An output of a topology template.
public struct OutputDefinition: Sendable {
    public var name: String
    public var value: YAMLNode?
    public var type: String?
    public var description: String?
    public var source: SourceRef
}

/// The topology template of a service template.
public struct TopologyTemplate: Sendable {
    public var description: String?
    public var inputs: [PropertyDefinition] = []
    public var nodeTemplates: [NodeTemplate] = []
    public var relationshipTemplates: [RelationshipTemplate] = []
    public var groups: [MemberDefinition] = []
    public var policies: [MemberDefinition] = []
    public var outputs: [OutputDefinition] = []
    public var substitutionMappings: YAMLNode?
    public var substitutionMark: Mark = .unknown

    public init() {}
}

/// One parsed TOSCA file.
public struct ServiceTemplate: Sendable {
    public var file: String
    public var definitionsVersion: String?
    public var description: String?
    public var metadata: [YAMLEntry] = []
    public var imports: [ImportDefinition] = []
    public var repositories: [String: String] = [:]
    public var types: [TypeDefinition] = []
    public var topology: TopologyTemplate?

    public init(file: String) {
        self.file = file
    }
}
