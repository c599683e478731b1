import Foundation
import Synchronization

/// A TOSCA constraint clause (TOSCA 1.3 §3.6.3), with operands already typed.
public enum Constraint: Sendable {
    case equal(Value)
    case greaterThan(Value)
    case greaterOrEqual(Value)
    case lessThan(Value)
    case lessOrEqual(Value)
    case inRange(Value, Value)
    case validValues([Value])
    case length(Int)
    case minLength(Int)
    case maxLength(Int)
    case pattern(Pattern)

    /// Every operator TOSCA 1.3 defines, by its YAML key.
    public static let operators = [
        "equal", "greater_than", "greater_or_equal", "less_than", "less_or_equal",
        "in_range", "valid_values", "length", "min_length", "max_length", "pattern",
    ]

    public var operatorName: String {
        switch self {
        case .equal: return "equal"
        case .greaterThan: return "greater_than"
        case .greaterOrEqual: return "greater_or_equal"
        case .lessThan: return "less_than"
        case .lessOrEqual: return "less_or_equal"
        case .inRange: return "in_range"
        case .validValues: return "valid_values"
        case .length: return "length"
        case .minLength: return "min_length"
        case .maxLength: return "max_length"
        case .pattern: return "pattern"
        }
    }

    /// A readable form, e.g. `greater_or_equal 1`.
    public var display: String {
        switch self {
        case .equal(let v), .greaterThan(let v), .greaterOrEqual(let v), .lessThan(let v), .lessOrEqual(let v):
            return "\(operatorName) \(v.display)"
        case .inRange(let a, let b): return "in_range [\(a.display), \(b.display)]"
        case .validValues(let vs): return "valid_values [\(vs.map(\.display).joined(separator: ", "))]"
        case .length(let n), .minLength(let n), .maxLength(let n): return "\(operatorName) \(n)"
        case .pattern(let p): return "pattern \"\(p.source)\""
        }
    }

    /// Whether `value` satisfies the clause. Symbolic values (functions) always pass here.
    public func isSatisfied(by value: Value) -> Bool {
        if value.isSymbolic { return true }
        switch self {
        case .equal(let v): return Value.equivalent(value, v)
        case .greaterThan(let v): return Value.compare(value, v).map { $0 > 0 } ?? false
        case .greaterOrEqual(let v): return Value.compare(value, v).map { $0 >= 0 } ?? false
        case .lessThan(let v): return Value.compare(value, v).map { $0 < 0 } ?? false
        case .lessOrEqual(let v): return Value.compare(value, v).map { $0 <= 0 } ?? false
        case .inRange(let lo, let hi):
            if case .range(let lower, let upper) = value {
                // both ends of a range lie within the bounds (an unbounded upper end only within an unbounded range)
                guard let a = Value.compare(.integer(lower), lo) else { return false }
                let b = upper.flatMap { Value.compare(.integer($0), hi) } ?? (Value.compare(.float(.infinity), hi) == 0 ? 0 : 1)
                return a >= 0 && b <= 0
            }
            guard let a = Value.compare(value, lo), let b = Value.compare(value, hi) else { return false }
            return a >= 0 && b <= 0
        case .validValues(let vs): return vs.contains { Value.equivalent(value, $0) }
        case .length(let n): return Self.length(of: value).map { $0 == n } ?? false
        case .minLength(let n): return Self.length(of: value).map { $0 >= n } ?? false
        case .maxLength(let n): return Self.length(of: value).map { $0 <= n } ?? false
        case .pattern(let p):
            guard case .string(let s) = value else { return false }
            return p.matches(s)
        }
    }

    static func length(of value: Value) -> Int? {
        switch value {
        case .string(let s): return s.count
        case .list(let l): return l.count
        case .map(let m): return m.count
        default: return nil
        }
    }
}

/// A compiled regular expression of a `pattern` constraint; the whole value must match.
/// Results are memoised: the same image names and variable names recur across thousands of nodes.
public struct Pattern: Sendable {
    public let source: String
    private let box: RegexBox

    public init?(_ source: String) {
        guard let r = try? NSRegularExpression(pattern: "^(?:" + source + ")$", options: []) else { return nil }
        self.source = source
        self.box = RegexBox(regex: r)
    }

    public func matches(_ s: String) -> Bool {
        box.matches(s)
    }
}

/// The compiled expression (immutable, safe to share) and a bounded memo of answers behind a mutex.
private final class RegexBox: Sendable {
    let regex: NSRegularExpression
    private let memo = Mutex<[String: Bool]>([:])

    init(regex: NSRegularExpression) { self.regex = regex }

    func matches(_ s: String) -> Bool {
        if let m = memo.withLock({ $0[s] }) { return m }
        let ns = s as NSString
        let m = regex.firstMatch(in: s, options: [], range: NSRange(location: 0, length: ns.length)) != nil
        memo.withLock { if $0.count < 65_536 { $0[s] = m } }
        return m
    }
}
