import Foundation

/// interLink's Slurm plugin's configuration file (`SlurmConfig.yaml`, the keys of the
/// plugin's `SlurmConfig` struct), read onto the agent's settings so that a site can switch
/// without rewriting it. Every key either acts or yields a warning naming it; a bad value is
/// an error naming the file, the line and the key. Read with the agent's one YAML reader
/// (`ConfigFile.parseTree`).
public enum InterLinkConfig {
    /// The plugin's keys (its `SlurmConfig` struct), for messages.
    public static let keys = [
        "VKConfigPath", "SbatchPath", "ScancelPath", "SqueuePath", "SinfoPath", "SidecarPort", "Socket", "ExportPodData",
        "CommandPrefix", "ImagePrefix", "DataRootFolder", "Namespace", "Tsocks", "TsocksPath", "TsocksLoginNode", "BashPath",
        "VerboseLogging", "ErrorsOnlyLogging", "SingularityDefaultOptions", "SingularityPrefix", "SingularityPath",
        "EnableProbes", "EnrootDefaultOptions", "EnrootPrefix", "EnrootPath", "ContainerRuntime", "Flavors", "DefaultFlavor",
        "DefaultUID",
    ]

    /// Applies `text` (the file at `file`) onto `configuration`; returns the start-up warnings.
    /// Relative folders are taken from `currentDirectory`, as the plugin does.
    public static func apply(_ text: String, file: String, to configuration: inout AgentConfiguration,
                             currentDirectory: String = FileManager.default.currentDirectoryPath) throws(AgentError) -> [String] {
        guard let root = try ConfigFile.parseTree(text, file: file) else { return ["\(file): empty; nothing read"] }
        guard case .mapping(let pairs, _) = root else {
            throw AgentError(.badRequest, "\(file) line \(root.line): expected the plugin's 'Key: value' settings")
        }
        var reader = Reader(file: file, configuration: configuration, currentDirectory: currentDirectory)
        reader.configuration.layout = .interlink
        reader.configuration.runtime = .singularity  // the plugin's default ContainerRuntime
        // the runtime first: the runtime paths depend on it
        let ordered = pairs.filter { $0.key == "ContainerRuntime" } + pairs.filter { $0.key != "ContainerRuntime" }
        var seen = Set<String>()
        for (key, line, value) in ordered {
            guard seen.insert(key).inserted else { throw AgentError(.badRequest, "\(file) line \(line): \(key) is given twice") }
            try reader.apply(key: key, line: line, value: value)
        }
        try reader.finish()
        configuration = reader.configuration
        return reader.warnings
    }

    private struct Reader {
        let file: String
        var configuration: AgentConfiguration
        let currentDirectory: String
        var warnings: [String] = []
        var socket: (String, Int)?
        var port: (Int, Int)?

        init(file: String, configuration: AgentConfiguration, currentDirectory: String) {
            self.file = file
            self.configuration = configuration
            self.currentDirectory = currentDirectory
        }

        func error(_ line: Int, _ key: String, _ message: String) -> AgentError {
            AgentError(.badRequest, "\(file) line \(line): \(key): \(message)")
        }

        mutating func warn(_ key: String, _ line: Int, _ message: String) {
            warnings.append("\(file) line \(line): \(key): \(message)")
        }

        func scalar(_ key: String, _ value: ConfigNode) throws(AgentError) -> String? {
            switch value {
            case .scalar(let text, _, let isNull): return isNull ? nil : text
            default: throw error(value.line, key, "expected one value, not a list or mapping")
            }
        }

        func bool(_ key: String, _ value: ConfigNode) throws(AgentError) -> Bool? {
            guard let text = try scalar(key, value) else { return nil }
            switch text.lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            default: throw error(value.line, key, "'\(text.prefix(100))' is not true or false")
            }
        }

        func strings(_ key: String, _ value: ConfigNode) throws(AgentError) -> [String] {
            switch value {
            case .list(let items, _):
                var result: [String] = []
                for item in items {
                    guard case .scalar(let text, _, _) = item else { throw error(item.line, key, "expected a list of words") }
                    result.append(text)
                }
                return result
            case .scalar(let text, _, let isNull): return isNull ? [] : [text]
            case .mapping: throw error(value.line, key, "expected a list, not a mapping")
            }
        }

        /// Applies an agent setting, the message naming the plugin's key and line.
        mutating func set(_ setting: String, _ value: ConfigValue, key: String, line: Int) throws(AgentError) {
            do {
                try ConfigSetting.apply(key: setting, value: value, to: &configuration)
            } catch {
                throw self.error(line, key, error.message.replacingOccurrences(of: "setting '\(setting)': ", with: ""))
            }
        }

