import DTEModel
import Foundation

/// Checks of the software metadata files QC.Met accepts: CITATION.cff (Citation File Format
/// 1.2) and codemeta.json (CodeMeta). Each check says what is wrong, field by field.
enum SoftwareMetadata {
    /// The problems of a CITATION.cff text (empty: valid). Required by CFF 1.2: `cff-version`,
    /// `message`, `title`, and `authors` — a non-empty list of persons (`family-names` or
    /// `given-names`) or entities (`name`).
    static func citationProblems(_ bytes: [UInt8]) -> [String] {
        let loaded = YAMLLoader.load(bytes: bytes, file: "CITATION.cff")
        if let e = loaded.diagnostics.first(where: { $0.severity == .error }) {
            let line = e.line.map { " (line \($0))" } ?? ""
            return ["CITATION.cff is not valid YAML\(line): \(e.message)"]
        }
        guard let root = loaded.root, let _ = root.entries else {
            return ["CITATION.cff is not a YAML map of fields (cff-version, message, title, authors)"]
        }
        var problems: [String] = []
        for key in ["cff-version", "message", "title"] {
            guard let v = root[key] else { problems.append("CITATION.cff has no \(key)"); continue }
            if (v.string ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
                problems.append("CITATION.cff: \(key) must be a non-empty string, not \(v.kindDescription)")
            }
        }
        if let version = root["cff-version"]?.string, !version.isEmpty, !version.hasPrefix("1.") {
            problems.append("CITATION.cff: cff-version \(version) is not a Citation File Format 1.x version")
        }
        if let authors = root["authors"] {
            if let items = authors.items, !items.isEmpty {
                for (i, a) in items.enumerated() {
                    let named = ["family-names", "given-names", "name"].contains { !(a[$0]?.string ?? "").isEmpty }
                    if a.entries == nil || !named {
                        problems.append("CITATION.cff: authors[\(i)] needs family-names, given-names or name")
                    }
                }
            } else {
                problems.append("CITATION.cff: authors must be a non-empty list")
            }
        } else {
            problems.append("CITATION.cff has no authors")
        }
        return problems
    }

    /// The problems of a codemeta.json text (empty: valid): a JSON object with an `@context`
    /// naming CodeMeta, a `@type` of SoftwareSourceCode or SoftwareApplication, and a `name`.
    static func codemetaProblems(_ bytes: [UInt8]) -> [String] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) else {
            return ["codemeta.json is not valid JSON"]
        }
        guard let doc = object as? [String: Any] else { return ["codemeta.json is not a JSON object"] }
        var problems: [String] = []
        let context = doc["@context"]
        let contexts: [String] = (context as? String).map { [$0] } ?? (context as? [Any])?.compactMap { $0 as? String } ?? []
        if context == nil {
            problems.append("codemeta.json has no @context")
        } else if !contexts.contains(where: { $0.lowercased().contains("codemeta") }) {
            problems.append("codemeta.json: @context does not name CodeMeta (e.g. https://w3id.org/codemeta/3.0)")
        }
        if let type = doc["@type"] as? String {
            if !["SoftwareSourceCode", "SoftwareApplication"].contains(type) {
                problems.append("codemeta.json: @type is \(type), not SoftwareSourceCode or SoftwareApplication")
            }
        } else {
            problems.append("codemeta.json has no @type")
        }
        if ((doc["name"] as? String) ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
            problems.append("codemeta.json has no name")
        }
        return problems
    }
}

/// Semantic Versioning 2.0.0 version strings (`v` prefix allowed, as release tags usually carry it).
enum SemanticVersion {
    static func isValid(_ tag: String) -> Bool {
        var s = Substring(tag)
        if s.first == "v" || s.first == "V" { s = s.dropFirst() }
        var build: Substring?
        if let plus = s.firstIndex(of: "+") {
            build = s[s.index(after: plus)...]
            s = s[..<plus]
        }
        var pre: Substring?
        if let dash = s.firstIndex(of: "-") {
            pre = s[s.index(after: dash)...]
            s = s[..<dash]
        }
        let core = s.split(separator: ".", omittingEmptySubsequences: false)
        guard core.count == 3, core.allSatisfy(isNumeric) else { return false }
        if let pre {
            let ids = pre.split(separator: ".", omittingEmptySubsequences: false)
            guard ids.allSatisfy({ isIdentifier($0) && (!$0.allSatisfy(\.isASCIIDigit) || isNumeric($0)) }) else { return false }
        }
        if let build {
            guard build.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isIdentifier) else { return false }
        }
        return true
    }

    /// A number without leading zeros.
    static func isNumeric(_ s: Substring) -> Bool {
        !s.isEmpty && s.allSatisfy(\.isASCIIDigit) && (s == "0" || s.first != "0")
    }

    static func isIdentifier(_ s: Substring) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isASCIIDigit || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || $0 == "-" }
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
