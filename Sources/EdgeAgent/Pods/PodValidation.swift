import Foundation

/// Checks on names, keys and paths that come from a pod. Everything a user sends is data:
/// what can become part of a file path or a job directive is checked here and rejected
/// when it could escape its place.
public enum PodValidation {
    /// A DNS-1123 label (pod, namespace, container and volume names): `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, ≤ 63.
    public static func isDNSLabel(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        func ok(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
        guard let first = bytes.first, let last = bytes.last, ok(first), ok(last) else { return false }
        return bytes.allSatisfy { ok($0) || $0 == UInt8(ascii: "-") }
    }

    /// A DNS-1123 subdomain (ConfigMap and Secret names): labels joined by dots, ≤ 253.
    public static func isDNSSubdomain(_ text: String) -> Bool {
        guard (1...253).contains(text.utf8.count) else { return false }
        return text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNSLabel(String($0)) }
    }

    /// A pod UID: letters, digits and dashes only (Kubernetes sends a UUID).
    public static func isUID(_ text: String) -> Bool {
        (1...128).contains(text.utf8.count)
            && text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 }
    }

    /// A UUID in its canonical form (`8-4-4-4-12` hex digits), as Kubernetes writes pod UIDs.
    public static func isCanonicalUUID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        for (index, b) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard b == UInt8(ascii: "-") else { return false }
            } else {
                guard (b >= 48 && b <= 57) || (b >= 97 && b <= 102) || (b >= 65 && b <= 70) else { return false }
            }
        }
        return true
    }

    /// A ConfigMap/Secret key: `[-._a-zA-Z0-9]+`, not `.` or `..`, ≤ 253 (as Kubernetes).
    public static func isDataKey(_ text: String) -> Bool {
        guard (1...253).contains(text.utf8.count), text != ".", text != ".." else { return false }
        return text.utf8.allSatisfy(isKeyByte)
    }

    /// A label or annotation key: an optional DNS-1123 subdomain prefix and `/`, then a name of
    /// 1–63 letters, digits, `-`, `_`, `.`, beginning and ending with a letter or digit.
    public static func isLabelKey(_ text: String) -> Bool {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2, !isDNSSubdomain(String(parts[0])) { return false }
        let name = Array((parts.last ?? "").utf8)
        func alnum(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }
        guard (1...63).contains(name.count), let first = name.first, let last = name.last, alnum(first), alnum(last) else { return false }
        return name.allSatisfy(isKeyByte)
    }

    /// An environment variable name: no `=`, no NUL, not empty (Kubernetes allows any
    /// printable ASCII except `=`).
    public static func isEnvName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 4096
            && text.utf8.allSatisfy { $0 >= 33 && $0 <= 126 && $0 != UInt8(ascii: "=") }
    }

    /// A relative file path inside a volume (`items[].path`, projected keys): segments of
    /// key characters, no empty, `.` or `..` segment, not absolute.
    public static func isRelativeFilePath(_ text: String) -> Bool {
        guard (1...1024).contains(text.utf8.count), !text.hasPrefix("/") else { return false }
        return text.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { isDataKey(String($0)) }
    }

    /// An absolute path inside a container (`mountPath`, `workingDir`): starts with `/`, has no
    /// `..` segment, no NUL, no newline.
    public static func isContainerPath(_ text: String) -> Bool {
        guard text.hasPrefix("/"), text.utf8.count <= 4096 else { return false }
        if text.utf8.contains(where: { $0 == 0 || $0 == 10 || $0 == 13 }) { return false }
        return !text.split(separator: "/").contains("..")
    }

    /// A word Slurm accepts as a partition, account, QoS or GPU model name.
    public static func isSlurmName(_ text: String) -> Bool {
        (1...128).contains(text.utf8.count)
            && text.utf8.allSatisfy(isKeyByte)
    }

    /// A NUL byte cannot travel through `exec`; every argument and value is checked for it.
    public static func hasNUL(_ text: String) -> Bool { text.utf8.contains(0) }

    private static func isKeyByte(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122)
            || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
    }

    /// Slurm walltime: minutes, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`; returns
    /// seconds, `Int.max` when the text is a time too large to count (callers check the
    /// result against `Limits.walltimeSeconds`), nil when it is not a Slurm time.
    public static func walltimeSeconds(_ text: String) -> Int? {
        guard text.utf8.count <= 64 else { return nil }
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        func number(_ part: Substring) -> Int? {
            guard !part.isEmpty, part.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            return Int(part) ?? Int.max  // all digits, too many for Int: too large
        }
        var days = 0
        var rest = Substring(text)
        if parts.count == 2 {
            guard let d = number(parts[0]) else { return nil }
            days = d
            rest = parts[1]
        }
        let fields = rest.split(separator: ":", omittingEmptySubsequences: false).map(number)
        guard !fields.isEmpty, fields.count <= 3, fields.allSatisfy({ $0 != nil }) else { return nil }
        let v = fields.compactMap { $0 }
        let factors: [Int]
        if parts.count == 2 {
            factors = [[3600], [3600, 60], [3600, 60, 1]][v.count - 1]
        } else {
            factors = [[60], [60, 1], [3600, 60, 1]][v.count - 1]
        }
        var total = 0
        for (value, factor) in zip([days] + v, [86_400] + factors) {
            let (product, o1) = value.multipliedReportingOverflow(by: factor)
            let (sum, o2) = total.addingReportingOverflow(product)
            if o1 || o2 { return Int.max }
            total = sum
        }
        return total > 0 ? total : nil
    }
}
