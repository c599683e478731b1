import Foundation

/// A standard five-field cron expression (minute hour day-of-month month day-of-week) with lists,
/// ranges, steps, names (jan–dec, sun–sat, 7 = sun) and the @hourly/@daily/… macros, parsed into
/// the sets of values each field allows. As in Vixie cron, when both day fields are restricted a
/// day matches when either does. Bounded: an expression longer than `maxLength` or with more than
/// `maxItems` list entries is refused, and `next` looks at most `maxDays` days ahead.
public struct CronSchedule: Sendable, Hashable, CustomStringConvertible {
    public static let maxLength = 200
    public static let maxItems = 60
    /// Far enough for `0 0 29 2 *` across a century year without a leap day (2100).
    public static let maxDays = 366 * 9

    /// A cron expression that cannot be parsed, and why.
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    public let expression: String
    /// Bit i set: value i allowed.
    let minutes: UInt64, hours: UInt64, days: UInt64, months: UInt64, weekdays: UInt64
    let daysRestricted: Bool, weekdaysRestricted: Bool

    public var description: String { expression }

    static let fields: [(name: String, range: ClosedRange<Int>, names: [String])] = [
        ("minute", 0...59, []), ("hour", 0...23, []), ("day of month", 1...31, []),
        ("month", 1...12, ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]),
        ("day of week", 0...7, ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]),
    ]
    static let macros = ["@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
                         "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"]

    public init(_ text: String) throws(Problem) {
        guard text.utf8.count <= Self.maxLength else { throw Problem(description: "it is longer than \(Self.maxLength) characters") }
        let t = text.trimmingCharacters(in: " \t")
        var body = t
        if t.hasPrefix("@") {
            guard let m = Self.macros[t.lowercased()] else { throw Problem(description: "unknown macro \(t)") }
            body = m
        }
        let parts = body.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 5 else { throw Problem(description: "it has \(parts.count) field\(parts.count == 1 ? "" : "s"), not 5") }
        var sets: [UInt64] = []
        var restricted: [Bool] = []
        for (i, part) in parts.enumerated() {
            let f = Self.fields[i]
            let items = part.split(separator: ",", omittingEmptySubsequences: false)
            guard items.count <= Self.maxItems else { throw Problem(description: "\(f.name) field has more than \(Self.maxItems) entries") }
            var set: UInt64 = 0
            for item in items {
                do {
                    set |= try Self.parse(item, f)
                } catch {
                    throw Problem(description: "\(f.name) field \"\(part)\": \(error.description)")
                }
            }
            if i == 4, set & (1 << 7) != 0 { set = (set | 1) & ~(1 << 7) }  // 7 is Sunday too
            sets.append(set)
            restricted.append(!part.hasPrefix("*"))
        }
        expression = t
        minutes = sets[0]
        hours = sets[1]
        days = sets[2]
        months = sets[3]
        weekdays = sets[4]
        daysRestricted = restricted[2]
        weekdaysRestricted = restricted[4]
    }

    static func parse(_ item: Substring, _ f: (name: String, range: ClosedRange<Int>, names: [String])) throws(Problem) -> UInt64 {
        if item.isEmpty { throw Problem(description: "empty list entry") }
        var base = item
        var step = 1
        if let slash = item.firstIndex(of: "/") {
            base = item[..<slash]
            let s = item[item.index(after: slash)...]
            guard s.utf8.count <= 3, !s.isEmpty, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let v = Int(s), v > 0, v <= f.range.upperBound + 1 else {
                throw Problem(description: "the step after '/' must be a number from 1 to \(f.range.upperBound + 1)")
            }
            step = v
        }
        func value(_ s: Substring) throws(Problem) -> Int {
            if s.utf8.count <= 3, !s.isEmpty, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let v = Int(s) {
                guard f.range.contains(v) else { throw Problem(description: "\(v) is outside \(f.range.lowerBound)–\(f.range.upperBound)") }
                return v
            }
            if let i = f.names.firstIndex(of: s.lowercased()) { return f.range.lowerBound == 1 ? i + 1 : i }
            let shown = s.count > 20 ? String(s.prefix(20)) + "…" : String(s)
            throw Problem(description: "\"\(shown)\" is not a number\(f.names.isEmpty ? "" : " or name")")
        }
        var low = f.range.lowerBound, high = f.range.upperBound
        if base == "*" {
            if f.name == "day of week" { high = 6 }
        } else {
            let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count) else { throw Problem(description: "\"\(base.prefix(20))\" is not a number or range") }
            low = try value(bounds[0])
            high = bounds.count == 2 ? try value(bounds[1]) : (item.contains("/") ? f.range.upperBound : low)
            if low > high { throw Problem(description: "range \(base) goes backwards") }
        }
        var set: UInt64 = 0
        var v = low
        while v <= high {
            set |= 1 << UInt64(v)
            v += step
        }
        return set
    }

    static func has(_ set: UInt64, _ v: Int) -> Bool { v >= 0 && v < 64 && set & (1 << UInt64(v)) != 0 }

    func dayMatches(day: Int, weekday: Int) -> Bool {
        let d = Self.has(days, day), w = Self.has(weekdays, weekday)
        if daysRestricted && weekdaysRestricted { return d || w }
        return d && w
    }

    /// The first time after `date` (strictly) the expression names, read as wall-clock time in
    /// `zone`. A time the zone skips (spring forward) runs at the first instant after the gap;
    /// a time the zone repeats (fall back) runs once, at its first occurrence. Nil when no such
    /// time comes within `maxDays` (e.g. `0 0 31 2 *`).
    public func next(after date: Date, in zone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        guard var day = calendar.dateInterval(of: .day, for: date)?.start else { return nil }
        for _ in 0..<Self.maxDays {
            let c = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            if let y = c.year, let m = c.month, let d = c.day, let wd = c.weekday, Self.has(months, m), dayMatches(day: d, weekday: wd - 1) {
                var found: Date?
                var inGap = false
                search: for h in 0..<24 where Self.has(hours, h) {
                    for mi in 0..<60 where Self.has(minutes, mi) {
                        guard let t = calendar.date(from: DateComponents(year: y, month: m, day: d, hour: h, minute: mi)), t > date else { continue }
                        if let f = found {
                            if t < f { found = t }
                            // past the gap's hour: nothing later in the day comes earlier
                            if calendar.component(.hour, from: t) == h { break search }
                            continue
                        }
                        found = t
                        // a wall-clock time the zone skips comes out after the gap, where later
                        // times of the day may come out earlier: look on until past it
                        inGap = calendar.component(.hour, from: t) != h || calendar.component(.minute, from: t) != mi
                        if !inGap { break search }
                    }
                }
                if let found { return found }
            }
            guard let n = calendar.date(byAdding: .day, value: 1, to: day), let s = calendar.dateInterval(of: .day, for: n)?.start, s > day else { return nil }
            day = s
        }
        return nil
    }

    /// The times in `(after, until]` the expression names, oldest first, at most `limit` of them
    /// (and whether there were more).
    public func ticks(after: Date, until: Date, in zone: TimeZone, limit: Int) -> (ticks: [Date], more: Bool) {
        var out: [Date] = []
        var t = after
        while let n = next(after: t, in: zone), n <= until {
            if out.count == max(0, limit) { return (out, true) }
            out.append(n)
            t = n
        }
        return (out, false)
    }
}
