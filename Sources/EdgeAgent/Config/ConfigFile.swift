import DTEYAML
import Foundation

/// A value of the agent's YAML config file: a scalar or a list of scalars.
public enum ConfigValue: Sendable, Hashable {
    case scalar(String)
    case list([String])
}

/// A node of a YAML config file with the line it starts on: the agent's own file is a flat
/// mapping of these, interLink's `SlurmConfig.yaml` nests mappings (`Flavors`).
public indirect enum ConfigNode: Sendable, Hashable {
    /// A scalar; `isNull` for a plain `~`, `null` or empty value.
    case scalar(String, line: Int, isNull: Bool)
    case list([ConfigNode], line: Int)
    /// Keys in file order, each with the line it is written on.
    case mapping([(key: String, line: Int, value: ConfigNode)], line: Int)

    public var line: Int {
        switch self {
        case .scalar(_, let line, _), .list(_, let line), .mapping(_, let line): line
        }
    }

    public static func == (lhs: ConfigNode, rhs: ConfigNode) -> Bool {
        switch (lhs, rhs) {
        case let (.scalar(a, la, na), .scalar(b, lb, nb)): a == b && la == lb && na == nb
        case let (.list(a, la), .list(b, lb)): a == b && la == lb
        case let (.mapping(a, la), .mapping(b, lb)):
            la == lb && a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.line == $1.line && $0.value == $1.value }
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(line) }
}

/// The agent's YAML config file: a flat mapping whose keys are the long flag names of
/// `dte-agent serve` (`listen`, `work-dir`, `allowed-sbatch-flags`, …).
public enum ConfigFile {
    /// Deepest nesting a config file may have (interLink's has three levels).
    static let maxDepth = 8
    /// Most nodes a config file may hold (a setting file, not a data set).
    static let maxNodes = 100_000

    /// Parses YAML text into a tree with line numbers, through the same bounded loader as the
    /// templates (DTEYAML); throws with the line of the problem. Anchors and aliases are refused,
    /// nesting and size are bounded, a repeated key is kept for the reader to report.
    public static func parseTree(_ text: String, file: String = "config file") throws(AgentError) -> ConfigNode? {
        var limits = YAMLLoader.Limits()
        limits.maximumDepth = maxDepth
        limits.maximumExpandedNodes = maxNodes
        limits.allowsAliases = false
        limits.keepsDuplicateKeys = true
        let loaded = YAMLLoader.load(string: text, file: file, strict: true, limits: limits)
        if let problem = loaded.diagnostics.first(where: { $0.severity == .error }) {
            let message = switch problem.code {
            case "yaml-too-deep": "nested deeper than \(maxDepth) levels"
            case "yaml-alias-expansion": "more than \(maxNodes) entries"
            case "yaml-alias-refused", "yaml-unknown-alias": "anchors and aliases are not supported"
            case "yaml-complex-key": "a key must be a plain word, not a list or mapping"
            case "yaml-multiple-documents": "a config file holds one YAML document"
            default: problem.message
            }
            throw AgentError(.badRequest, "\(file) line \(problem.line ?? 1): \(message)")
        }
        return loaded.root.map(node)
    }

    /// The config tree of a loaded YAML node (nesting is bounded by `maxDepth`).
    private static func node(_ n: YAMLNode) -> ConfigNode {
        switch n {
        case .scalar(let s): .scalar(s.value, line: Int(s.mark.line), isNull: s.style == .plain && s.isNull)
        case .sequence(let items, let mark): .list(items.map(node), line: Int(mark.line))
        case .mapping(let entries, let mark): .mapping(entries.map { ($0.key, Int($0.keyMark.line), node($0.value)) }, line: Int(mark.line))
        }
    }

    /// Parses the agent's own file into key → value, or throws with the line of the problem.
    public static func parse(_ text: String) throws(AgentError) -> [String: ConfigValue] {
        guard let root = try parseTree(text) else { return [:] }
        guard case .mapping(let pairs, _) = root else {
            throw AgentError(.badRequest, "config file line \(root.line): expected 'setting: value'")
        }
        var result: [String: ConfigValue] = [:]
        for (key, _, value) in pairs {
            switch value {
            case .scalar(let text, _, let isNull):
                if !isNull { result[key] = .scalar(text) }
            case .list(let items, let line):
                var values: [String] = []
                for item in items {
                    guard case .scalar(let text, _, _) = item else {
                        throw AgentError(.badRequest, "config file line \(line): a list must be the value of a setting")
                    }
                    values.append(text)
                }
                result[key] = .list(values)
            case .mapping(_, let line):
                throw AgentError(.badRequest, "config file line \(line): nested mappings are not settings")
            }
        }
        return result
    }