        /// A Slurm tool's path: the agent uses libslurm and the tools on PATH; a path elsewhere is a warning.
        mutating func tool(_ key: String, _ name: String, _ path: String, line: Int) {
            let found = CommandRunner.resolve(name)
            guard PodJobBuilder.normalize(path) != found.map(PodJobBuilder.normalize) else { return }
            warn(key, line, "\(path) is not used: dte-agent reaches Slurm through libslurm and the tools on PATH "
                    + "(\(name): \(found ?? "not found")); put its folder on PATH")
        }

        mutating func apply(key: String, line: Int, value: ConfigNode) throws(AgentError) {
            switch key {
            case "SidecarPort":
                guard let text = try scalar(key, value) else { return }
                guard let number = Int(text), (1...65_535).contains(number) else {
                    throw error(line, key, "'\(text.prefix(100))' is not a port (1 to 65535)")
                }
                port = (number, line)
            case "Socket":
                socket = try scalar(key, value).flatMap { $0.isEmpty ? nil : ($0, line) }
            case "SbatchPath", "ScancelPath", "SqueuePath", "SinfoPath":
                guard let path = try scalar(key, value), !path.isEmpty else { return }
                let name = String(key.dropLast("Path".count)).lowercased()
                tool(key, name, path, line: line)
            case "ExportPodData":
                if try bool(key, value) == false {
                    warn(key, line, "false is not honoured: dte-agent always writes the pod's ConfigMaps, Secrets and projected volumes into its folder")
                }
            case "ImagePrefix":
                if let text = try scalar(key, value), !text.isEmpty { try set("image-prefix", .scalar(text), key: key, line: line) }
            case "DataRootFolder":
                guard let text = try scalar(key, value), !text.isEmpty else { return }
                guard !PodValidation.hasNUL(text), !text.contains("\n") else { throw error(line, key, "not a folder") }
                let absolute = text.hasPrefix("/") ? text : (currentDirectory as NSString).appendingPathComponent(text)
                try set("work-dir", .scalar(PodJobBuilder.normalize(absolute)), key: key, line: line)
            case "BashPath":
                if let text = try scalar(key, value), !text.isEmpty { try set("bash-path", .scalar(text), key: key, line: line) }
            case "VerboseLogging":
                if try bool(key, value) == true { configuration.logLevel = "debug" }
            case "ErrorsOnlyLogging":
                if try bool(key, value) == true, configuration.logLevel != "debug" { configuration.logLevel = "error" }
            case "SingularityDefaultOptions":
                let options = try strings(key, value)
                if !options.isEmpty { try set("apptainer-options", .list(options), key: key, line: line) }
            case "EnrootDefaultOptions":
                let options = try strings(key, value)
                if !options.isEmpty { try set("enroot-options", .list(options), key: key, line: line) }
            case "SingularityPath", "EnrootPath":
                guard let text = try scalar(key, value), !text.isEmpty else { return }
                let applies = key == "EnrootPath" ? configuration.runtime == .enroot
                    : [.singularity, .apptainer].contains(configuration.runtime)
                guard applies else { return }
                if text.hasPrefix("/") {
                    try set("runtime-path", .scalar(text), key: key, line: line)
                } else if text != configuration.runtime.rawValue {
                    guard let found = CommandRunner.resolve(text) else { throw error(line, key, "'\(text.prefix(100))' is not found on PATH") }
                    try set("runtime-path", .scalar(found), key: key, line: line)
                }
            case "ContainerRuntime":
                guard let text = try scalar(key, value), !text.isEmpty else { return }
                guard ContainerRuntimeKind(rawValue: text) != nil else {
                    throw error(line, key, "'\(text.prefix(100))' is not a runtime (singularity, enroot, or dte-agent's "
                                + ContainerRuntimeKind.allCases.map(\.rawValue).joined(separator: ", ") + ")")
                }
                try set("runtime", .scalar(text), key: key, line: line)
            case "Flavors":
                try flavors(value)
            case "DefaultFlavor":
                if let text = try scalar(key, value), !text.isEmpty { configuration.defaultFlavor = text }
            case "VKConfigPath", "Namespace":
                if let text = try scalar(key, value), !text.isEmpty {
                    warn(key, line, "not used: dte-agent does not talk to Kubernetes (the virtual kubelet's setting)")
                }
            case "Tsocks":
                if try bool(key, value) == true { warn(key, line, "tsocks is not supported; jobs reach the network directly") }
            case "TsocksPath", "TsocksLoginNode":
                if let text = try scalar(key, value), !text.isEmpty { warn(key, line, "tsocks is not supported; ignored") }
            case "CommandPrefix", "SingularityPrefix", "EnrootPrefix":
                if let text = try scalar(key, value), !text.isEmpty {
                    warn(key, line, "is shell and is not run; use runtime-path for another runtime program, or "
                            + "slurm-job.vk.io/pre-exec where the site allows it (allow-pre-exec)")
                }
            case "EnableProbes":
                if let flag = try bool(key, value) { configuration.runProbes = flag }
            case "DefaultUID":
                if try scalar(key, value) != nil {
                    warn(key, line, "not honoured: jobs run as the agent's account, or as the pod's runAsUser with allow-run-as-user")
                }
            default:
                warn(key, line, "not a key of interLink's SlurmConfig (known: \(InterLinkConfig.keys.joined(separator: ", "))); ignored")
            }
        }

