import Foundation

/// Kubernetes resource quantities (`500m`, `2`, `1.5`, `512Mi`, `1G`, `1e9`).
public enum Quantity {
    /// The value as a number of base units (cores for cpu, bytes for memory), or nil when
    /// the text is not a quantity.
    public static func parse(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.utf8.count <= 64 else { return nil }
        let suffixes: [(String, Double)] = [
            ("Ki", 1024), ("Mi", 1024 * 1024), ("Gi", 1024 * 1024 * 1024), ("Ti", 1024 * 1024 * 1024 * 1024),
            ("Pi", pow(1024, 5)), ("Ei", pow(1024, 6)),
            ("n", 1e-9), ("u", 1e-6), ("m", 1e-3), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12),
            ("P", 1e15), ("E", 1e18),
        ]
        for (suffix, factor) in suffixes where trimmed.hasSuffix(suffix) {
            let number = String(trimmed.dropLast(suffix.count))
            guard let value = plainNumber(number) else { return nil }
            return value * factor
        }
        return plainNumber(trimmed)
    }

    private static func plainNumber(_ text: String) -> Double? {
        guard !text.isEmpty,
              text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "." || $0 == "e" || $0 == "E" || $0 == "+" || $0 == "-") }),
              let value = Double(text), value.isFinite, value >= 0
        else { return nil }
        return value
    }

    /// Memory as a Kubernetes quantity string in whole mebibytes (`8000Mi`).
    public static func mebibytes(_ mib: Int) -> String { "\(max(0, mib))Mi" }
}
