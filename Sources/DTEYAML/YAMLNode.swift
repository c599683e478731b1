/// A position in a source file: 1-based line and column.
public struct Mark: Sendable, Hashable, Codable, Comparable {
    public var line: Int32
    public var column: Int32

    public init(line: Int32, column: Int32) {
        self.line = line
        self.column = column
    }

    public static let unknown = Mark(line: 0, column: 0)

    public static func < (a: Mark, b: Mark) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }
}

/// How a scalar was written; quoted scalars are always strings.
public enum ScalarStyle: UInt8, Sendable {
    case plain, singleQuoted, doubleQuoted, literal, folded

    public var isQuoted: Bool { self != .plain }
}

/// A YAML scalar with its source mark.
public struct YAMLScalar: Sendable {
    public var value: String
    public var style: ScalarStyle
    public var tag: String?
    public var mark: Mark

    public init(value: String, style: ScalarStyle = .plain, tag: String? = nil, mark: Mark = .unknown) {
        self.value = value
        self.style = style
        self.tag = tag
        self.mark = mark
    }

    /// The tag of a placeholder for a node that could not be read (already reported).
    public static let invalidTag = "!dte-invalid"

    /// The scalar is YAML null (`~`, `null`, or nothing), unquoted and untagged.
    public var isNull: Bool {
        guard style == .plain else { return tag == "tag:yaml.org,2002:null" }
        if let tag, tag != "tag:yaml.org,2002:null" { return false }
        switch value {
        case "", "~", "null", "Null", "NULL": return true
        default: return false
        }
    }
}

/// One entry of a mapping; TOSCA keys are always scalars.
public struct YAMLEntry: Sendable {
    public var key: String
    public var keyMark: Mark
    public var value: YAMLNode

    public init(key: String, keyMark: Mark, value: YAMLNode) {
        self.key = key
        self.keyMark = keyMark
        self.value = value
    }
}

/// A YAML node tree that keeps source positions, built from libyaml's event stream.
public enum YAMLNode: Sendable {
    case scalar(YAMLScalar)
    case mapping([YAMLEntry], Mark)
    case sequence([YAMLNode], Mark)

    /// Where the node starts in its file.
    public var mark: Mark {
        switch self {
        case .scalar(let s): return s.mark
        case .mapping(_, let m), .sequence(_, let m): return m
        }
    }

    public var scalar: YAMLScalar? {
        if case .scalar(let s) = self { return s }
        return nil
    }

    /// The scalar's text when the node is a non-null scalar.
    public var string: String? {
        if case .scalar(let s) = self, !s.isNull { return s.value }
        return nil
    }

    public var entries: [YAMLEntry]? {
        if case .mapping(let e, _) = self { return e }
        return nil
    }

    public var items: [YAMLNode]? {
        if case .sequence(let i, _) = self { return i }
        return nil
    }

    public var isNull: Bool {
        if case .scalar(let s) = self { return s.isNull }
        return false
    }

    /// The value of `key` in a mapping (linear search; mappings in templates are small).
    public subscript(key: String) -> YAMLNode? {
        guard case .mapping(let entries, _) = self else { return nil }
        for e in entries where e.key == key { return e.value }
        return nil
    }

    /// The entry for `key`, with its key position.
    public func entry(_ key: String) -> YAMLEntry? {
        guard case .mapping(let entries, _) = self else { return nil }
        for e in entries where e.key == key { return e }
        return nil
    }

    /// A short name of the node's kind for messages: "a string", "a list", ...
    public var kindDescription: String {
        switch self {
        case .mapping: return "a map"
        case .sequence: return "a list"
        case .scalar(let s):
            if s.isNull { return "null" }
            if s.style.isQuoted { return "a string" }
            switch PlainScalar.classify(s.value) {
            case .integer: return "an integer"
            case .float: return "a float"
            case .boolean: return "a boolean"
            case .null: return "null"
            case .string: return "a string"
            }
        }
    }
}

/// What a plain (unquoted) scalar denotes under the YAML 1.2 core schema.
public enum PlainScalar: Equatable, Sendable {
    /// The booleans of YAML 1.1 that YAML 1.2 reads as strings (`yes`, `no`, `on`, `off`, `y`, `n`
    /// in their three spellings): what PyYAML, and so tosca-parser, reads as true or false.
    public static func yaml11Boolean(_ s: String) -> Bool? {
        switch s {
        case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON": return true
        case "n", "N", "no", "No", "NO", "off", "Off", "OFF": return false
        default: return nil
        }
    }

    case null
    case boolean(Bool)
    case integer(Int)
    case float(Double)
    case string

    public static func classify(_ s: String) -> PlainScalar {
        var utf8 = s.utf8
        guard let first = utf8.first else { return .null }
        switch first {
        case UInt8(ascii: "~"):
            return s == "~" ? .null : .string
        case UInt8(ascii: "n"), UInt8(ascii: "N"):
            return (s == "null" || s == "Null" || s == "NULL") ? .null : .string
        case UInt8(ascii: "t"), UInt8(ascii: "T"):
            return (s == "true" || s == "True" || s == "TRUE") ? .boolean(true) : .string
        case UInt8(ascii: "f"), UInt8(ascii: "F"):
            return (s == "false" || s == "False" || s == "FALSE") ? .boolean(false) : .string
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."):
            break
        default:
            return .string
        }
        if let i = Int(s) { return .integer(i) }
        if s.hasPrefix("0x"), let i = Int(s.dropFirst(2), radix: 16) { return .integer(i) }
        if s.hasPrefix("0o"), let i = Int(s.dropFirst(2), radix: 8) { return .integer(i) }
        switch s {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .float(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .float(-.infinity)
        case ".nan", ".NaN", ".NAN": return .float(.nan)
        default: break
        }
        // YAML floats need a digit; Double() also takes "1e5", "-.5".
        utf8 = s.utf8
        var hasDigit = false
        for c in utf8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): hasDigit = true
            case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "-"), UInt8(ascii: "+"): continue
            default: return .string
            }
        }
        if hasDigit, let d = Double(s) { return .float(d) }
        return .string
    }
}