    /// Applies the file's settings onto `configuration`; unknown keys are an error naming them.
    public static func apply(_ values: [String: ConfigValue], to configuration: inout AgentConfiguration) throws(AgentError) {
        for (key, value) in values.sorted(by: { $0.key < $1.key }) {
            try ConfigSetting.apply(key: key, value: value, to: &configuration)
        }
    }
}

/// One named setting, shared by the config file and the command line.
public enum ConfigSetting {
    public static let names: [String] = [
        "listen", "data-dir", "state-dir", "work-dir", "backend", "slurm-api", "runtime", "partition", "account",
        "qos", "default-memory", "default-cpus", "default-walltime", "image-prefix", "htcondor-bin-dir", "apptainer-options",
        "allowed-sbatch-flags", "allowed-host-paths", "allow-run-as-user", "run-as-users", "run-as-groups",
        "run-as-default-user", "retention", "poll-interval",
        "max-pods", "log-level", "hold-jobs", "run-probes",
        "oidc-issuer", "oidc-audience", "oidc-leeway", "oidc-key-refresh", "entitlement", "namespace-entitlement",
        "max-pods-per-identity", "tls-cert", "tls-key", "tls-client-ca", "socket-group", "allow-insecure-listen",
        "max-connections", "idle-timeout", "backend-timeout", "poll-timeout", "apel-site", "apel-service-level", "apel-accelerator",
        "layout", "bash-path", "runtime-path", "enroot-options", "allow-pre-exec", "allowed-singularity-options",
        "allowed-enroot-options", "default-flavor", "gpu-resources",
    ]

