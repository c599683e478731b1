import DTEModel

extension RepositoryConfig {
    /// The `quality:` section of dte.yaml: how the quality gate runs its commands (docs/quality.md).
    ///
    /// ```yaml
    /// quality:
    ///   timeout: 300          # seconds per command (1…3600)
    ///   git_timeout: 120      # seconds for ls-remote and clone (1…3600)
    ///   output_limit: 65536   # bytes of each command's output kept (1024…16777216)
    ///   commands:             # argv lists, never a shell; by criterion, then by language
    ///     QC.Sty: { python: [flake8, .], any: [make, lint] }
    /// ```
    public struct QualitySection: Sendable, Hashable {
        public static let keys = ["timeout", "git_timeout", "output_limit", "commands"]
        /// The criteria checked by a configured command.
        public static let commandCriteria = ["QC.Sty", "QC.Sec", "QC.Uni"]
        public static let timeoutRange = 1.0...3600.0
        public static let outputRange = 1024...(16 << 20)
        public static let maxArguments = 256
        public static let maxArgumentBytes = 4096

        public var commandTimeout: Double = 300
        public var gitTimeout: Double = 120
        public var outputLimit: Int = 64 << 10
        /// criterion (`QC.Sty`, …) → language (`python`, …, `any`) → argv.
        public var commands: [String: [String: [String]]] = [:]

        public init() {}

        /// A language name as dte.yaml writes it: 1 to 32 of a-z 0-9 + # - (`python`, `c++`, `any`).
        public static func isLanguageName(_ s: String) -> Bool {
            !s.isEmpty && s.utf8.count <= 32 && s.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 43 || $0 == 35 || $0 == 45 }
        }

        /// Reads the section; every problem is a located error (the field keeps its default).
        static func load(_ node: YAMLNode, file: String) -> (QualitySection, [Diagnostic]) {
            var s = QualitySection()
            var diags: [Diagnostic] = []
            func err(_ code: String, _ msg: String, _ mark: Mark, _ path: String, hint: String? = nil) {
                diags.append(Diagnostic(.error, code: code, msg, hint: hint, file: file, mark: mark, path: path))
            }
            if node.isNull { return (s, diags) }
            guard let entries = node.entries else {
                err("expected-map", "quality must be a map (\(keys.joined(separator: ", ")))", node.mark, "quality")
                return (s, diags)
            }
            for e in entries {
                let path = "quality.\(e.key)"
                switch e.key {
                case "timeout", "git_timeout":
                    guard let v = plainNumber(e.value).flatMap(Double.init), timeoutRange.contains(v) else {
                        err("invalid-timeout", "\(path) must be a number of seconds from 1 to 3600", e.value.mark, path,
                            hint: e.key == "timeout" ? "the default is 300" : "the default is 120")
                        continue
                    }
                    if e.key == "timeout" { s.commandTimeout = v } else { s.gitTimeout = v }
                case "output_limit":
                    guard let v = plainNumber(e.value).flatMap({ Int($0) }), outputRange.contains(v) else {
                        err("invalid-output-limit", "\(path) must be a number of bytes from 1024 to 16777216", e.value.mark, path,
                            hint: "the default is 65536")
                        continue
                    }
                    s.outputLimit = v
                case "commands":
                    guard let byCriterion = e.value.entries else {
                        err("expected-map", "\(path) must be a map of criteria (\(commandCriteria.joined(separator: ", ")))", e.value.mark, path,
                            hint: "e.g. commands: { QC.Sty: { python: [flake8, .] } }")
                        continue
                    }
                    for c in byCriterion {
                        let cpath = "\(path).\(c.key)"
                        guard commandCriteria.contains(c.key) else {
                            var hint = "criteria checked by a command: " + commandCriteria.joined(separator: ", ")
                            if let m = closestMatch(to: c.key, in: commandCriteria) { hint = "did you mean \"\(m)\"? " + hint }
                            err("unknown-criterion", "\(cpath): not a criterion checked by a command", c.keyMark, cpath, hint: hint)
                            continue
                        }
                        guard let byLanguage = c.value.entries else {
                            err("expected-map", "\(cpath) must be a map of language → argument list", c.value.mark, cpath,
                                hint: "e.g. \(c.key): { python: [flake8, .], any: [make, lint] }")
                            continue
                        }
                        for l in byLanguage {
                            let lpath = "\(cpath).\(l.key)"
                            guard isLanguageName(l.key) else {
                                err("invalid-language", "\(lpath): a language is 1 to 32 of a-z 0-9 + # - (e.g. python, c++, any)", l.keyMark, lpath)
                                continue
                            }
                            if let argv = command(l.value, lpath, err) { s.commands[c.key, default: [:]][l.key] = argv }
                        }
                    }
                default:
                    var hint = "allowed keys: " + keys.joined(separator: ", ")
                    if let m = closestMatch(to: e.key, in: keys) { hint = "did you mean \"\(m)\"? " + hint }
                    err("unknown-key", "unknown key \"\(e.key)\" in quality", e.keyMark, path, hint: hint)
                }
            }
            return (s, diags)
        }

        /// A plain (unquoted) scalar's text, for numbers: `"300"` in quotes is a string.
        static func plainNumber(_ node: YAMLNode) -> String? {
            guard let s = node.scalar, !s.style.isQuoted, s.value.utf8.count <= 20 else { return nil }
            return s.value
        }

        /// An argument list: 1 to `maxArguments` strings of at most `maxArgumentBytes`, the first
        /// naming the program; nil (with an error) otherwise.
        static func command(_ node: YAMLNode, _ path: String, _ err: (String, String, Mark, String, String?) -> Void) -> [String]? {
            guard let items = node.items, !items.isEmpty, items.count <= maxArguments else {
                err("expected-command", "\(path) must be a list of 1 to \(maxArguments) strings: the program and its arguments", node.mark, path,
                    "no shell: each entry is one argument, e.g. [flake8, --max-line-length=100, .]")
                return nil
            }
            var argv: [String] = []
            for (i, item) in items.enumerated() {
                guard let s = item.scalar, !s.isNull, !s.value.utf8.contains(0), s.value.utf8.count <= maxArgumentBytes, i > 0 || !s.value.isEmpty else {
                    err("expected-string", "\(path)[\(i)] must be a string of at most \(maxArgumentBytes) bytes\(i == 0 ? " naming the program" : "")",
                        item.mark, "\(path)[\(i)]", nil)
                    return nil
                }
                argv.append(s.value)
            }
            return argv
        }
    }
}
