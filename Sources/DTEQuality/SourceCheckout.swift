import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a twin's code is: a git URL (cloned shallow into a temporary folder) or a folder of the
/// DTE repository (assessed in place).
public enum QualitySource: Sendable, Hashable, CustomStringConvertible {
    case git(url: String)
    case path(String)

    /// The URL schemes git may use here; anything else (http, ext::, fd::, …) is refused.
    public static let allowedSchemes = ["https", "ssh", "git", "file"]

    /// Checks a `source` as written in a template or on the command line. A string with `://` is
    /// a URL and must use an allowed scheme; `user@host:path` is ssh; anything else is a path
    /// relative to the DTE repository.
    public static func parse(_ text: String) throws(QualityError) -> QualitySource {
        let s = text.trimmingCharacters(in: .whitespaces)
        guard !s.isEmpty else { throw QualityError(.source, "the source is empty: give a git URL or a folder of the repository") }
        guard s.utf8.count <= 4096 else { throw QualityError(.source, "the source is longer than 4096 bytes") }
        guard !s.hasPrefix("-") else {
            throw QualityError(.source, "refusing source \"\(s)\": it starts with '-' and would be read as an option")
        }
        guard !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw QualityError(.source, "refusing source \"\(s.debugDescription)\": it contains control characters")
        }
        if let r = s.range(of: "://") {
            let scheme = s[..<r.lowerBound].lowercased()
            guard allowedSchemes.contains(scheme) else {
                throw QualityError(.source, "refusing source \(s): scheme \(scheme) is not allowed (use \(allowedSchemes.map { $0 + "://" }.joined(separator: ", ")))")
            }
            let rest = s[r.upperBound...]
            guard !rest.isEmpty else { throw QualityError(.source, "source \(s) names no repository") }
            guard !rest.hasPrefix("-"), !(rest.split(separator: "/").first?.split(separator: "@").last?.hasPrefix("-") ?? false) else {
                throw QualityError(.source, "refusing source \(s): its host starts with '-' and would be read as an option")
            }
            return .git(url: s)
        }
        if s.contains("::") {
            throw QualityError(.source, "refusing source \(s): git transports (<transport>::<address>) are not allowed")
        }
        if let at = s.firstIndex(of: "@"), let colon = s.firstIndex(of: ":"), at < colon, !s[..<at].contains("/") {
            guard s[s.index(after: at)...].first != "-" else {
                throw QualityError(.source, "refusing source \(s): its host starts with '-' and would be read as an option")
            }
            return .git(url: s) // scp-like ssh: user@host:path
        }
        return .path(s)
    }

    public var description: String {
        switch self {
        case .git(let u): return u
        case .path(let p): return p
        }
    }
}

/// A checkout ready to assess: its files and what git says of it.
public struct Checkout: Sendable {
    public var source: QualitySource
    public var files: RepositoryFiles
    /// Whether the folder is (inside) a git work tree.
    public var isGit: Bool
    public var commit: String?
    /// Tags on the assessed commit, and every tag of the repository.
    public var headTags: [String]
    public var allTags: [String]
    /// A temporary clone to remove when done.
    var temporary: String?

    /// Removes a temporary clone.
    public func cleanup() {
        if let temporary { try? FileManager.default.removeItem(atPath: temporary) }
    }
}

/// Runs git for the quality gate: argv only, a timeout, no prompts, only the allowed protocols.
public struct GitRunner: Sendable {
    public var timeout: Double

    public init(timeout: Double = 120) { self.timeout = timeout }

    static var environment: [String: String] {
        var env = [
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ALLOW_PROTOCOL": QualitySource.allowedSchemes.joined(separator: ":"),
            "GIT_LFS_SKIP_SMUDGE": "1",
            "LC_ALL": "C",
        ]
        if ProcessInfo.processInfo.environment["GIT_SSH_COMMAND"] == nil { env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes" }
        return env
    }

    func run(_ args: [String], in directory: String) throws(QualityError) -> CommandRun {
        try CommandRunner.run(["git"] + args, in: directory, timeout: timeout, outputLimit: 4 << 20, environment: Self.environment)
    }

    /// The last lines git wrote, for an error message.
    static func tail(_ run: CommandRun) -> String {
        if run.timedOut { return "no answer within the timeout" }
        let lines = run.output.split(whereSeparator: \.isNewline).suffix(3)
        return lines.isEmpty ? "exit status \(run.exitStatus.map(String.init) ?? "signal")" : lines.joined(separator: " / ")
    }

    /// What `git ls-remote` says of a remote: the commit of HEAD and each tag's commit.
    public func remoteHead(_ url: String) throws(QualityError) -> (head: String, tags: [(name: String, commit: String)]) {
        let r = try run(["ls-remote", url, "HEAD", "refs/tags/*"], in: FileManager.default.temporaryDirectory.path)
        guard r.succeeded else { throw QualityError(.fetch, "git ls-remote \(url) failed: \(Self.tail(r))") }
        var head: String?
        var direct: [String: String] = [:], peeled: [String: String] = [:]
        var order: [String] = []
        for line in r.output.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "\t", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let sha = String(parts[0]), ref = String(parts[1])
            if ref == "HEAD" { head = sha; continue }
            guard ref.hasPrefix("refs/tags/") else { continue }
            var name = String(ref.dropFirst("refs/tags/".count))
            if name.hasSuffix("^{}") {
                name = String(name.dropLast(3))
                peeled[name] = sha
            } else {
                if direct[name] == nil { order.append(name) }
                direct[name] = sha
            }
        }
        guard let head else { throw QualityError(.fetch, "\(url) has no HEAD (an empty repository?)") }
        return (head, order.map { ($0, peeled[$0] ?? direct[$0] ?? "") })
    }

