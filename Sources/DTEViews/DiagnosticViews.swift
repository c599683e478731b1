import DTEModel
import Foundation

/// How diagnostics are printed.
public enum DiagnosticFormat: String, Sendable, CaseIterable {
    case text, json, sarif
}

/// Renders the diagnostics of a run: for people (text, optionally coloured, with the source
/// line), for machines (versioned JSON) and for code scanning (SARIF 2.1.0).
public struct DiagnosticView: Sendable {
    public var diagnostics: [Diagnostic]
    public var filesChecked: Int
    public var color: Bool
    /// Returns line `n` (1-based) of a file as shown, for the excerpt under each diagnostic.
    public var sourceLine: @Sendable (String, Int) -> String?

    public init(diagnostics: [Diagnostic], filesChecked: Int, color: Bool = false,
                sourceLine: @escaping @Sendable (String, Int) -> String? = { _, _ in nil }) {
        self.diagnostics = diagnostics
        self.filesChecked = filesChecked
        self.color = color
        self.sourceLine = sourceLine
    }

    public func render(_ format: DiagnosticFormat) -> String {
        switch format {
        case .text: return text()
        case .json: return json()
        case .sarif: return sarif()
        }
    }

    func paint(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }

    /// The part of a long source line around `column` (at most `width` characters, `…` where
    /// it is cut) and the column within it: a minified or hostile line of megabytes prints as
    /// one readable line.
    static func window(_ line: String, column: Int?, width: Int = 120) -> (String, Int?) {
        let count = line.count
        guard count > width else { return (line, column) }
        let col = min(max(column ?? 1, 1), count + 1)
        let start = max(0, min(col - 1 - width / 2, count - width))
        let from = line.index(line.startIndex, offsetBy: start)
        let to = line.index(from, offsetBy: width)
        let lead = start > 0 ? "…" : "", tail = to < line.endIndex ? "…" : ""
        return (lead + line[from..<to] + tail, column.map { _ in col - start + lead.count })
    }

    /// `file:line:col: error: message`, the source line with a caret, the YAML path and a hint.
    public func text() -> String {
        var out = ""
        for d in diagnostics {
            let sev: String
            switch d.severity {
            case .error: sev = paint("error", "1;31")
            case .warning: sev = paint("warning", "1;33")
            case .note: sev = paint("note", "1;36")
            }
            out += "\(paint(d.location, "1")): \(sev): \(d.message)\n"
            if let file = d.file, let line = d.line, let full = sourceLine(file, line) {
                let gutter = String(line)
                let (src, col) = Self.window(full, column: d.column)
                out += "  \(paint(gutter, "2")) | \(src)\n"
                if let col {
                    let pad = String(src.prefix(max(0, col - 1)).map { $0 == "\t" ? "\t" : " " })
                    out += "  \(String(repeating: " ", count: gutter.count)) | \(pad)\(paint("^", "1;32"))\n"
                }
            }
            if let path = d.path, !path.isEmpty { out += "  at: \(path)\n" }
            if let hint = d.hint { out += "  \(paint("hint", "1;36")): \(hint)\n" }
        }
        out += summary() + "\n"
        return out
    }

    public func summary() -> String {
        let errors = diagnostics.errorCount
        let warnings = diagnostics.filter { $0.severity == .warning }.count
        let filesWithErrors = Set(diagnostics.filter { $0.severity == .error }.compactMap(\.file)).count
        let checked = "\(filesChecked) file\(filesChecked == 1 ? "" : "s") checked"
        func plural(_ n: Int, _ w: String) -> String { "\(n) \(w)\(n == 1 ? "" : "s")" }
        if errors == 0 {
            return warnings == 0 ? "no problems (\(checked))" : "\(plural(warnings, "warning")), no errors (\(checked))"
        }
        var s = "\(plural(errors, "error")) in \(plural(filesWithErrors, "file"))"
        if warnings > 0 { s += " and \(plural(warnings, "warning"))" }
        return s + " (\(checked))"
    }

    struct JSONReport: Encodable {
        var format_version = "1.0"
        var valid: Bool
        var error_count: Int
        var warning_count: Int
        var files_checked: Int
        var diagnostics: [JSONDiagnostic]
    }

    struct JSONDiagnostic: Encodable {
        var severity: String
        var code: String
        var message: String
        var hint: String?
        var file: String?
        var line: Int?
        var column: Int?
        var path: String?
    }

    /// `{"format_version":"1.0","valid":…,"diagnostics":[…]}` — documented in the README.
    public func json() -> String {
        let report = JSONReport(
            valid: !diagnostics.hasErrors, error_count: diagnostics.errorCount,
            warning_count: diagnostics.filter { $0.severity == .warning }.count, files_checked: filesChecked,
            diagnostics: diagnostics.map {
                JSONDiagnostic(severity: $0.severity.rawValue, code: $0.code, message: $0.message, hint: $0.hint, file: $0.file,
                               line: $0.line, column: $0.column, path: $0.path)
            })
        return encode(report)
    }

    struct SARIFLog: Encodable {
        var schema = "https://json.schemastore.org/sarif-2.1.0.json"
        var version = "2.1.0"
        var runs: [Run]
        enum CodingKeys: String, CodingKey { case schema = "$schema", version, runs }
        struct Run: Encodable { var tool: Tool; var results: [Result] }
        struct Tool: Encodable { var driver: Driver }
        struct Driver: Encodable { var name: String; var informationUri: String; var rules: [Rule] }
        struct Rule: Encodable { var id: String; var shortDescription: Message }
        struct Message: Encodable { var text: String }
        struct Result: Encodable {
            var ruleId: String
            var level: String
            var message: Message
            var locations: [Location]
        }
        struct Location: Encodable { var physicalLocation: Physical }
        struct Physical: Encodable { var artifactLocation: Artifact; var region: Region? }
        struct Artifact: Encodable { var uri: String }
        struct Region: Encodable { var startLine: Int; var startColumn: Int? }
    }

    /// SARIF 2.1.0, as GitHub code scanning reads it: one rule per diagnostic code.
    public func sarif() -> String {
        let codes = Array(Set(diagnostics.map(\.code))).sorted()
        let rules = codes.map { SARIFLog.Rule(id: $0, shortDescription: .init(text: $0.replacingOccurrences(of: "-", with: " "))) }
        let results = diagnostics.map { d -> SARIFLog.Result in
            var text = d.message
            if let hint = d.hint { text += "\nhint: " + hint }
            let region = d.line.map { SARIFLog.Region(startLine: $0, startColumn: d.column) }
            let locations = d.file.map { [SARIFLog.Location(physicalLocation: .init(artifactLocation: .init(uri: $0), region: region))] } ?? []
            let level = d.severity == .error ? "error" : (d.severity == .warning ? "warning" : "note")
            return SARIFLog.Result(ruleId: d.code, level: level, message: .init(text: text), locations: locations)
        }
        let log = SARIFLog(runs: [.init(tool: .init(driver: .init(name: "dte", informationUri: "https://github.com/interTwin-eu", rules: rules)),
                                        results: results)])
        return encode(log)
    }
}

func encode<T: Encodable>(_ value: T) -> String {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    guard let data = try? e.encode(value), let s = String(data: data, encoding: .utf8) else { return "{}" }
    return s + "\n"
}
