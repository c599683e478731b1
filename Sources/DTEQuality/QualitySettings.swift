import DTECompiler
import Foundation

/// How the quality gate runs, from the `quality:` section of `dte.yaml` (`RepositoryConfig.QualitySection`):
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

    /// The settings dte.yaml's `quality:` section gives (the compiler reads and checks it).
    public init(_ section: RepositoryConfig.QualitySection) {
        var commands: [QualityCriterion: [String: [String]]] = [:]
        for (id, byLanguage) in section.commands {
            if let c = QualityCriterion(rawValue: id) { commands[c] = byLanguage }
        }
        self.init(commandTimeout: section.commandTimeout, gitTimeout: section.gitTimeout, outputLimit: section.outputLimit, commands: commands)
    }

    /// Reads the `quality:` section of `<repositoryRoot>/dte.yaml` (defaults when the file or the
    /// section is absent). Every problem is reported at once, each at its file:line:column and
    /// naming the field and the limit, as `dte validate` reports them.
    public static func load(repositoryRoot: String) throws(QualityError) -> QualitySettings {
        let (config, diagnostics) = RepositoryConfig.load(root: repositoryRoot, display: RepositoryConfig.fileName)
        // the section's own problems, and those that keep the file from being read at all
        let problems = diagnostics.filter { d in d.severity == .error && (d.path.map { $0.isEmpty || $0 == "quality" || $0.hasPrefix("quality.") } ?? true) }
        guard problems.isEmpty else {
            throw QualityError(.settings, problems.map { "\($0.location): \($0.message)" }.joined(separator: "\n"))
        }
        return QualitySettings(config.quality)
    }
}
