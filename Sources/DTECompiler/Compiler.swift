import DTEModel
import Foundation

/// The result of loading and checking a repository or a set of files.
public struct Compilation: Sendable {
    public var model: CompiledModel
    public var diagnostics: [Diagnostic]
    /// Files read (named ones and everything they import), as shown to users.
    public var files: [String]
    public var config: RepositoryConfig?

    public var isValid: Bool { !diagnostics.hasErrors }
}

/// Entry point of the compiler: finds the repository, loads files and imports, type-checks
/// them, runs DTE's own checks and returns the resolved model with every diagnostic.
public enum Compiler {
    /// What to compile.
    public enum Scope: Sendable {
        /// The repository at (or above) this folder: dte.yaml plus sites/, templates/, recipes/.
        case repository(String)
        /// Just these files and what they import.
        case files([String])
    }

    public static func compile(_ scope: Scope, options: CheckOptions = CheckOptions(),
                               workingDirectory: String = FileManager.default.currentDirectoryPath) -> Compilation {
        var diagnostics: [Diagnostic] = []
        var config: RepositoryConfig?
        let paths: [String]
        switch scope {
        case .repository(let dir):
            let abs = SourceSet.absolute(dir, relativeTo: workingDirectory)
            guard let root = RepositoryConfig.findRoot(from: abs) else {
                diagnostics.append(Diagnostic(
                    .error, code: "no-repository", "\(dir == "." ? "this folder" : dir) is not in a DTE repository (no \(RepositoryConfig.fileName) here or above)",
                    hint: "run in a repository, pass -C DIR, or name the files to validate"))
                return Compilation(model: CompiledModel(), diagnostics: diagnostics, files: [], config: nil)
            }
            let probe = SourceSet(config: nil, workingDirectory: workingDirectory)
            let (c, d) = RepositoryConfig.load(root: root, display: probe.display((root as NSString).appendingPathComponent(RepositoryConfig.fileName)))
            config = c
            diagnostics += d
            paths = c.sourceFiles()
        case .files(let files):
            paths = files
            if let first = files.first {
                let dir = (SourceSet.absolute(first, relativeTo: workingDirectory) as NSString).deletingLastPathComponent
                if let root = RepositoryConfig.findRoot(from: dir) {
                    let probe = SourceSet(config: nil, workingDirectory: workingDirectory)
                    let (c, d) = RepositoryConfig.load(root: root, display: probe.display((root as NSString).appendingPathComponent(RepositoryConfig.fileName)))
                    config = c
                    diagnostics += d
                }
            }
        }
        var sources = SourceSet(config: config, workingDirectory: workingDirectory, strict: options.strict)
        for p in paths { sources.addRoot(p) }
        diagnostics += sources.diagnostics
        let (model, checked) = Checker.run(sources, options: options)
        diagnostics += checked
        // the parsed files of a large repository take milliseconds to free: not the caller's wait
        releaseInBackground(consume sources)
        return Compilation(model: model, diagnostics: capped(unique(diagnostics).sortedByLocation()), files: model.files, config: config)
    }

    /// The most diagnostics one run reports: a hostile or badly broken file (one bad import in a
    /// 10,000-node twin gives 10,000 errors) prints the first ones and says how many more there are.
    public static let maximumDiagnostics = 1_000

    static func capped(_ diagnostics: [Diagnostic]) -> [Diagnostic] {
        guard diagnostics.count > maximumDiagnostics else { return diagnostics }
        let shown = Array(diagnostics.prefix(maximumDiagnostics))
        let hidden = diagnostics.dropFirst(maximumDiagnostics)
        let errors = hidden.filter { $0.severity == .error }.count
        let last = shown.last
        var note = Diagnostic(.error, code: "too-many-diagnostics",
                              "\(hidden.count) more diagnostics (\(errors) of them errors) after these \(maximumDiagnostics) are not shown",
                              hint: "fix the first ones (often one cause, such as a missing import, explains the rest) and run again",
                              file: last?.file, path: nil)
        note.line = last?.line
        note.column = last?.column
        if errors == 0 && !shown.contains(where: { $0.severity == .error }) { note.severity = .warning }
        return shown + [note]
    }

    /// The same problem reached twice (a type's default used by several nodes) is reported once.
    static func unique(_ ds: [Diagnostic]) -> [Diagnostic] {
        var seen: Set<String> = []
        return ds.filter { d in seen.insert("\(d.code)|\(d.file ?? "")|\(d.line ?? 0)|\(d.column ?? 0)|\(d.severity)").inserted }
    }
}
