import DTEModel
import Foundation

/// One loaded TOSCA file with what it imports.
public struct SourceFile: Sendable {
    /// Absolute, standardized path (the file's identity).
    public var path: String
    /// The path shown to users (relative to the working directory where possible).
    public var display: String
    public var template: ServiceTemplate
    /// Absolute paths of the files it imports, with the namespace prefix of each import.
    public var imports: [(path: String, prefix: String?)] = []
    /// Whether the user named this file (or it belongs to the repository), as opposed to being only imported.
    public var isRoot: Bool
    public var byteCount: Int
}

/// Loads files and everything they import (relative paths, and URLs through the repository's
/// import map), reporting missing files and import cycles. A value: once loaded, it is read
/// by every phase of the checker, from any thread.
public struct SourceSet: Sendable {
    public private(set) var files: [String: SourceFile] = [:]
    public private(set) var order: [String] = []
    public private(set) var diagnostics: [Diagnostic] = []
    public let config: RepositoryConfig?
    let workingDirectory: String
    /// `--strict`: the YAML 1.1 forms other TOSCA tools accept are errors.
    let strict: Bool

    public init(config: RepositoryConfig?, workingDirectory: String = FileManager.default.currentDirectoryPath, strict: Bool = false) {
        self.config = config
        self.workingDirectory = (workingDirectory as NSString).standardizingPath
        self.strict = strict
    }

    /// The path to show for an absolute path.
    public func display(_ path: String) -> String {
        let wd = workingDirectory.hasSuffix("/") ? workingDirectory : workingDirectory + "/"
        if path.hasPrefix(wd) { return String(path.dropFirst(wd.count)) }
        return path
    }

    public static func absolute(_ path: String, relativeTo dir: String) -> String {
        let p = path.hasPrefix("/") ? path : (dir as NSString).appendingPathComponent(path)
        return (p as NSString).standardizingPath
    }

    /// Loads a root file (and its imports). Returns false when the file could not be read.
    @discardableResult
    public mutating func addRoot(_ path: String) -> Bool {
        let abs = Self.absolute(path, relativeTo: workingDirectory)
        if files[abs] != nil {
            files[abs]?.isRoot = true
            return true
        }
        guard FileManager.default.fileExists(atPath: abs) else {
            diagnostics.append(Diagnostic(.error, code: "file-not-found", "no such file: \(path)", file: display(abs)))
            return false
        }
        var stack: [String] = []
        load(abs, root: true, stack: &stack)
        return true
    }

    /// Files larger than this are not read (templates are kilobytes; a generated one of 10,000
    /// components is a few MB).
    public static let maximumFileBytes = 64 << 20
    /// How long a chain of imports may be (each link is a nested load).
    static let maximumImportDepth = 64

    /// Where `target` really is (symlinks resolved), when that is outside the repository; nil
    /// inside it, or without a repository (files named on the command line import what they like).
    func leavesRepository(_ target: String) -> String? {
        guard let root = config?.root else { return nil }
        func real(_ p: String) -> String {
            guard let r = realpath(p, nil) else { return (p as NSString).standardizingPath }
            defer { free(r) }
            return String(cString: r)
        }
        let base = real(root), resolved = real(target)
        if resolved == base || resolved.hasPrefix(base.hasSuffix("/") ? base : base + "/") { return nil }
        return display(resolved)
    }

