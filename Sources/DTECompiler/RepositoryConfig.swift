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
    /// `sync: { mode, prune, self_heal }` (dte reconcile, docs/reconcile.md).
    public var syncMode: SyncMode = .manual
    /// Apply deletes of resources gone from the repository (else they are reported as "would prune").
    public var prune: Bool = false
    /// Recreate resources changed outside DTE (else drift is only reported).
    public var selfHeal: Bool = false

    /// What `dte reconcile` does with a plan: apply it (`automatic`) or only report it (`manual`).
    public enum SyncMode: String, Sendable, CaseIterable {
        case automatic, manual
    }
    /// Per site (by site name): how `dte` gets the bearer token it sends to the site's agent.
    public var siteCredentials: [String: SiteCredentials] = [:]
    /// The `hooks:` section, in the order written: built-in hooks by name, external ones as a command.
    public var hooks: [HookSetting] = []
    /// The `quality:` section: the quality gate's timeouts, output limit and commands.
    public var quality = QualitySection()
    /// The `notifications:` list: where reconcile results are sent (docs/notifications.md).
    public var notifications: [NotificationSetting] = []

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
        let allowed = ["version", "state", "import_map", "sync", "sites", "hooks", "quality", "notifications", "description"]
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
                let keys = ["mode", "prune", "self_heal"]
                guard let settings = e.value.entries else {
                    err("expected-map", "sync must be a map", e.value.mark, "sync", hint: "e.g. sync: { mode: automatic, prune: true, self_heal: false }")
                    continue
                }
                for s in settings {
                    let path = "sync.\(s.key)"
                    switch s.key {
                    case "mode":
                        let names = SyncMode.allCases.map(\.rawValue)
                        if let m = s.value.string.flatMap(SyncMode.init(rawValue:)) { config.syncMode = m } else {
                            var hint = "sync.mode is one of " + names.joined(separator: ", ")
                            if let t = s.value.string, let m = closestMatch(to: t, in: names) { hint = "did you mean \"\(m)\"? " + hint }
                            err("invalid-sync-mode", "\(path): \"\(s.value.string ?? s.value.kindDescription)\" is not a sync mode", s.value.mark, path, hint: hint)
                        }
                    case "prune", "self_heal":
                        guard let v = s.value.scalar, !v.style.isQuoted, case .boolean(let b) = PlainScalar.classify(v.value) else {
                            err("expected-boolean", "\(path) must be true or false", s.value.mark, path)
                            continue
                        }
                        if s.key == "prune" { config.prune = b } else { config.selfHeal = b }
                    default:
                        var hint = "allowed keys: " + keys.joined(separator: ", ")
                        if let m = closestMatch(to: s.key, in: keys) { hint = "did you mean \"\(m)\"? " + hint }
                        err("unknown-key", "unknown key \"\(s.key)\" in sync", s.keyMark, path, hint: hint)
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
            case "hooks":
                let (hooks, d) = HookSetting.load(e.value, file: display)
                config.hooks = hooks
                diags += d
            case "quality":
                let (quality, d) = QualitySection.load(e.value, file: display)
                config.quality = quality
                diags += d
            case "notifications":
                let (sinks, d) = NotificationSetting.load(e.value, file: display)
                config.notifications = sinks
                diags += d
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

extension RepositoryConfig {
    /// One entry of dte.yaml's `hooks:` map. A built-in hook (`allocation`, `quality`) is named and
    /// tuned; any other name is an external hook and needs a `command` (argv, never a shell).
    ///
    /// ```yaml
    /// hooks:
    ///   allocation: { blocking: false }          # warn only
    ///   site-policy:
    ///     command: [ scripts/check-plan, --strict ]
    ///     phases: [ pre-apply ]
    ///     timeout: 30 s
    /// ```
    public struct HookSetting: Sendable, Hashable {
        public static let builtIns = ["allocation", "quality"]
        public static let phaseNames = ["pre-plan", "pre-apply", "post-apply", "on-failure"]
        public static let keys = ["command", "phases", "blocking", "timeout", "enabled"]
        /// Seconds an external hook may run unless `timeout` says otherwise, and the most it may say.
        public static let defaultTimeout = 60.0
        public static let maxTimeout = 3600.0
        static let maxHooks = 64, maxArguments = 256, maxArgumentBytes = 4096

        public var name: String
        /// The program and its arguments (an external hook); nil for a built-in one.
        public var command: [String]?
        /// Phase names as written (`pre-plan`, …); nil: the hook's own default.
        public var phases: [String]?
        /// nil: the hook's default (its policies decide for a built-in one; true for a command).
        public var blocking: Bool?
        /// Seconds (external hooks only).
        public var timeout: Double?
        /// `enabled: false` turns off a built-in hook that policies would enable.
        public var enabled = true
        /// Where the entry is written.
        public var file: String
        public var mark: Mark

        public init(name: String, command: [String]? = nil, phases: [String]? = nil, blocking: Bool? = nil, timeout: Double? = nil,
                    enabled: Bool = true, file: String = RepositoryConfig.fileName, mark: Mark = .unknown) {
            self.name = name
            self.command = command
            self.phases = phases
            self.blocking = blocking
            self.timeout = timeout
            self.enabled = enabled
            self.file = file
            self.mark = mark
        }

        public var isBuiltIn: Bool { command == nil }

        /// Reads the `hooks:` map; every problem is a located error and the entry is left out.
        static func load(_ node: YAMLNode, file: String) -> ([HookSetting], [Diagnostic]) {
            var out: [HookSetting] = []
            var diags: [Diagnostic] = []
            func err(_ code: String, _ msg: String, _ mark: Mark, _ path: String, hint: String? = nil) {
                diags.append(Diagnostic(.error, code: code, msg, hint: hint, file: file, mark: mark, path: path))
            }
            guard let entries = node.entries else {
                err("expected-map", "hooks must map hook names to their settings", node.mark, "hooks",
                    hint: "e.g. hooks: { allocation: { blocking: true }, site-policy: { command: [ scripts/check-plan ] } }")
                return ([], diags)
            }
            if entries.count > maxHooks {
                err("too-many-hooks", "hooks has \(entries.count) entries; at most \(maxHooks) are allowed", node.mark, "hooks")
                return ([], diags)
            }
            for e in entries {
                let path = "hooks.\(e.key)"
                if let problem = DTEChecks.dns1123LabelProblem(e.key) {
                    err("invalid-hook-name", "hook name \"\(e.key)\" \(problem)", e.keyMark, path,
                        hint: "use lowercase letters, digits and '-' (at most 63 characters), e.g. site-policy")
                    continue
                }
                var h = HookSetting(name: e.key, file: file, mark: e.keyMark)
                var ok = true
                let settings: [YAMLEntry]
                if e.value.isNull { settings = [] } else if let s = e.value.entries { settings = s } else {
                    err("expected-map", "\(path) must be a map", e.value.mark, path, hint: "allowed keys: " + keys.joined(separator: ", "))
                    continue
                }
                for k in settings {
                    let kpath = "\(path).\(k.key)"
                    switch k.key {
                    case "command":
                        guard let items = k.value.items, !items.isEmpty, items.count <= maxArguments else {
                            err("expected-command", "\(kpath) must be a list of 1 to \(maxArguments) strings: the program and its arguments",
                                k.value.mark, kpath, hint: "e.g. command: [ scripts/check-plan, --strict ] (no shell: each entry is one argument)")
                            ok = false
                            continue
                        }
                        var argv: [String] = []
                        for (i, item) in items.enumerated() {
                            guard let s = item.scalar, !s.isNull, !s.value.contains("\0"), s.value.utf8.count <= maxArgumentBytes,
                                  i > 0 || !s.value.isEmpty else {
                                err("expected-string", "\(kpath)[\(i)] must be a string of at most \(maxArgumentBytes) bytes\(i == 0 ? ", not empty" : "")",
                                    item.mark, "\(kpath)[\(i)]")
                                ok = false
                                break
                            }
                            argv.append(s.value)
                        }
                        h.command = argv
                    case "phases":
                        let items = k.value.items ?? (k.value.string.map { _ in [k.value] } ?? [])
                        if items.isEmpty {
                            err("expected-phases", "\(kpath) must list one or more of " + phaseNames.joined(separator: ", "), k.value.mark, kpath)
                            ok = false
                        }
                        var phases: [String] = []
                        for item in items {
                            guard let p = item.string, phaseNames.contains(p) else {
                                var hint = "phases are " + phaseNames.joined(separator: ", ")
                                if let s = item.string, let m = closestMatch(to: s, in: phaseNames) { hint = "did you mean \"\(m)\"? " + hint }
                                err("unknown-phase", "\(kpath): \"\(item.string ?? item.kindDescription)\" is not a hook phase", item.mark, kpath, hint: hint)
                                ok = false
                                continue
                            }
                            if !phases.contains(p) { phases.append(p) }
                        }
                        h.phases = phases
                    case "blocking", "enabled":
                        guard let s = k.value.scalar, !s.style.isQuoted, case .boolean(let b) = PlainScalar.classify(s.value) else {
                            err("expected-boolean", "\(kpath) must be true or false", k.value.mark, kpath)
                            ok = false
                            continue
                        }
                        if k.key == "blocking" { h.blocking = b } else { h.enabled = b }
                    case "timeout":
                        guard let t = k.value.string.flatMap(Self.seconds), t >= 1, t <= maxTimeout else {
                            err("invalid-timeout", "\(kpath) must be a duration from 1 s to \(Int(maxTimeout)) s", k.value.mark, kpath,
                                hint: "e.g. timeout: 30 s, timeout: 2 m, or a number of seconds")
                            ok = false
                            continue
                        }
                        h.timeout = t
                    default:
                        var hint = "allowed keys: " + keys.joined(separator: ", ")
                        if let m = closestMatch(to: k.key, in: keys) { hint = "did you mean \"\(m)\"? " + hint }
                        err("unknown-key", "unknown key \"\(k.key)\" in \(path)", k.keyMark, kpath, hint: hint)
                        ok = false
                    }
                }
                guard ok else { continue }
                if builtIns.contains(h.name) {
                    if h.command != nil {
                        err("builtin-hook-command", "\(path) is a built-in hook and takes no command", e.keyMark, path,
                            hint: "give the external hook another name, e.g. \(h.name)-check")
                        continue
                    }
                    if h.timeout != nil {
                        err("builtin-hook-timeout", "\(path) is a built-in hook; timeout is for external hooks (command) only", e.keyMark, "\(path).timeout")
                        continue
                    }
                } else if h.command == nil {
                    var hint = "built-in hooks are " + builtIns.joined(separator: ", ") + "; an external hook needs command: [ PROGRAM, ARG… ]"
                    if let m = closestMatch(to: h.name, in: builtIns) { hint = "did you mean \"\(m)\"? " + hint }
                    err("unknown-hook", "\(path): no built-in hook is called \"\(h.name)\" and it has no command", e.keyMark, path, hint: hint)
                    continue
                }
                out.append(h)
            }
            return (out, diags)
        }

        /// `30`, `30s`, `30 s`, `2 m`, `1 h` as seconds; nil for anything else.
        static func seconds(_ text: String) -> Double? {
            let t = text.trimmingCharacters(in: " ")
            var digits = Substring(t)
            var unit = 1.0
            for (suffix, factor) in [("min", 60.0), ("s", 1), ("m", 60), ("h", 3600)] where t.hasSuffix(suffix) {
                digits = t.dropLast(suffix.count)
                unit = factor
                break
            }
            let number = String(digits).trimmingCharacters(in: " ")
            guard !number.isEmpty, number.utf8.count <= 12, number.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Double(number) else { return nil }
            return n * unit
        }
    }
}
