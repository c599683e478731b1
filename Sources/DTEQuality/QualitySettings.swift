import DTEModel
import Foundation

/// How the quality gate runs, from the `quality:` section of `dte.yaml`:
///
/// ```yaml
/// quality:
///   timeout: 300          # seconds per command (1…3600)
///   git_timeout: 120      # seconds for ls-remote and clone (1…3600)
///   output_limit: 65536   # bytes of each command's output kept (1024…16777216)
///   commands:             # argv lists, never a shell; by criterion, then by language
///     QC.Sty:
///       python: [flake8, .]
///       swift: [swift, format, lint, --recursive, Sources]
///     QC.Sec:
///       python: [bandit, -r, .]
///     QC.Uni:
///       any: [make, test]   # `any` runs whatever the languages
/// ```
public struct QualitySettings: Sendable, Equatable {
    public var commandTimeout: Double = 300
    public var gitTimeout: Double = 120
    public var outputLimit: Int = 64 << 10
    /// criterion → language → argv.
    public var commands: [QualityCriterion: [String: [String]]] = [:]

    public init(commandTimeout: Double = 300, gitTimeout: Double = 120, outputLimit: Int = 64 << 10,
                commands: [QualityCriterion: [String: [String]]] = [:]) {
        self.commandTimeout = commandTimeout
        self.gitTimeout = gitTimeout
        self.outputLimit = outputLimit
        self.commands = commands
    }

    static let timeoutRange = 1.0...3600.0
    static let outputRange = 1024...(16 << 20)
    static let maxArguments = 256
    static let maxArgumentBytes = 4096

    /// Reads the `quality:` section of `<repositoryRoot>/dte.yaml` (defaults when the file or the
    /// section is absent). Every problem is reported at once, naming the field and the limit.
    public static func load(repositoryRoot: String) throws(QualityError) -> QualitySettings {
        let path = (repositoryRoot as NSString).appendingPathComponent("dte.yaml")
        guard FileManager.default.fileExists(atPath: path) else { return QualitySettings() }
        guard let files = try? RepositoryFiles(root: repositoryRoot) else { return QualitySettings() }
        switch files.read("dte.yaml", limit: 4 << 20) {
        case .failure(let why): throw QualityError(.settings, "dte.yaml: \(why)")
        case .success(let r):
            if r.truncated { throw QualityError(.settings, "dte.yaml: larger than 4 MiB") }
            return try parse(yaml: r.bytes, file: "dte.yaml")
        }
    }

    /// Parses the `quality:` section of a dte.yaml text.
    public static func parse(yaml bytes: [UInt8], file: String) throws(QualityError) -> QualitySettings {
        let loaded = YAMLLoader.load(bytes: bytes, file: file)
        if let e = loaded.diagnostics.first(where: { $0.severity == .error }) {
            throw QualityError(.settings, "\(file): \(e.message)")
        }
        guard let section = loaded.root?["quality"], !section.isNull else { return QualitySettings() }
        var s = QualitySettings()
        var problems: [String] = []
        func at(_ n: YAMLNode) -> String { "\(file):\(n.mark.line)" }
        guard let entries = section.entries else {
            throw QualityError(.settings, "\(at(section)): quality must be a map (timeout, git_timeout, output_limit, commands)")
        }
        for e in entries {
            switch e.key {
            case "timeout", "git_timeout":
                guard let text = e.value.string, let v = Double(text), timeoutRange.contains(v) else {
                    problems.append("\(at(e.value)): quality.\(e.key) must be a number of seconds from 1 to 3600")
                    continue
                }
                if e.key == "timeout" { s.commandTimeout = v } else { s.gitTimeout = v }
            case "output_limit":
                guard let text = e.value.string, let v = Int(text), outputRange.contains(v) else {
                    problems.append("\(at(e.value)): quality.output_limit must be a number of bytes from 1024 to 16777216")
                    continue
                }
                s.outputLimit = v
            case "commands":
                guard let byCriterion = e.value.entries else {
                    problems.append("\(at(e.value)): quality.commands must be a map of criteria (QC.Sty, QC.Sec, QC.Uni)")
                    continue
                }
                for c in byCriterion {
                    guard let criterion = QualityCriterion(rawValue: c.key), QualityCriterion.commandCriteria.contains(criterion) else {
                        problems.append("\(file):\(c.keyMark.line): quality.commands.\(c.key): not a criterion checked by a command (QC.Sty, QC.Sec, QC.Uni)")
                        continue
                    }
                    guard let byLanguage = c.value.entries else {
                        problems.append("\(at(c.value)): quality.commands.\(c.key) must be a map of language → argument list")
                        continue
                    }
                    for l in byLanguage {
                        let field = "quality.commands.\(c.key).\(l.key)"
                        guard Self.isLanguageName(l.key) else {
                            problems.append("\(file):\(l.keyMark.line): \(field): a language is 1 to 32 of a-z 0-9 + # - (e.g. python, c++, any)")
                            continue
                        }
                        guard let items = l.value.items, !items.isEmpty else {
                            problems.append("\(at(l.value)): \(field) must be a non-empty list of arguments (no shell: [flake8, .])")
                            continue
                        }
                        guard items.count <= maxArguments else {
                            problems.append("\(at(l.value)): \(field) has \(items.count) arguments (at most \(maxArguments))")
                            continue
                        }
                        var argv: [String] = []
                        for item in items {
                            guard let a = item.string, !a.utf8.contains(0), a.utf8.count <= maxArgumentBytes else {
                                problems.append("\(at(item)): \(field): each argument is a string of at most \(maxArgumentBytes) bytes")
                                continue
                            }
                            argv.append(a)
                        }
                        if argv.first?.isEmpty ?? true {
                            problems.append("\(at(l.value)): \(field): the first argument names the program")
                            continue
                        }
                        if argv.count == items.count { s.commands[criterion, default: [:]][l.key] = argv }
                    }
                }
            default:
                problems.append("\(file):\(e.keyMark.line): quality.\(e.key): unknown field (timeout, git_timeout, output_limit, commands)")
            }
        }
        guard problems.isEmpty else { throw QualityError(.settings, problems.joined(separator: "\n")) }
        return s
    }

    static func isLanguageName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 32 && s.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "+" || $0 == "#" || $0 == "-"
        }
    }
}