    /// The bytes of a regular file, read straight into one array (a file may still change
    /// while it is read: at most `maximumFileBytes` are taken, and the array is as long as what
    /// was read).
    static func read(_ path: String, expecting size: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: min(max(size, 0), maximumFileBytes)) { buffer, count in
            count = 0
            while count < buffer.count {
                let n = Foundation.read(fd, buffer.baseAddress! + count, buffer.count - count)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failed = true }
                if n <= 0 { break }
                count += n
            }
        }
        return failed ? nil : bytes
    }

    private mutating func load(_ abs: String, root: Bool, stack: inout [String]) {
        let shown = display(abs)
        // only a regular file of bounded size is read: a FIFO or device planted in a pull request
        // must not stall the run, nor a huge file exhaust it
        var info = stat()
        guard stat(abs, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            diagnostics.append(Diagnostic(.error, code: "file-unreadable", "cannot read \(shown): not a regular file", file: shown))
            return
        }
        guard Int(info.st_size) <= Self.maximumFileBytes else {
            diagnostics.append(Diagnostic(.error, code: "file-too-large",
                                          "\(shown) is larger than \(Self.maximumFileBytes >> 20) MiB; it is not read", file: shown))
            return
        }
        guard let bytes = Self.read(abs, expecting: Int(info.st_size)) else {
            diagnostics.append(Diagnostic(.error, code: "file-unreadable", "cannot read \(shown)", file: shown))
            return
        }
        let loaded = YAMLLoader.load(bytes: bytes, file: shown, strict: strict)
        diagnostics += loaded.diagnostics
        var template: ServiceTemplate
        if loaded.root == nil && !loaded.diagnostics.hasErrors {
            template = ServiceTemplate(file: shown)
            diagnostics.append(Diagnostic(.warning, code: "empty-file", "the file is empty", file: shown))
        } else if loaded.diagnostics.contains(where: { $0.code == "yaml-syntax" }) {
            template = ServiceTemplate(file: shown)
        } else {
            let (t, d) = TemplateParser.parse(root: loaded.root, file: shown, strict: strict)
            template = t
            diagnostics += d
        }
        files[abs] = SourceFile(path: abs, display: shown, template: template, isRoot: root, byteCount: bytes.count)
        order.append(abs)
        stack.append(abs)
        defer { stack.removeLast() }
        let dir = (abs as NSString).deletingLastPathComponent
        var resolved: [(String, String?)] = []
        for imp in template.imports {
            guard let target = resolveImport(imp, in: template, dir: dir, shown: shown) else { continue }
            if let outside = leavesRepository(target) {
                diagnostics.append(Diagnostic(
                    .error, code: "import-outside-repository", "import \"\(imp.file)\" leads outside the repository (to \(outside))",
                    hint: "imports stay inside the repository (\(config?.root ?? "")): copy the file into it, or map a URL to a copy with dte.yaml's import_map",
                    file: shown, mark: imp.source.mark, path: imp.source.path))
                continue
            }
            if let i = stack.firstIndex(of: target) {
                let cycle = (stack[i...] + [target]).map { display($0) }.joined(separator: " → ")
                // also where the cycle starts, when that is another file (the one the user named)
                if i + 1 < stack.count, let first = files[stack[i]],
                   let opening = first.template.imports.first(where: { resolveQuietly($0, in: first.template, from: stack[i]) == stack[i + 1] }) {
                    diagnostics.append(Diagnostic(
                        .error, code: "import-cycle", "import cycle: \(cycle)",
                        hint: "move the shared definitions into a file that both import", file: first.display, mark: opening.source.mark,
                        path: opening.source.path))
                }
                diagnostics.append(Diagnostic(
                    .error, code: "import-cycle", "import cycle: \(cycle)",
                    hint: "move the shared definitions into a file that both import", file: shown, mark: imp.source.mark,
                    path: imp.source.path))
                // keep the edge so the types stay visible: one error for the cycle, not one per use
                resolved.append((target, imp.namespacePrefix))
                continue
            }
            resolved.append((target, imp.namespacePrefix))
            if files[target] == nil {
                guard FileManager.default.fileExists(atPath: target) else {
                    diagnostics.append(Diagnostic(
                        .error, code: "import-not-found", "imported file \"\(imp.file)\" not found (looked for \(display(target)))",
                        hint: "import paths are relative to the importing file", file: shown, mark: imp.source.mark, path: imp.source.path))
                    resolved.removeLast()
                    continue
                }
                guard stack.count < Self.maximumImportDepth else {
                    diagnostics.append(Diagnostic(
                        .error, code: "import-too-deep", "imports are chained more than \(Self.maximumImportDepth) files deep here",
                        hint: "import the shared definitions directly instead of through a long chain", file: shown,
                        mark: imp.source.mark, path: imp.source.path))
                    resolved.removeLast()
                    continue
                }
                load(target, root: false, stack: &stack)
            } else if let tf = files[target], importsTransitively(tf.path, reaches: abs) {
                let cycle = [shown, display(target), shown].joined(separator: " → ")
                diagnostics.append(Diagnostic(
                    .error, code: "import-cycle", "import cycle: \(cycle)",
                    hint: "move the shared definitions into a file that both import", file: shown, mark: imp.source.mark,
                    path: imp.source.path))
            }
        }
        files[abs]?.imports = resolved
    }

    /// The path an import resolves to, without reporting anything.
    private mutating func resolveQuietly(_ imp: ImportDefinition, in t: ServiceTemplate, from file: String) -> String? {
        let saved = diagnostics
        defer { diagnostics = saved }
        return resolveImport(imp, in: t, dir: (file as NSString).deletingLastPathComponent, shown: display(file))
    }

    private func importsTransitively(_ from: String, reaches target: String) -> Bool {
        var seen: Set<String> = []
        var todo = [from]
        while let f = todo.popLast() {
            if f == target { return true }
            guard seen.insert(f).inserted, let sf = files[f] else { continue }
            todo += sf.imports.map(\.path)
        }
        return false
    }

    private mutating func resolveImport(_ imp: ImportDefinition, in t: ServiceTemplate, dir: String, shown: String) -> String? {
        var url: String?
        if let repo = imp.repository {
            guard let base = t.repositories[repo] else {
                diagnostics.append(Diagnostic(
                    .error, code: "unknown-repository", "import names repository \"\(repo)\", which \"repositories\" does not define",
                    hint: t.repositories.isEmpty ? "define it under repositories: with its url"
                        : (closestMatch(to: repo, in: t.repositories.keys).map { "did you mean \"\($0)\"?" } ?? "defined: " + t.repositories.keys.sorted().joined(separator: ", ")),
                    file: shown, mark: imp.repositoryMark == .unknown ? imp.source.mark : imp.repositoryMark, path: imp.source.path + ".repository"))
                return nil
            }
            url = base.hasSuffix("/") ? base + imp.file : base + "/" + imp.file
        } else if imp.file.contains("://") {
            url = imp.file
        }
        guard let url else { return Self.absolute(imp.file, relativeTo: dir) }
        if url.hasPrefix("file://") { return Self.absolute(String(url.dropFirst(7)), relativeTo: dir) }
        if let config, let local = config.importMap[url] {
            return Self.absolute(local, relativeTo: config.root)
        }
        diagnostics.append(Diagnostic(
            .error, code: "import-unmapped-url", "cannot import \(url): DTE resolves URL imports offline, through dte.yaml's import_map",
            hint: config == nil ? "add a dte.yaml with import_map: { \"\(url)\": path/to/local/copy.yaml }"
                                : "add \"\(url)\": path/to/local/copy.yaml under import_map in dte.yaml",
            file: shown, mark: imp.source.mark, path: imp.source.path))
        return nil
    }

    /// Files in a stable order: roots in the order given, imported files where first reached.
    public var allFiles: [SourceFile] { order.compactMap { files[$0] } }
}
