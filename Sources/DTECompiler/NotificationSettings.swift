import DTEModel
import Foundation

extension RepositoryConfig {
    /// One entry of dte.yaml's `notifications:` list: where reconcile results are sent
    /// (docs/notifications.md).
    ///
    /// ```yaml
    /// notifications:
    ///   - type: webhook
    ///     url: https://chat.example.org/hooks/dte
    ///     secret_file: .dte/webhook.secret      # mode 0600; signs the body (X-DTE-Signature)
    ///   - type: github
    ///     repository: example/flood-twin
    ///     token_file: .dte/github.token
    ///   - type: gitlab
    ///     url: https://gitlab.example.org/api/v4
    ///     project: "1234"                       # the id, or the path: group/flood-twin
    ///     token_file: .dte/gitlab.token
    /// ```
    public struct NotificationSetting: Sendable, Hashable {
        public enum Kind: String, Sendable, CaseIterable { case webhook, github, gitlab }

        public static let keys = ["type", "url", "secret_file", "token_file", "repository", "project", "context", "target_url", "max_attempts"]
        public static let maxSinks = 16, maxURLBytes = 2048, maxPathBytes = 4096, maxNameBytes = 255
        /// Attempts per event and sink (the first and its retries) unless `max_attempts` says otherwise, and the most it may say.
        public static let defaultAttempts = 4, maxAttempts = 10
        public static let githubAPI = "https://api.github.com"

        public var kind: Kind
        /// webhook: the endpoint; github/gitlab: the API base (GitHub's default: https://api.github.com).
        public var url: String
        /// webhook: the file holding the HMAC key (mode 0600).
        public var secretFile: String?
        /// github/gitlab: the file holding the API token (mode 0600).
        public var tokenFile: String?
        /// github: `owner/name`.
        public var repository: String?
        /// gitlab: the project's id or its path (`group/name`).
        public var project: String?
        /// The status's name on the commit (GitHub `context`, GitLab `name`); default `dte`.
        public var context: String
        /// A link shown with the status (e.g. the pipeline or a dashboard).
        public var targetURL: String?
        public var attempts: Int
        /// Where the entry is written.
        public var file: String
        public var mark: Mark

        public init(kind: Kind, url: String, secretFile: String? = nil, tokenFile: String? = nil, repository: String? = nil,
                    project: String? = nil, context: String = "dte", targetURL: String? = nil, attempts: Int = defaultAttempts,
                    file: String = RepositoryConfig.fileName, mark: Mark = .unknown) {
            self.kind = kind
            self.url = url
            self.secretFile = secretFile
            self.tokenFile = tokenFile
            self.repository = repository
            self.project = project
            self.context = context
            self.targetURL = targetURL
            self.attempts = attempts
            self.file = file
            self.mark = mark
        }

        /// A short name for reports: `webhook https://…`, `github example/flood`, `gitlab 1234`.
        public var displayName: String {
            switch kind {
            case .webhook: return "webhook \(url)"
            case .github: return "github \(repository ?? "?")"
            case .gitlab: return "gitlab \(project ?? "?")"
            }
        }

        /// An http(s) URL with a host, no credentials in it, bounded.
        public static func isHTTPURL(_ s: String) -> Bool {
            guard s.utf8.count <= maxURLBytes, let c = URLComponents(string: s), let scheme = c.scheme?.lowercased(),
                  scheme == "http" || scheme == "https", let host = c.host, !host.isEmpty, c.user == nil, c.password == nil else { return false }
            return true
        }

