import DTEModel
import Foundation

/// The repository configuration file `dte.yaml`: where state lives, how URL imports map to local
/// files (resolved offline), and how reconciliation behaves.
public struct RepositoryConfig: Sendable {
    public static let fileName = "dte.yaml"
    /// Folders whose `*.yaml`/`*.yml` files make up the repository.
    public static let sourceFolders = ["sites", "templates", "recipes"]

    public var root: String
    public var version: Int = 1
    public var statePath: String?
    /// URL → path relative to the repository root.
    public var importMap: [String: String] = [:]
    public var prune: Bool = true
    public var selfHeal: Bool = false
    /// Per site (by site name): how `dte` gets the bearer token it sends to the site's agent.
    public var siteCredentials: [String: SiteCredentials] = [:]

    /// `sites: { <site>: { token_file: PATH, oidc_account: NAME } }` in dte.yaml.
    public struct SiteCredentials: Sendable, Hashable {
        /// A file holding the token, re-read on every request; relative to the repository root
        /// (`~/` is the home folder). Keep it out of git (e.g. under `.dte/`) with mode 0600.
        public var tokenFile: String?
        /// The oidc-agent account (`oidc-token <account>`) to ask instead of the site's issuer.
        public var oidcAccount: String?
        public init(tokenFile: String? = nil, oidcAccount: String? = nil) {
            self.tokenFile = tokenFile
            self.oidcAccount = oidcAccount
        }
    }

    public init(root: String) {
        self.root = root
    }

    /// Reads `dte.yaml` in `root`; a missing file gives the defaults.
    public static func load(root: String, display: String) -> (RepositoryConfig, [Diagnostic]) {
        var config = RepositoryConfig(root: root)
        let path = (root as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: path) else { return (config, []) }
        let loaded = YAMLLoader.load(bytes: Array(data), file: display)
        var diags = loaded.diagnostics
        guard let rootNode = loaded.root else { return (config, diags) }
        func err(_ code: String, _ msg: String, _ mark: Mark, _ path: String, hint: String? = nil) {
            diags.append(Diagnostic(.error, code: code, msg, hint: hint, file: display, mark: mark, path: path))
        }
        guard let entries = rootNode.entries else {
            err("expected-map", "dte.yaml must be a map", rootNode.mark, "")
            return (config, diags)
        }
        let allowed = ["version", "state", "import_map", "sync", "sites", "description"]
        for e in entries {
            switch e.key {
            case "version":
                if let v = e.value.string.flatMap({ Int($0) }), v == 1 { config.version = v } else {
                    err("unsupported-version", "unsupported dte.yaml version \(e.value.string ?? e.value.kindDescription)", e.value.mark, "version",
                        hint: "use version: 1")
                }
            case "state":
                for s in e.value.entries ?? [] {
                    switch s.key {
                    case "path": config.statePath = s.value.string
                    default: err("unknown-key", "unknown key \"\(s.key)\" in state", s.keyMark, "state.\(s.key)", hint: "allowed keys: path")
                    }
                }
            case "import_map":
                guard let m = e.value.entries else {
                    err("expected-map", "import_map must map URLs to repository paths", e.value.mark, "import_map")
                    continue
                }
                for i in m {
                    if let p = i.value.string { config.importMap[i.key] = p } else {
                        err("expected-string", "import_map entry \"\(i.key)\" must be a path", i.value.mark, "import_map.\(i.key)")
                    }
                }
            case "sync":
                for s in e.value.entries ?? [] {
                    let b = s.value.scalar.map { PlainScalar.classify($0.value) }
                    switch (s.key, b) {
                    case ("prune", .boolean(let v)?): config.prune = v
                    case ("self_heal", .boolean(let v)?): config.selfHeal = v
                    case ("prune", _), ("self_heal", _):
                        err("expected-boolean", "sync.\(s.key) must be true or false", s.value.mark, "sync.\(s.key)")
                    default:
                        err("unknown-key", "unknown key \"\(s.key)\" in sync", s.keyMark, "sync.\(s.key)", hint: "allowed keys: prune, self_heal")
                    }
                }
            case "sites":
                guard let m = e.value.entries else {
                    err("expected-map", "sites must map site names to their settings", e.value.mark, "sites",
                        hint: "e.g. sites: { vega: { token_file: .dte/vega.token } }")
                    continue
                }
                for site in m {
                    let path = "sites.\(site.key)"
                    guard let settings = site.value.entries else {
                        err("expected-map", "\(path) must be a map", site.value.mark, path, hint: "allowed keys: token_file, oidc_account")
                        continue
                    }
                    var c = SiteCredentials()
                    for k in settings {
                        let text = k.value.string
                        switch k.key {
                        case "token_file":
                            if let t = text, !t.isEmpty, t.count <= 4096, !t.contains("\0") { c.tokenFile = t } else {
                                err("expected-path", "\(path).token_file must be a file path", k.value.mark, "\(path).token_file",
                                    hint: "relative to the repository root, e.g. .dte/\(site.key).token (keep it out of git, mode 0600)")
                            }
                        case "oidc_account":
                            if let t = text, Self.isAccountName(t) { c.oidcAccount = t } else {
                                err("invalid-account", "\(path).oidc_account must be an oidc-agent account name (1 to 256 visible characters, not starting with \"-\")",
                                    k.value.mark, "\(path).oidc_account", hint: "the short name given to oidc-gen, e.g. egi")
                            }
                        default:
                            err("unknown-key", "unknown key \"\(k.key)\" in \(path)", k.keyMark, "\(path).\(k.key)",
                                hint: "allowed keys: token_file, oidc_account")
                        }
                    }
                    config.siteCredentials[site.key] = c
                }
            case "description": break
            default:
                var hint = "allowed keys: " + allowed.joined(separator: ", ")
                if let m = closestMatch(to: e.key, in: allowed) { hint = "did you mean \"\(m)\"? " + hint }
                err("unknown-key", "unknown key \"\(e.key)\" in dte.yaml", e.keyMark, e.key, hint: hint)
            }
        }
        return (config, diags)
    }

    /// An oidc-agent account name as `oidc-token` takes it: visible ASCII, no option lookalike.
    public static func isAccountName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 256 && !s.hasPrefix("-") && s.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f }
    }

    /// Finds the repository root: the nearest folder at or above `start` holding `dte.yaml`.
    public static func findRoot(from start: String) -> String? {
        var dir = (start as NSString).standardizingPath
        while true {
            if FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent(fileName)) { return dir }
            let parent = (dir as NSString).deletingLastPathComponent
            if parent == dir || parent.isEmpty { return nil }
            dir = parent
        }
    }

    /// Every `*.yaml`/`*.yml` under the source folders, sorted.
    public func sourceFiles() -> [String] {
        var out: [String] = []
        let fm = FileManager.default
        for folder in Self.sourceFolders {
            let base = (root as NSString).appendingPathComponent(folder)
            guard let e = fm.enumerator(atPath: base) else { continue }
            while let rel = e.nextObject() as? String {
                if rel.hasSuffix(".yaml") || rel.hasSuffix(".yml") {
                    out.append((base as NSString).appendingPathComponent(rel))
                }
            }
        }
        return out.sorted()
    }
}
