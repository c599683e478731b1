/// The kinds of TOSCA scalar-unit types.
public enum ScalarUnitKind: String, Sendable, Codable, CaseIterable {
    case size = "scalar-unit.size"
    case time = "scalar-unit.time"
    case frequency = "scalar-unit.frequency"
    case bitrate = "scalar-unit.bitrate"

    /// Units and their factor to the base unit (B, s, Hz, bps), as TOSCA 1.3 §3.3.6 defines them.
    public var units: [(name: String, factor: Double)] {
        switch self {
        case .size:
            return [("B", 1), ("kB", 1e3), ("KiB", 1024), ("MB", 1e6), ("MiB", 1_048_576),
                    ("GB", 1e9), ("GiB", 1_073_741_824), ("TB", 1e12), ("TiB", 1_099_511_627_776)]
        case .time:
            return [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)]
        case .frequency:
            return [("Hz", 1), ("kHz", 1e3), ("MHz", 1e6), ("GHz", 1e9)]
        case .bitrate:
            return [("bps", 1), ("Kbps", 1e3), ("Kibps", 1024), ("Mbps", 1e6), ("Mibps", 1_048_576),
                    ("Gbps", 1e9), ("Gibps", 1_073_741_824), ("Tbps", 1e12), ("Tibps", 1_099_511_627_776),
                    ("Bps", 8), ("KBps", 8e3), ("KiBps", 8 * 1024), ("MBps", 8e6), ("MiBps", 8 * 1_048_576.0),
                    ("GBps", 8e9), ("GiBps", 8 * 1_073_741_824.0), ("TBps", 8e12), ("TiBps", 8 * 1_099_511_627_776.0)]
        }
    }

    public var unitList: String { units.map(\.name).joined(separator: ", ") }

    public var example: String {
        switch self {
        case .size: return "32 GB"
        case .time: return "2 h"
        case .frequency: return "2.4 GHz"
        case .bitrate: return "10 Gbps"
        }
    }

    /// Looks a unit up: exact spelling first, then case-insensitively (TOSCA 1.3 says units are
    /// case-insensitive, except that bitrate's `bps`/`Bps` differ only in case).
    func factor(of unit: String) -> (String, Double)? {
        for u in units where u.name == unit { return u }
        if self == .bitrate { return nil }
        let lower = unit.lowercased()
        for u in units where u.name.lowercased() == lower { return u }
        return nil
    }
}

/// A scalar with a unit, e.g. `32 GB`; `base` is the amount in the base unit (bytes, seconds, …).
public struct ScalarUnit: Sendable, Hashable, Codable, CustomStringConvertible {
    public var kind: ScalarUnitKind
    public var amount: Double
    public var unit: String
    public var base: Double

    public var description: String {
        let a = amount.rounded() == amount && abs(amount) < 1e15 ? String(Int64(amount)) : String(amount)
        return "\(a) \(unit)"
    }

    /// Parses `"<number> <unit>"` (the space may be omitted). Nil when the text is not of that form.
    public static func parse(_ text: String, kind: ScalarUnitKind) -> ScalarUnit? {
        let t = text.trimmingSpaces()
        var numberEnd = t.startIndex
        for i in t.indices {
            let c = t[i]
            if c.isNumber || c == "." || c == "-" || c == "+" || ((c == "e" || c == "E") && i != t.startIndex) {
                if (c == "e" || c == "E") {
                    // only an exponent when followed by a digit or sign
                    let n = t.index(after: i)
                    guard n < t.endIndex, t[n].isNumber || t[n] == "-" || t[n] == "+" else { break }
                }
                numberEnd = t.index(after: i)
            } else {
                break
            }
        }
        let numberText = t[t.startIndex..<numberEnd]
        let unitText = t[numberEnd...].trimmingSpaces()
        guard !numberText.isEmpty, !unitText.isEmpty, let amount = Double(numberText), amount.isFinite,
              let (unit, factor) = kind.factor(of: String(unitText)) else { return nil }
        return ScalarUnit(kind: kind, amount: amount, unit: unit, base: amount * factor)
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