    /// Clones `url` shallowly into a new temporary folder.
    public func clone(_ url: String) throws(QualityError) -> String {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("dte-quality-XXXXXX").path
        var template = Array(base.utf8CString)
        guard let made = mkdtemp(&template) else { throw QualityError(.io, "cannot create a temporary folder: \(String(cString: strerror(errno)))") }
        let folder = String(cString: made)
        let target = folder + "/checkout"
        let r: CommandRun
        do {
            r = try run(["clone", "--depth", "1", "--no-tags", "--quiet", "--", url, target], in: folder)
        } catch {
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
        guard r.succeeded else {
            try? FileManager.default.removeItem(atPath: folder)
            throw QualityError(.fetch, "git clone \(url) failed: \(Self.tail(r))")
        }
        return folder
    }

    /// What git says of a local folder: nil when it is not in a work tree; else HEAD (nil before
    /// the first commit) and the tags with their commits.
    public func local(_ folder: String) throws(QualityError) -> (head: String?, tags: [(name: String, commit: String)])? {
        let inside = try run(["rev-parse", "--is-inside-work-tree"], in: folder)
        guard inside.succeeded, inside.output.hasPrefix("true") else { return nil }
        let head = try run(["rev-parse", "--verify", "--quiet", "HEAD"], in: folder)
        let sha = head.succeeded ? head.output.trimmingCharacters(in: .whitespacesAndNewlines) : nil
        let refs = try run(["for-each-ref", "--format=%(refname:short)\t%(objectname)\t%(*objectname)", "refs/tags"], in: folder)
        var tags: [(String, String)] = []
        if refs.succeeded {
            for line in refs.output.split(whereSeparator: \.isNewline) {
                let p = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                guard p.count == 3 else { continue }
                tags.append((p[0], p[2].isEmpty ? p[1] : p[2]))
            }
        }
        return (sha, tags)
    }
}

extension Checkout {
    /// The folder a path source names, resolved: refused when absolute, missing, or when it (or a
    /// link on the way) leaves the repository.
    static func folder(_ relative: String, repositoryRoot: String) throws(QualityError) -> String {
        guard !relative.hasPrefix("/") else {
            throw QualityError(.source, "refusing source \(relative): give a path relative to the repository, or a git URL (file:// for a local repository)")
        }
        let root = try RepositoryFiles(root: repositoryRoot)
        let joined = relative == "." ? root.root : root.root + "/" + relative
        guard let real = RepositoryFiles.realPath(joined) else {
            throw QualityError(.source, "source \(relative): no such folder in the repository \(root.root)")
        }
        guard root.contains(real) else {
            throw QualityError(.source, "refusing source \(relative): it leaves the repository (resolves to \(real))")
        }
        return real
    }

    /// Makes a checkout of `source`: a path inside `repositoryRoot` (refused when it, or a link on
    /// the way, leaves it), or a shallow clone of a git URL. `remote` is what `ls-remote` already
    /// said of a URL (the assessor asks it first to look up its cache).
    static func make(_ source: QualitySource, repositoryRoot: String, git: GitRunner,
                     remote: (head: String, tags: [(name: String, commit: String)])? = nil) throws(QualityError) -> Checkout {
        switch source {
        case .path(let relative):
            let real = try folder(relative, repositoryRoot: repositoryRoot)
            let files = try RepositoryFiles(root: real)
            let info = try git.local(real)
            let head = info?.head
            return Checkout(source: source, files: files, isGit: info != nil, commit: head,
                            headTags: head.map { h in info?.tags.filter { $0.commit == h }.map(\.name) ?? [] } ?? [],
                            allTags: info?.tags.map(\.name) ?? [], temporary: nil)
        case .git(let url):
            let listed: (head: String, tags: [(name: String, commit: String)])
            if let remote { listed = remote } else { listed = try git.remoteHead(url) }
            let folder = try git.clone(url)
            do {
                let files = try RepositoryFiles(root: folder + "/checkout")
                let local = try git.local(files.root)
                let head = local?.head ?? listed.head
                return Checkout(source: source, files: files, isGit: true, commit: head,
                                headTags: listed.tags.filter { $0.commit == head }.map(\.name),
                                allTags: listed.tags.map(\.name), temporary: folder)
            } catch {
                try? FileManager.default.removeItem(atPath: folder)
                throw error
            }
        }
    }
}
