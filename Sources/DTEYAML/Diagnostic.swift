/// How serious a diagnostic is.
public enum Severity: String, Sendable, Codable, Comparable {
    case error, warning, note

    private var rank: Int {
        switch self {
        case .error: return 0
        case .warning: return 1
        case .note: return 2
        }
    }

    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// A problem in a user's file: what is wrong, where (file, line, column, YAML path) and how to fix it.
public struct Diagnostic: Sendable, Codable, Hashable {
    public var severity: Severity
    /// A stable machine-readable code, e.g. `unknown-type`, `constraint-valid-values`.
    public var code: String
    public var message: String
    public var hint: String?
    public var file: String?
    public var line: Int?
    public var column: Int?
    /// The YAML path of the offending node, e.g. `topology_template.node_templates.prep.properties.memory`.
    public var path: String?

    public init(
        _ severity: Severity, code: String, _ message: String, hint: String? = nil,
        file: String? = nil, mark: Mark? = nil, path: String? = nil
    ) {
        self.severity = severity
        self.code = code
        self.message = message
        self.hint = hint
        self.file = file
        if let mark, mark != .unknown {
            self.line = Int(mark.line)
            self.column = Int(mark.column)
        }
        self.path = path
    }

    /// `file:line:column` (as much as is known).
    public var location: String {
        var s = file ?? "<input>"
        if let line { s += ":\(line)" }
        if let column { s += ":\(column)" }
        return s
    }
}

extension Array where Element == Diagnostic {
    public var errorCount: Int { self.lazy.filter { $0.severity == .error }.count }
    public var hasErrors: Bool { contains { $0.severity == .error } }

    /// Sorted by file, line, column; stable for equal positions.
    public func sortedByLocation() -> [Diagnostic] {
        enumerated().sorted { a, b in
            let fa = a.element.file ?? "", fb = b.element.file ?? ""
            if fa != fb { return fa < fb }
            let la = a.element.line ?? 0, lb = b.element.line ?? 0
            if la != lb { return la < lb }
            let ca = a.element.column ?? 0, cb = b.element.column ?? 0
            if ca != cb { return ca < cb }
            return a.offset < b.offset
        }.map(\.element)
    }
}

/// Suggests the closest of `candidates` to `word` ("did you mean …?"), or nil when none is close.
public func closestMatch(to word: String, in candidates: some Sequence<String>) -> String? {
    var best: (String, Int)?
    let w = Array(word.lowercased().utf8)
    for c in candidates {
        let d = editDistance(w, Array(c.lowercased().utf8))
        let limit = max(1, min(w.count, c.utf8.count) / 3)
        if d <= limit, d < (best?.1 ?? Int.max) { best = (c, d) }
    }
    return best?.0
}

func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    var cur = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        cur[0] = i
        for j in 1...b.count {
            cur[j] = Swift.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[b.count]
}