    public static func apply(key: String, value: ConfigValue, to c: inout AgentConfiguration) throws(AgentError) {
        func scalar() throws(AgentError) -> String {
            guard case .scalar(let text) = value else { throw AgentError(.badRequest, "setting '\(key)' takes one value, not a list") }
            return text
        }
        func list() -> [String] {
            switch value {
            case .list(let items): items
            case .scalar(let text): text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
        }
        let field = "setting '\(key)'"
        /// Runtime options: words starting with '-', without quotes, '$' or spaces.
        func options(_ words: [String]) throws(AgentError) -> [String] {
            for word in words where !word.hasPrefix("-") || !word.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 32 && $0.value < 127
                && !"'\"\\$`".unicodeScalars.contains($0) }) {
                throw AgentError(.badRequest, "setting '\(key)': '\(word)' is not an option like --nv")
            }
            return words
        }
        func bad(_ expected: String) -> AgentError {
            AgentError(.badRequest, "setting '\(key)': expected \(expected)")
        }
        switch key {
        case "listen":
            guard let address = ListenAddress(try scalar()) else { throw bad("HOST:PORT or unix:///PATH") }
            c.listen = address
        case "data-dir": c.setDataDir(try scalar())
        case "state-dir": c.stateDir = try scalar()
        case "work-dir": c.workDir = try scalar()
        case "backend":
            guard let kind = BackendKind(rawValue: try scalar()) else { throw bad("slurm or htcondor") }
            c.backend = kind
        case "slurm-api":
            guard let access = SlurmAccess(rawValue: try scalar()) else { throw bad("library or cli") }
            c.slurmAccess = access
        case "runtime":
            guard let runtime = ContainerRuntimeKind(rawValue: try scalar()) else {
                throw bad(ContainerRuntimeKind.allCases.map(\.rawValue).joined(separator: "|"))
            }
            c.runtime = runtime
        case "partition": c.partition = try scalar()
        case "account": c.account = try scalar()
        case "qos": c.qos = try scalar()
        case "default-memory":
            let text = try scalar()
            if !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) {
                c.defaultMemoryMiB = try Checked.parse(text, Limits.memoryMiB, field, unit: "MiB", code: .badRequest)
            } else if let bytes = Quantity.parse(text) {
                c.defaultMemoryMiB = try Checked.roundedUp(bytes / 1_048_576, Limits.memoryMiB, field, unit: "MiB", code: .badRequest)
            } else { throw bad("MiB or a quantity like 2Gi") }
        case "default-cpus":
            c.defaultCPUs = try Checked.parse(try scalar(), Limits.cpus, field, code: .badRequest)
        case "default-walltime":
            guard let seconds = Duration.seconds(try scalar()) else { throw bad("a duration like 2h, 90m or 01:30:00") }
            c.defaultWalltimeSeconds = try Checked.inRange(seconds, Limits.walltimeSeconds, field, unit: "s", code: .badRequest)
        case "image-prefix": c.imagePrefix = try scalar()
        case "htcondor-bin-dir": c.htcondorBinDir = try scalar()
        case "apptainer-options": c.apptainerOptions = list()
        case "allowed-sbatch-flags": c.allowedSbatchFlags = list()
        case "allowed-host-paths": c.allowedHostPaths = list()
        case "layout":
            guard let layout = PodLayout(rawValue: try scalar()) else { throw bad("dte or interlink") }
            c.layout = layout
        case "bash-path": c.bashPath = try scalar()
        case "runtime-path": c.runtimePath = try scalar()
        case "enroot-options": c.enrootStartOptions = try options(list())
        case "allow-pre-exec":
            guard let flag = Bool(try scalar()) else { throw bad("true or false") }
            c.allowPreExec = flag
        case "allowed-singularity-options": c.allowedSingularityOptions = try options(list())
        case "allowed-enroot-options": c.allowedEnrootOptions = try options(list())
        case "default-flavor": c.defaultFlavor = try scalar()
        case "gpu-resources":
            c.gpuResources = try list().map { entry throws(AgentError) in
                guard let resource = GPUResource(setting: entry) else {
                    throw bad("RESOURCE or RESOURCE=GPU-TYPE entries like nvidia.com/gpu or amd.com/gpu=mi250, not '\(entry)'")
                }
                return resource
            }
        case "allow-run-as-user":
            guard let flag = Bool(try scalar()) else { throw bad("true or false") }
            c.allowRunAsUser = flag
        case "run-as-users":
            c.runAsUsers = try list().map { entry throws(AgentError) in
                try accountRange(entry, setting: key) { Accounts.user(name: $0)?.uid }
            }
        case "run-as-groups":
            c.runAsGroups = try list().map { entry throws(AgentError) in
                try accountRange(entry, setting: key) { Accounts.groupID(name: $0) }
            }
        case "run-as-default-user":
            c.runAsDefaultUser = try accountRange(try scalar(), setting: key) { Accounts.user(name: $0)?.uid }.lowerBound
        case "apel-site":
            let site = try scalar()
            guard (1...100).contains(site.utf8.count),
                  site.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)) })
            else { throw bad("a site name (GOCDB): 1 to 100 letters, digits, '-', '_' or '.'") }
            c.apelSite = site
        case "apel-service-level":
            guard let level = APELRecords.ServiceLevel(try scalar()) else {
                throw bad("TYPE=VALUE with TYPE one of \(APELRecords.ServiceLevel.types.joined(separator: ", ")) and VALUE a positive number")
            }
            c.apelServiceLevel = level
        case "apel-accelerator":
            guard let flag = Bool(try scalar()) else { throw bad("true or false") }
            c.apelAccelerator = flag
        case "retention":
            guard let seconds = Duration.seconds(try scalar()) else { throw bad("a duration like 7d or 12h") }
            c.retentionSeconds = try Checked.inRange(seconds, Limits.retentionSeconds, field, unit: "s", code: .badRequest)
        case "poll-interval":
            let text = try scalar()
            let value: Double
            if let number = Double(text) { value = number }  // nan and inf fail the range below
            else if let seconds = Duration.seconds(text) { value = Double(seconds) }
            else { throw bad("seconds") }
            guard Limits.pollIntervalSeconds.contains(value) else {
                throw AgentError(.badRequest, "\(field): \(text) is out of range (allowed: "
                                    + "\(Limits.pollIntervalSeconds.lowerBound) to \(Limits.pollIntervalSeconds.upperBound) s)")
            }
            c.pollIntervalSeconds = value
        case "backend-timeout", "poll-timeout":
            let text = try scalar()
            guard let seconds = Double(text).flatMap({ $0.isFinite ? $0 : nil }) ?? Duration.seconds(text).map(Double.init),
                  seconds > 0, seconds <= 3600 else { throw bad("seconds, more than 0 and at most 3600") }
            if key == "backend-timeout" { c.backendTimeouts.call = seconds } else { c.backendTimeouts.poll = seconds }
        case "max-pods":
            c.maxPods = try Checked.parse(try scalar(), Limits.maxPods, field, code: .badRequest)
        case "log-level": c.logLevel = try scalar()
        case "hold-jobs":
            guard let flag = Bool(try scalar()) else { throw bad("true or false") }
            c.holdJobs = flag
        case "run-probes":
            guard let flag = Bool(try scalar()) else { throw bad("true or false") }
            c.runProbes = flag
        case "oidc-issuer": c.access.issuers = list()
        case "oidc-audience": c.access.audience = try scalar()
        case "oidc-leeway":
            guard let seconds = Duration.seconds(try scalar()) else { throw bad("seconds (e.g. 60)") }
            c.access.leewaySeconds = seconds
        case "oidc-key-refresh":
            guard let seconds = Duration.seconds(try scalar()) else { throw bad("seconds (e.g. 60)") }
            c.access.keyRefreshSeconds = seconds
        case "entitlement": c.access.entitlements = list()
        case "namespace-entitlement":
            c.access.namespaceEntitlements = [:]
            for item in list() { try c.access.addNamespaceEntitlement(item) }
        case "max-pods-per-identity":
            guard let n = Int(try scalar()), n > 0 else { throw bad("a positive whole number") }
            c.access.maxPodsPerIdentity = n
        case "tls-cert": c.tlsCertificate = try scalar()
        case "tls-key": c.tlsKey = try scalar()
        case "tls-client-ca": c.tlsClientCA = try scalar()
        case "socket-group": c.socketGroup = try scalar()
        case "allow-insecure-listen":
            guard let flag = Bool(try scalar()) else { throw bad("true or false") }
            c.allowInsecureListen = flag
        case "max-connections":
            guard let n = Int(try scalar()), n > 0 else { throw bad("a positive whole number") }
            c.maxConnections = n
        case "idle-timeout":
            guard let seconds = Duration.seconds(try scalar()) else { throw bad("seconds (e.g. 60)") }
            c.idleTimeoutSeconds = seconds
        default:
            throw AgentError(.badRequest, "unknown setting '\(key)'; known: \(names.joined(separator: ", "))")
        }
    }

    /// A uid/gid setting entry: `1000-1999`, `1234` or a name (looked up on this host).
    /// uid/gid 0 is never allowed; the message names the setting.
    static func accountRange(_ entry: String, setting: String,
                             lookup: (String) -> Int?) throws(AgentError) -> ClosedRange<Int> {
        let field = "setting '\(setting)'"
        let bounds = Limits.accountID
        let isNumber = { (text: Substring) in !text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber } }
        let parts = entry.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2, isNumber(parts[0]), isNumber(parts[1]) {
            let low = try Checked.parse(parts[0], bounds, field, code: .badRequest)
            let high = try Checked.parse(parts[1], bounds, field, code: .badRequest)
            guard low <= high else { throw AgentError(.badRequest, "\(field): range '\(entry)' ends before it starts") }
            return low...high
        }
        if isNumber(Substring(entry)) {
            let id = try Checked.parse(entry, bounds, field, code: .badRequest)
            return id...id
        }
        guard !entry.isEmpty, let id = lookup(entry) else {
            throw AgentError(.badRequest, "\(field): '\(entry)' is neither a number, a range like 1000-1999, nor a name known on this host")
        }
        guard bounds.contains(id) else {
            throw AgentError(.badRequest, "\(field): '\(entry)' is uid/gid \(id), out of range "
                                + "(allowed: \(bounds.lowerBound) to \(bounds.upperBound); 0, root, never)")
        }
        return id...id
    }

    /// Durations in settings: `90` (seconds), `90s`, `15m`, `2h`, `7d`, or Slurm's `HH:MM:SS` forms.
    /// `Int.max` for a duration too large to count (callers check their setting's range).
    enum Duration {
        static func seconds(_ text: String) -> Int? {
            let digits = { (t: Substring) in !t.isEmpty && t.allSatisfy { $0.isASCII && $0.isNumber } }
            if digits(Substring(text)) { return Int(text) ?? Int.max }
            let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
            if let unit = text.last, let factor = units[unit], digits(text.dropLast()) {
                guard let n = Int(text.dropLast()) else { return Int.max }
                let (seconds, overflow) = n.multipliedReportingOverflow(by: factor)
                return overflow ? Int.max : seconds
            }
            if text.contains(":") || text.contains("-") { return PodValidation.walltimeSeconds(text) }
            return nil
        }
    }
}
