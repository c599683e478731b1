import Foundation

/// A point in time as Kubernetes and Go write it on the wire (RFC 3339).
///
/// Decoding accepts fractional seconds of any length and any UTC offset
/// (`2026-11-25T17:40:45.123456789Z`, `2026-11-25T18:40:45+01:00`); Go's zero time
/// `0001-01-01T00:00:00Z` decodes to a value whose `isZero` is true.
/// Encoding writes UTC with whole seconds, like Kubernetes' `metav1.Time`.
public struct WireTime: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Seconds since 1970-01-01T00:00:00Z.
    public var secondsSince1970: Double

    public init(secondsSince1970: Double) { self.secondsSince1970 = secondsSince1970 }
    public init(_ date: Date) { self.secondsSince1970 = date.timeIntervalSince1970 }

    public var date: Date { Date(timeIntervalSince1970: secondsSince1970) }

    /// Go's zero `time.Time`, which callers send to mean "unset".
    public var isZero: Bool { secondsSince1970 <= -62_135_596_800 + 1 }

    public static func < (lhs: WireTime, rhs: WireTime) -> Bool { lhs.secondsSince1970 < rhs.secondsSince1970 }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = WireTime(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "'\(text)' is not an RFC 3339 time")
        }
        self = parsed
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rfc3339)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
    public init?(rfc3339 text: String) {
        let bytes = Array(text.utf8)
        func number(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[start..<(start + count)] {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard bytes.count >= 20,
              let year = number(0, 4), bytes[4] == UInt8(ascii: "-"),
              let month = number(5, 2), bytes[7] == UInt8(ascii: "-"),
              let day = number(8, 2), bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t")
                || bytes[10] == UInt8(ascii: " "),
              let hour = number(11, 2), bytes[13] == UInt8(ascii: ":"),
              let minute = number(14, 2), bytes[16] == UInt8(ascii: ":"),
              let second = number(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            let start = index
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                fraction += Double(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
            if index == start { return nil }
        }
        guard index < bytes.count else { return nil }
        var offset = 0
        switch bytes[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard let oh = number(index + 1, 2), index + 3 < bytes.count, bytes[index + 3] == UInt8(ascii: ":"),
                  let om = number(index + 4, 2) else { return nil }
            offset = (oh * 3600 + om * 60) * (bytes[index] == UInt8(ascii: "-") ? -1 : 1)
            index += 6
        default:
            return nil
        }
        guard index == bytes.count else { return nil }
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset
        self.secondsSince1970 = Double(seconds) + fraction
    }

    /// UTC, whole seconds: `2026-11-25T17:40:45Z`.
    public var rfc3339: String { format(fractionDigits: 0) }

    /// UTC with nanoseconds, as `kubectl logs --timestamps` prints: `2026-11-25T17:40:45.123456789Z`.
    public var rfc3339Nano: String { format(fractionDigits: 9) }

    /// The times RFC 3339 can write (years 0001 to 9999); others are written as the nearest.
    static let writable: ClosedRange<Double> = -62_135_596_800...253_402_300_799

    private func format(fractionDigits: Int) -> String {
        let seconds = secondsSince1970.isNaN ? 0 : min(max(secondsSince1970, Self.writable.lowerBound), Self.writable.upperBound)
        let whole = seconds.rounded(.down)
        var total = Int(whole)
        let days = Int((Double(total) / 86_400).rounded(.down))
        total -= days * 86_400
        let (year, month, day) = Self.civilFromDays(days)
        let hour = total / 3600, minute = (total % 3600) / 60, second = total % 60
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        var text = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2))"
        if fractionDigits > 0 {
            let nanos = min(999_999_999, max(0, Int(((seconds - whole) * 1e9).rounded())))
            text += "." + pad(nanos, 9)
        }
        return text + "Z"
    }

    public var description: String { rfc3339Nano }

    // Howard Hinnant's civil-date algorithms (proleptic Gregorian calendar).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}

extension KeyedDecodingContainer {
    /// Decodes a list that Go may send as `null` or leave out: both become `[]`.
    func list<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> [T] {
        try decodeIfPresent([T].self, forKey: key) ?? []
    }

    /// Decodes a map that Go may send as `null` or leave out: both become `[:]`.
    func map<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> [String: T] {
        try decodeIfPresent([String: T].self, forKey: key) ?? [:]
    }
}
