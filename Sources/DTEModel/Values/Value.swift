/// A typed TOSCA value, after checking against its definition.
public enum Value: Sendable, Hashable {
    case null
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    case timestamp(TOSCATimestamp)
    case version(TOSCAVersion)
    case scalar(ScalarUnit)
    /// A TOSCA range; `upper == nil` is `UNBOUNDED`.
    case range(lower: Int, upper: Int?)
    case list([Value])
    case map([MapEntry])
    /// A function that can only be evaluated at apply time (`get_attribute`, or an input without a value).
    case function(FunctionCall)

    public struct MapEntry: Sendable, Hashable {
        public var key: String
        public var value: Value
        public init(key: String, value: Value) {
            self.key = key
            self.value = value
        }
    }

    /// The value of `key` when this is a map.
    public subscript(key: String) -> Value? {
        guard case .map(let entries) = self else { return nil }
        return entries.first { $0.key == key }?.value
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var intValue: Int? {
        if case .integer(let i) = self { return i }
        return nil
    }

    public var isSymbolic: Bool {
        switch self {
        case .function: return true
        case .list(let l): return l.contains { $0.isSymbolic }
        case .map(let m): return m.contains { $0.value.isSymbolic }
        default: return false
        }
    }

    /// A readable rendering for messages and plans: strings quoted, lists in brackets.
    public var display: String {
        switch self {
        case .null: return "null"
        case .string(let s): return "\"\(s)\""
        case .integer(let i): return String(i)
        case .float(let d): return String(d)
        case .boolean(let b): return String(b)
        case .timestamp(let t): return t.text
        case .version(let v): return v.description
        case .scalar(let s): return s.description
        case .range(let l, let u): return "[\(l), \(u.map(String.init) ?? "UNBOUNDED")]"
        case .list(let items): return "[" + items.map(\.display).joined(separator: ", ") + "]"
        case .map(let entries): return "{" + entries.map { "\($0.key): \($0.value.display)" }.joined(separator: ", ") + "}"
        case .function(let f): return f.display
        }
    }

    /// Orders two values of the same comparable type (numbers, scalar units, versions,
    /// timestamps, strings); nil when they are not comparable.
    public static func compare(_ a: Value, _ b: Value) -> Int? {
        func cmp<T: Comparable>(_ x: T, _ y: T) -> Int { x < y ? -1 : (x == y ? 0 : 1) }
        switch (a, b) {
        case (.integer(let x), .integer(let y)): return cmp(x, y)
        case (.integer(let x), .float(let y)): return cmp(Double(x), y)
        case (.float(let x), .integer(let y)): return cmp(x, Double(y))
        case (.float(let x), .float(let y)): return cmp(x, y)
        case (.scalar(let x), .scalar(let y)) where x.kind == y.kind: return cmp(x.base, y.base)
        case (.version(let x), .version(let y)): return cmp(x, y)
        case (.timestamp(let x), .timestamp(let y)): return cmp(x, y)
        case (.string(let x), .string(let y)): return cmp(x, y)
        default: return nil
        }
    }

    /// Equality as TOSCA constraints see it: `32 GB` equals `32000 MB`, `1` equals `1.0`.
    public static func equivalent(_ a: Value, _ b: Value) -> Bool {
        if let c = compare(a, b) { return c == 0 }
        return a == b
    }
}

/// An intrinsic function call as written in a template.
public indirect enum FunctionCall: Sendable, Hashable {
    case getInput(name: String, path: [Value])
    case getProperty([String])
    case getAttribute([String])
    case concat([Value])
    case join([Value], delimiter: String)
    case token(Value, separators: String, index: Int)

    public var name: String {
        switch self {
        case .getInput: return "get_input"
        case .getProperty: return "get_property"
        case .getAttribute: return "get_attribute"
        case .concat: return "concat"
        case .join: return "join"
        case .token: return "token"
        }
    }

    public var display: String {
        switch self {
        case .getInput(let n, let p): return "{ get_input: \(p.isEmpty ? n : "[\(([Value.string(n)] + p).map(\.display).joined(separator: ", "))]") }"
        case .getProperty(let a): return "{ get_property: [\(a.joined(separator: ", "))] }"
        case .getAttribute(let a): return "{ get_attribute: [\(a.joined(separator: ", "))] }"
        case .concat(let v): return "{ concat: [\(v.map(\.display).joined(separator: ", "))] }"
        case .join(let v, let d): return "{ join: [[\(v.map(\.display).joined(separator: ", "))], \"\(d)\"] }"
        case .token(let v, let s, let i): return "{ token: [\(v.display), \"\(s)\", \(i)] }"
        }
    }

    public static let names: Set<String> = ["get_input", "get_property", "get_attribute", "concat", "join", "token",
                                            "get_operation_output", "get_nodes_of_type", "get_artifact"]
}
