import DTEModel

/// A node template after checking: its type chain and evaluated property values.
public struct ResolvedNode: Sendable {
    public var name: String
    public var type: String
    /// The type and its ancestors, nearest first.
    public var typeChain: [String]
    public var file: String
    public var mark: Mark
    public var properties: [Value.MapEntry]
    public var requirements: [ResolvedRequirement]
    public var capabilities: [String: [Value.MapEntry]]
    /// Where each property's value was written (for diagnostics on values).
    /// The property assignments as written (for diagnostics that point at a value).
    public var rawProperties: [YAMLEntry] = []

    /// Where a property's value is written, when the template sets it.
    public func propertyMark(_ name: String) -> Mark? {
        rawProperties.first { $0.key == name }?.value.mark
    }

    public func property(_ name: String) -> Value? {
        properties.first { $0.key == name }?.value
    }

    public func isA(_ type: String) -> Bool { typeChain.contains(type) }
}

/// A requirement assignment after checking.
public struct ResolvedRequirement: Sendable {
    public var name: String
    /// The target node template's name, or nil when the requirement names only a type (abstract).
    public var target: String?
    public var relationship: String?
    /// Where the assignment is written.
    public var mark: Mark = .unknown
}

/// A policy or group after checking.
public struct ResolvedMember: Sendable {
    public var name: String
    public var type: String
    public var typeChain: [String]
    public var file: String
    public var mark: Mark
    public var properties: [Value.MapEntry]
    public var members: [String]
    /// Where each property's value was written (for diagnostics on values).
    public var propertyMarks: [String: Mark] = [:]
    /// The YAML path of the policy or group.
    public var path: String = ""

    public func property(_ name: String) -> Value? {
        properties.first { $0.key == name }?.value
    }

    public func isA(_ type: String) -> Bool { typeChain.contains(type) }
}

/// An input or output of a file's topology template, evaluated.
public struct ResolvedParameter: Sendable {
    public var name: String
    public var file: String
    public var value: Value?
}

/// Everything `dte validate` checked, resolved: the model the compiler builds plans from.
public struct CompiledModel: Sendable {
    public var files: [String] = []
    public var nodes: [ResolvedNode] = []
    public var policies: [ResolvedMember] = []
    public var groups: [ResolvedMember] = []
    public var inputs: [ResolvedParameter] = []
    public var outputs: [ResolvedParameter] = []
    public var typeCount = 0

    public init() {}

    public func node(_ name: String) -> ResolvedNode? { nodes.first { $0.name == name } }

    /// Calls `body` with each node whose type is or derives from one of `types`, in order,
    /// without copying it (a resolved node is a large value); asked once per type, not per node.
    public func forEachNode(isA types: String..., do body: (ResolvedNode) -> Void) {
        var answers: [String: Bool] = [:]
        nodes.withUnsafeBufferPointer { buffer in
            for i in buffer.indices {
                let known = answers[buffer[i].type]
                let fits = known ?? types.contains { buffer[i].isA($0) }
                if known == nil { answers[buffer[i].type] = fits }
                if fits { body(buffer[i]) }
            }
        }
    }
}
