import DTEModel
import DTEProcess
import Foundation

/// What the loop reconciles: a branch of a git remote (any URL git understands, restricted to
/// the file, git, http(s) and ssh transports), or the working tree of a folder (`--local`).
public enum ReconcileSource: Sendable, Hashable, CustomStringConvertible {
    case remote(url: String, branch: String)
    case local(folder: String)

    /// How records name the source.
    public var description: String {
        switch self {
        case .remote(let url, let branch): return "\(url) \(branch)"
        case .local(let folder): return "local:\(folder)"
        }
    }

    /// Why `url`, `branch` cannot be fetched safely, or nil. Every value is passed to git as one
    /// argument after the options, never through a shell.
    public static func problem(url: String, branch: String) -> String? {
        if url.isEmpty || url.utf8.count > 4096 { return "--remote must be a URL of 1 to 4096 bytes" }
        if url.hasPrefix("-") { return "--remote must not start with \"-\"" }
        if url.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) { return "--remote must not contain control characters" }
        if let r = url.range(of: "::"), !url[..<r.lowerBound].isEmpty,
           url[..<r.lowerBound].unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "+.-".unicodeScalars.contains($0) }) {
            return "--remote: git remote helpers (\"transport::address\") are not allowed"
        }
        if let p = branchProblem(branch) { return p }
        return nil
    }

    /// git's rules for a branch name (git check-ref-format), bounded.
    public static func branchProblem(_ b: String) -> String? {
        let bad = b.isEmpty || b.utf8.count > 255 || b.hasPrefix("-") || b.hasPrefix("/") || b.hasSuffix("/") || b.hasSuffix(".lock")
            || b.hasSuffix(".") || b.contains("..") || b.contains("//") || b.contains("@{") || b == "@"
            || b.unicodeScalars.contains { $0.value <= 0x20 || $0.value == 0x7f || "~^:?*[\\".unicodeScalars.contains($0) }
            || b.split(separator: "/").contains { $0.hasPrefix(".") }
        return bad ? "--branch \"\(b.prefix(80))\" is not a valid branch name" : nil
    }

    /// A full commit id: 40 (SHA-1) or 64 (SHA-256) hexadecimal digits.
    public static func isCommitID(_ s: String) -> Bool {
        (s.utf8.count == 40 || s.utf8.count == 64) && s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }
}

/// What a fetch gave: the folder holding the revision's files, and the revision.
public struct Checkout: Sendable, Hashable {
    public var root: String
    public var revision: String
}

/// Why git could not give the revision (the message quotes git's own words).
public struct GitError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Fetches exactly one revision into a cache folder and checks it out: `git init` once, then a
/// shallow `git fetch --depth 1` of the branch (or of the pinned commit), `checkout --force
/// --detach` of that exact commit and `clean -ffdx`, so nothing of an earlier revision remains.
/// Symbolic links are checked out as plain files: a revision cannot make the compiler read
/// outside its tree.
public struct GitFetcher: Sendable {
    public var cacheDirectory: String
    /// Seconds a single git command may take.
    public var timeout: Double = 300

    public init(cacheDirectory: String) {
        self.cacheDirectory = cacheDirectory
    }

    /// The cache folder of one remote.
    func folder(for url: String) -> String {
        var h = FNV1a64()
        h.add(url)
        return (cacheDirectory as NSString).appendingPathComponent(String(h.value, radix: 16))
    }

    public func fetch(url: String, branch: String, revision pinned: String?) async throws(GitError) -> Checkout {
        if let p = ReconcileSource.problem(url: url, branch: branch) { throw GitError(message: p) }
        if let pinned, !ReconcileSource.isCommitID(pinned) { throw GitError(message: "pinned revision \(pinned.prefix(80)) is not a full commit id") }
        let dir = folder(for: url)
        if !FileManager.default.fileExists(atPath: dir + "/.git") {
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            } catch {
                throw GitError(message: "cannot create the cache folder \(dir): \(error.localizedDescription)")
            }
            try await git(["init", "--quiet", dir], in: nil)
        }
        let ref = "refs/dte/fetched"
        if let pinned {
            // a server that refuses a bare commit id is asked for the branch's whole history instead
            let shallow = try? await git(["fetch", "--quiet", "--no-tags", "--depth", "1", "--", url, "+\(pinned):\(ref)"], in: dir)
            if shallow == nil {
                try await git(["fetch", "--quiet", "--no-tags", "--", url, "+refs/heads/\(branch):\(ref)"], in: dir)
            }
            do {
                try await git(["cat-file", "-e", "\(pinned)^{commit}"], in: dir)
            } catch {
                throw GitError(message: "pinned revision \(pinned) is not a commit of \(url) (branch \(branch)); unpin with dte reconcile --unpin")
            }
        } else {
            try await git(["fetch", "--quiet", "--no-tags", "--depth", "1", "--", url, "+refs/heads/\(branch):\(ref)"], in: dir)
        }
        var revision = pinned ?? ""
        if pinned == nil { revision = try await git(["rev-parse", "--verify", "\(ref)^{commit}"], in: dir) }
        guard ReconcileSource.isCommitID(revision) else { throw GitError(message: "git rev-parse gave \"\(revision.prefix(80))\", not a commit id") }
        try await git(["-c", "core.symlinks=false", "checkout", "--quiet", "--force", "--detach", revision], in: dir)
        try await git(["clean", "--quiet", "-ffdx"], in: dir)
        return Checkout(root: dir, revision: revision)
    }

    /// The environment git runs with: no prompts (a missing credential fails at once), only
    /// plain transports (no `ext::`), no system or user hooks in the cache.
    static func environment() -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["GIT_TERMINAL_PROMPT"] = "0"
        env["GIT_ALLOW_PROTOCOL"] = "file:git:http:https:ssh"
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        env["LC_ALL"] = "C"
        return env
    }

    /// Runs git with `arguments` (in `dir` when given); its trimmed standard output.
    @discardableResult
    func git(_ arguments: [String], in dir: String?) async throws(GitError) -> String {
        let argv = ["git", "-c", "core.hooksPath=/dev/null", "-c", "advice.detachedHead=false"] + (dir.map { ["-C", $0] } ?? []) + arguments
        let run = await BoundedProcess.run(argv, environment: Self.environment(), timeout: timeout, outputLimit: 1 << 20)
        if let launch = run.launchError { throw GitError(message: "cannot run git: \(launch)") }
        if run.timedOut { throw GitError(message: "git \(arguments.first ?? "") took longer than \(Int(timeout)) s and was stopped") }
        guard run.status == 0 else {
            let said = String(decoding: run.stderr.suffix(600), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw GitError(message: "git \(arguments.first ?? "") failed (exit \(run.status.map(String.init) ?? "by signal")): \(said)")
        }
        return String(decoding: run.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The commit checked out in `folder`, or nil (not a git repository).
    public static func head(of folder: String) async -> String? {
        let run = await BoundedProcess.run(["git", "-C", folder, "rev-parse", "--verify", "HEAD"], environment: environment(), timeout: 30, outputLimit: 4096)
        guard run.status == 0 else { return nil }
        let s = String(decoding: run.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return ReconcileSource.isCommitID(s) ? s : nil
    }
}
