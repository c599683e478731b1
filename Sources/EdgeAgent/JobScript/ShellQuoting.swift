/// Quoting for bash: every user-controlled word goes into a job script through here.
public enum Shell {
    /// `text` as one bash word that expands to exactly `text`: single-quoted, each `'`
    /// written as `'\''`. Inside single quotes bash interprets nothing (`$`, backticks, `\`,
    /// `;`, newlines all stay literal). NUL bytes cannot be represented and are rejected earlier.
    public static func quote(_ text: String) -> String {
        if !text.isEmpty, text.utf8.allSatisfy(isSafe) { return text }
        return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Several words, each quoted, separated by spaces.
    public static func words(_ items: [String]) -> String { items.map(quote).joined(separator: " ") }

    private static func isSafe(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122)
            || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
            || b == UInt8(ascii: "/") || b == UInt8(ascii: ":") || b == UInt8(ascii: "@")
            || b == UInt8(ascii: "%") || b == UInt8(ascii: "+") || b == UInt8(ascii: ",")
    }
}
