/// A TOSCA version: `major.minor[.fix[.qualifier[-build]]]`.
public struct TOSCAVersion: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public var fix: Int
    public var qualifier: String?
    public var build: Int?

    public var description: String {
        var s = "\(major).\(minor)"
        if fix != 0 || qualifier != nil { s += ".\(fix)" }
        if let qualifier { s += ".\(qualifier)" }
        if let build { s += "-\(build)" }
        return s
    }

    public static func parse(_ text: String) -> TOSCAVersion? {
        var rest = Substring(text)
        var build: Int?
        if let dash = rest.lastIndex(of: "-") {
            guard let b = Int(rest[rest.index(after: dash)...]) else { return nil }
            build = b
            rest = rest[..<dash]
        }
        let parts = rest.split(separator: ".", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count >= 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0 else { return nil }
        var fix = 0
        if parts.count >= 3 {
            guard let f = Int(parts[2]), f >= 0 else { return nil }
            fix = f
        }
        var qualifier: String?
        if parts.count == 4 {
            guard !parts[3].isEmpty, parts[3].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
            qualifier = String(parts[3])
        }
        if build != nil && qualifier == nil { return nil }
        return TOSCAVersion(major: major, minor: minor, fix: fix, qualifier: qualifier, build: build)
    }

    public static func < (a: TOSCAVersion, b: TOSCAVersion) -> Bool {
        if a.major != b.major { return a.major < b.major }
        if a.minor != b.minor { return a.minor < b.minor }
        if a.fix != b.fix { return a.fix < b.fix }
        if a.qualifier != b.qualifier { return (a.qualifier ?? "") < (b.qualifier ?? "") }
        return (a.build ?? 0) < (b.build ?? 0)
    }
}

/// A TOSCA timestamp (YAML 1.1 timestamp: ISO 8601 date, or date-time with optional fraction and offset).
public struct TOSCATimestamp: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// Seconds since the Unix epoch (UTC).
    public var seconds: Double
    public var text: String

    public var description: String { text }

    public static func < (a: TOSCATimestamp, b: TOSCATimestamp) -> Bool { a.seconds < b.seconds }

    public static func parse(_ text: String) -> TOSCATimestamp? {
        let b = Array(text.utf8)
        var i = 0
        func digits(_ n: ClosedRange<Int>) -> Int? {
            var v = 0, c = 0
            while i < b.count, c < n.upperBound, b[i] >= 48, b[i] <= 57 { v = v * 10 + Int(b[i] - 48); i += 1; c += 1 }
            return n.contains(c) ? v : nil
        }
        func expect(_ ch: UInt8) -> Bool {
            if i < b.count, b[i] == ch { i += 1; return true }
            return false
        }
        guard let y = digits(4...4), expect(45), let mo = digits(1...2), expect(45), let d = digits(1...2),
              (1...12).contains(mo), (1...31).contains(d) else { return nil }
        var secs = Double(daysFromCivil(y, mo, d)) * 86_400
        if i == b.count { return TOSCATimestamp(seconds: secs, text: text) }
        guard i < b.count, b[i] == 84 || b[i] == 116 || b[i] == 32 || b[i] == 9 else { return nil }
        i += 1
        while i < b.count, b[i] == 32 || b[i] == 9 { i += 1 }
        guard let h = digits(1...2), expect(58), let mi = digits(2...2), expect(58), let s = digits(2...2),
              h < 24, mi < 60, s < 61 else { return nil }
        secs += Double(h * 3600 + mi * 60 + s)
        if expect(46) {
            var frac = 0.0, scale = 0.1
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 { frac += Double(b[i] - 48) * scale; scale /= 10; i += 1 }
            if i == start { return nil }
            secs += frac
        }
        while i < b.count, b[i] == 32 || b[i] == 9 { i += 1 }
        if i == b.count { return TOSCATimestamp(seconds: secs, text: text) }
        if b[i] == 90 { i += 1 } else if b[i] == 43 || b[i] == 45 {
            let sign = b[i] == 45 ? -1.0 : 1.0
            i += 1
            guard let oh = digits(1...2) else { return nil }
            var om = 0
            if expect(58) { guard let m = digits(2...2) else { return nil }; om = m } else if let m = digits(2...2) { om = m }
            secs -= sign * Double(oh * 3600 + om * 60)
        } else { return nil }
        return i == b.count ? TOSCATimestamp(seconds: secs, text: text) : nil
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