        /// `owner/name` as GitHub spells them: letters, digits, `-`, `_`, `.`.
        public static func isGitHubRepository(_ s: String) -> Bool {
            let parts = s.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, s.utf8.count <= 200 else { return false }
            return parts.allSatisfy { p in
                !p.isEmpty && p != "." && p != ".." && p.utf8.allSatisfy { isWordByte($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
            }
        }

        /// A GitLab project id (digits) or path (`group/sub/name`).
        public static func isGitLabProject(_ s: String) -> Bool {
            guard !s.isEmpty, s.utf8.count <= maxNameBytes else { return false }
            let parts = s.split(separator: "/", omittingEmptySubsequences: false)
            return parts.allSatisfy { p in
                !p.isEmpty && p != "." && p != ".." && p.utf8.allSatisfy { isWordByte($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
            }
        }

        private static func isWordByte(_ b: UInt8) -> Bool {
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == UInt8(ascii: "_")
        }

        /// Reads the `notifications:` list; every problem is a located error and the entry is left out.
        static func load(_ node: YAMLNode, file: String) -> ([NotificationSetting], [Diagnostic]) {
            var out: [NotificationSetting] = []
            var diags: [Diagnostic] = []
            func err(_ code: String, _ msg: String, _ mark: Mark, _ path: String, hint: String? = nil) {
                diags.append(Diagnostic(.error, code: code, msg, hint: hint, file: file, mark: mark, path: path))
            }
            guard let items = node.items else {
                err("expected-list", "notifications must be a list of sinks", node.mark, "notifications",
                    hint: "e.g. notifications: [ { type: webhook, url: https://…, secret_file: .dte/webhook.secret } ]")
                return ([], diags)
            }
            if items.count > maxSinks {
                err("too-many-notifications", "notifications has \(items.count) entries; at most \(maxSinks) are allowed", node.mark, "notifications")
                return ([], diags)
            }
            for (i, item) in items.enumerated() {
                let path = "notifications[\(i)]"
                guard let entries = item.entries else {
                    err("expected-map", "\(path) must be a map", item.mark, path, hint: "allowed keys: " + keys.joined(separator: ", "))
                    continue
                }
                var ok = true
                var values: [String: (String, Mark)] = [:]
                for e in entries {
                    let kpath = "\(path).\(e.key)"
                    guard keys.contains(e.key) else {
                        var hint = "allowed keys: " + keys.joined(separator: ", ")
                        if let m = closestMatch(to: e.key, in: keys) { hint = "did you mean \"\(m)\"? " + hint }
                        err("unknown-key", "unknown key \"\(e.key)\" in \(path)", e.keyMark, kpath, hint: hint)
                        ok = false
                        continue
                    }
                    guard let s = e.value.string, !s.contains("\0"), s.utf8.count <= maxPathBytes else {
                        err("expected-string", "\(kpath) must be a string of at most \(maxPathBytes) bytes", e.value.mark, kpath)
                        ok = false
                        continue
                    }
                    values[e.key] = (s, e.value.mark)
                }
                guard let typeName = values["type"]?.0, let typeMark = values["type"]?.1 else {
                    err("missing-type", "\(path) needs a type: " + Kind.allCases.map(\.rawValue).joined(separator: ", "), item.mark, path)
                    continue
                }
                guard let kind = Kind(rawValue: typeName) else {
                    var hint = "types are " + Kind.allCases.map(\.rawValue).joined(separator: ", ")
                    if let m = closestMatch(to: typeName, in: Kind.allCases.map(\.rawValue)) { hint = "did you mean \"\(m)\"? " + hint }
                    err("unknown-notification-type", "\(path).type: \"\(typeName)\" is not a notification type", typeMark, "\(path).type", hint: hint)
                    continue
                }
                /// A key the type does not take is an error, not silently ignored.
                let takes: Set<String>
                switch kind {
                case .webhook: takes = ["type", "url", "secret_file", "max_attempts"]
                case .github: takes = ["type", "url", "token_file", "repository", "context", "target_url", "max_attempts"]
                case .gitlab: takes = ["type", "url", "token_file", "project", "context", "target_url", "max_attempts"]
                }
                for key in values.keys.sorted() where !takes.contains(key) {
                    err("key-not-for-type", "\(path).\(key) is not used by a \(kind.rawValue) sink", values[key]?.1 ?? item.mark, "\(path).\(key)",
                        hint: "a \(kind.rawValue) sink takes " + takes.sorted().joined(separator: ", "))
                    ok = false
                }
                func need(_ key: String, _ hint: String) -> String? {
                    guard let v = values[key]?.0, !v.isEmpty else {
                        err("missing-\(key.replacingOccurrences(of: "_", with: "-"))", "\(path): a \(kind.rawValue) sink needs \(key)", item.mark, "\(path).\(key)", hint: hint)
                        ok = false
                        return nil
                    }
                    return v
                }
                var s = NotificationSetting(kind: kind, url: "", file: file, mark: item.mark)
                switch kind {
                case .webhook:
                    s.url = need("url", "the endpoint that receives the JSON event, e.g. https://chat.example.org/hooks/dte") ?? ""
                    s.secretFile = need("secret_file", "a file (mode 0600, kept out of git, e.g. .dte/webhook.secret) with the key that signs the body")
                case .github:
                    s.url = values["url"]?.0 ?? githubAPI
                    s.repository = need("repository", "owner/name of the repository on GitHub, e.g. example/flood-twin")
                    s.tokenFile = need("token_file", "a file (mode 0600, kept out of git) with a token allowed to write commit statuses")
                case .gitlab:
                    s.url = need("url", "GitLab's API base, e.g. https://gitlab.example.org/api/v4") ?? ""
                    s.project = need("project", "the project's id (e.g. \"1234\") or path (group/name)")
                    s.tokenFile = need("token_file", "a file (mode 0600, kept out of git) with a token with the api scope")
                }
                if !s.url.isEmpty, !isHTTPURL(s.url) {
                    err("invalid-url", "\(path).url must be an http or https URL with a host and no credentials (at most \(maxURLBytes) bytes)",
                        values["url"]?.1 ?? item.mark, "\(path).url", hint: "put secrets in secret_file or token_file, never in the URL")
                    ok = false
                }
                if let r = s.repository, !isGitHubRepository(r) {
                    err("invalid-repository", "\(path).repository must be owner/name (letters, digits, '-', '_', '.')",
                        values["repository"]?.1 ?? item.mark, "\(path).repository", hint: "e.g. example/flood-twin")
                    ok = false
                }
                if let p = s.project, !isGitLabProject(p) {
                    err("invalid-project", "\(path).project must be a project id or a path group/name (letters, digits, '-', '_', '.'; at most \(maxNameBytes) bytes)",
                        values["project"]?.1 ?? item.mark, "\(path).project")
                    ok = false
                }
                if let c = values["context"]?.0, let mark = values["context"]?.1 {
                    if c.isEmpty || c.utf8.count > maxNameBytes || c.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                        err("invalid-context", "\(path).context must be 1 to \(maxNameBytes) bytes without control characters", mark, "\(path).context")
                        ok = false
                    } else {
                        s.context = c
                    }
                }
                if let t = values["target_url"]?.0, let mark = values["target_url"]?.1 {
                    if isHTTPURL(t) { s.targetURL = t } else {
                        err("invalid-url", "\(path).target_url must be an http or https URL with a host (at most \(maxURLBytes) bytes)", mark, "\(path).target_url")
                        ok = false
                    }
                }
                if let a = values["max_attempts"]?.0, let mark = values["max_attempts"]?.1 {
                    if let n = Int(a), n >= 1, n <= maxAttempts { s.attempts = n } else {
                        err("invalid-attempts", "\(path).max_attempts must be a whole number from 1 to \(maxAttempts)", mark, "\(path).max_attempts",
                            hint: "the first attempt and its retries; default \(defaultAttempts)")
                        ok = false
                    }
                }
                if ok { out.append(s) }
            }
            return (out, diags)
        }
    }
}