        /// `Flavors: {name: {Name, Description, CPUDefault, MemoryDefault, UID, SlurmFlags}}`.
        mutating func flavors(_ node: ConfigNode) throws(AgentError) {
            guard case .mapping(let entries, _) = node else {
                if case .scalar(_, _, true) = node { return }
                throw error(node.line, "Flavors", "expected a mapping of flavor names")
            }
            var result: [Flavor] = []
            for (name, line, value) in entries {
                let key = "Flavors.\(name.prefix(100))"
                guard PodValidation.isSlurmName(name) || PodValidation.isDNSLabel(name) else {
                    throw error(line, key, "a flavor name is letters, digits and -_. only")
                }
                guard case .mapping(let fields, _) = value else { throw error(value.line, key, "expected the flavor's settings") }
                var flavor = Flavor(name: name)
                for (field, fieldLine, fieldValue) in fields {
                    let where_ = "\(key).\(field)"
                    switch field {
                    case "Name":
                        if let text = try scalar(where_, fieldValue), !text.isEmpty, text != name {
                            throw error(fieldLine, where_, "'\(text.prefix(100))' differs from the flavor's key '\(name)'")
                        }
                    case "Description": flavor.description = try scalar(where_, fieldValue)
                    case "CPUDefault":
                        guard let text = try scalar(where_, fieldValue) else { continue }
                        let cpus = try Checked.parse(text, 0...Limits.cpus.upperBound, "\(file) line \(fieldLine): \(where_)", code: .badRequest)
                        flavor.cpus = cpus > 0 ? cpus : nil
                    case "MemoryDefault":
                        guard let text = try scalar(where_, fieldValue), !text.isEmpty else { continue }
                        guard let mib = try Self.memoryMiB(text.trimmingCharacters(in: .whitespaces), "\(file) line \(fieldLine): \(where_)") else {
                            throw error(fieldLine, where_, "'\(text.prefix(100))' is not a memory size like 16G, 32000M or 1024 (bytes)")
                        }
                        flavor.memoryMiB = mib
                    case "UID":
                        if try scalar(where_, fieldValue) != nil {
                            warn(where_, fieldLine, "not honoured: jobs run as the agent's account, or as the pod's runAsUser with allow-run-as-user")
                        }
                    case "SlurmFlags":
                        let words = try strings(where_, fieldValue)
                        do {
                            let parsed = try SbatchFlags.parse(words.joined(separator: " "), field: where_)
                            flavor.options = try SbatchRequestOptions(parsed, field: where_)
                        } catch {
                            throw AgentError(.badRequest, "\(file) line \(fieldLine): \(error.message)")
                        }
                    default:
                        warn(where_, fieldLine, "not a flavor setting (Name, Description, CPUDefault, MemoryDefault, UID, SlurmFlags); ignored")
                    }
                }
                result.append(flavor)
            }
            configuration.flavors = result
        }

        /// The plugin's memory sizes: `16G`, `16GB`, `32000M`, `1024K`, `1024` (bytes); in MiB, rounded up.
        static func memoryMiB(_ text: String, _ field: String) throws(AgentError) -> Int? {
            var body = text.uppercased()
            if body.hasSuffix("B"), body.count > 1, !(body.dropLast().last?.isNumber ?? true) { body.removeLast() }
            let factors: [Character: Double] = ["K": 1024, "M": 1_048_576, "G": 1_073_741_824, "T": 1_099_511_627_776]
            var factor = 1.0
            if let unit = body.last, let f = factors[unit] { factor = f; body.removeLast() }
            guard !body.isEmpty, body.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Double(body) else { return nil }
            return try Checked.roundedUp(number * factor / 1_048_576, Limits.memoryMiB, field, unit: "MiB", code: .badRequest)
        }

        mutating func finish() throws(AgentError) {
            // interLink's API server calls the plugin on the same host: the port on loopback
            if let socket {
                let path = socket.0
                try set("listen", .scalar(path.hasPrefix("unix://") ? path : "unix://\(path)"), key: "Socket", line: socket.1)
            } else if let port {
                try set("listen", .scalar("127.0.0.1:\(port.0)"), key: "SidecarPort", line: port.1)
            }
        }
    }
}
