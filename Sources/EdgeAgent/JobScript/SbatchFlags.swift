import Foundation

/// One sbatch option, in its long form: `--nodes` with `2`, `--exclusive` without a value.
public struct SbatchOption: Sendable, Hashable, CustomStringConvertible {
    /// The long name with its dashes (`--constraint`).
    public var name: String
    public var value: String?
    /// How it was written (`-N2`), for messages.
    public var written: String

    public init(name: String, value: String? = nil, written: String? = nil) {
        self.name = name
        self.value = value
        self.written = written ?? (value.map { "\(name)=\($0)" } ?? name)
    }

    /// `--name=value` or `--name`: how the agent passes it to sbatch.
    public var description: String { value.map { "\(name)=\($0)" } ?? name }
}

/// sbatch options as users write them in `slurm-job.vk.io/flags` and sites in a flavor's
/// `SlurmFlags`: long (`--opt=v`, `--opt v`) and short (`-N 2`, `-N2`) forms, parsed against
/// sbatch's own option table (sbatch 22.05), never through a shell.
public enum SbatchFlags {
    /// Short options and their long names.
    static let short: [Character: String] = [
        "A": "--account", "a": "--array", "B": "--extra-node-info", "b": "--begin", "C": "--constraint",
        "c": "--cpus-per-task", "D": "--chdir", "d": "--dependency", "e": "--error", "F": "--nodefile",
        "G": "--gpus", "H": "--hold", "i": "--input", "J": "--job-name", "k": "--no-kill", "L": "--licenses",
        "M": "--clusters", "m": "--distribution", "N": "--nodes", "n": "--ntasks", "O": "--overcommit",
        "o": "--output", "p": "--partition", "Q": "--quiet", "q": "--qos", "S": "--core-spec",
        "s": "--oversubscribe", "t": "--time", "v": "--verbose", "W": "--wait", "w": "--nodelist",
        "x": "--exclude",
    ]

    /// Long options that take a value.
    static let withValue: Set<String> = [
        "--account", "--acctg-freq", "--array", "--batch", "--bb", "--bbf", "--begin", "--chdir", "--cluster-constraint",
        "--clusters", "--comment", "--constraint", "--container", "--core-spec", "--cores-per-socket", "--cpu-freq",
        "--cpus-per-gpu", "--cpus-per-task", "--deadline", "--delay-boot", "--dependency", "--distribution", "--error",
        "--export", "--export-file", "--extra-node-info", "--gid", "--gpu-bind", "--gpu-freq", "--gpus", "--gpus-per-node",
        "--gpus-per-socket", "--gpus-per-task", "--gres", "--gres-flags", "--hint", "--input", "--job-name", "--licenses",
        "--mail-type", "--mail-user", "--mcs-label", "--mem", "--mem-bind", "--mem-per-cpu", "--mem-per-gpu", "--mincpus",
        "--network", "--nice", "--nodefile", "--nodelist", "--nodes", "--ntasks", "--ntasks-per-core", "--ntasks-per-gpu",
        "--ntasks-per-node", "--ntasks-per-socket", "--open-mode", "--output", "--partition", "--power", "--prefer",
        "--priority", "--profile", "--qos", "--reservation", "--signal", "--sockets-per-node", "--switches", "--thread-spec",
        "--threads-per-core", "--time", "--time-min", "--tmp", "--uid", "--wait-all-nodes", "--wckey", "--wrap",
        "--exclude", "--kill-on-invalid-dep", "--tres-per-task",
    ]

    /// Long options without a value, or whose value can only be attached with `=`.
    static let withoutValue: Set<String> = [
        "--contiguous", "--exclusive", "--get-user-env", "--hold", "--ignore-pbs", "--no-kill", "--no-requeue",
        "--overcommit", "--oversubscribe", "--parsable", "--propagate", "--quiet", "--reboot", "--requeue", "--spread-job",
        "--test-only", "--use-min-nodes", "--verbose", "--wait", "--exact", "--mem-per-cpu-default",
    ]

    /// Options the agent sets itself: never from a pod or a flavor (they would move its
    /// output, identity, working folder or dependencies, or turn the script into another).
    public static let reserved: Set<String> = [
        "--job-name", "--output", "--error", "--input", "--chdir", "--comment", "--uid", "--gid", "--wrap", "--export",
        "--export-file", "--parsable", "--dependency", "--hold", "--array", "--batch", "--container", "--test-only",
        "--wait", "--get-user-env", "--propagate", "--ntasks", "--ntasks-per-node", "--open-mode",
        "--kill-on-invalid-dep",
    ]

    /// Options the agent maps onto its own request (partition, walltime, resources) instead of passing them on.
    public static let structured: Set<String> = [
        "--partition", "--account", "--qos", "--time", "--mem", "--cpus-per-task", "--gres", "--gpus", "--nodes",
    ]

    /// The most text and options one annotation or flavor may hold.
    static let maxBytes = 4096
    static let maxOptions = 64

    /// The long name of an option written long or short (`-N` → `--nodes`); nil when sbatch has no such option.
    public static func longName(_ written: String) -> String? {
        if written.hasPrefix("--") {
            return withValue.contains(written) || withoutValue.contains(written) ? written : nil
        }
        guard written.count == 2, written.hasPrefix("-"), let letter = written.last else { return nil }
        return short[letter]
    }

    /// Parses `text` into options; `field` names where it came from in messages.
    public static func parse(_ text: String, field: String) throws(AgentError) -> [SbatchOption] {
        guard text.utf8.count <= maxBytes else {
            throw AgentError.invalid("\(field): longer than \(maxBytes) bytes")
        }
        let tokens = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).map(String.init)
        var options: [SbatchOption] = []
        var index = 0
        func value(_ text: String, of option: String) throws(AgentError) -> String {
            guard !text.isEmpty, text.unicodeScalars.allSatisfy(isValueScalar) else {
                throw AgentError.invalid("\(field): the value '\(text.prefix(100))' of \(option) may hold only letters, digits and "
                                            + "-_.,:=/+@%[]*&|!^~# (no quotes, backslashes, '$' or control characters)")
            }
            return text
        }
        while index < tokens.count {
            let token = tokens[index]
            index += 1
            guard options.count < maxOptions else { throw AgentError.invalid("\(field): more than \(maxOptions) options") }
            if token.hasPrefix("--") {
                let parts = token.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let name = parts[0]
                if withValue.contains(name) {
                    if parts.count == 2 {
                        options.append(SbatchOption(name: name, value: try value(parts[1], of: name), written: token))
                    } else {
                        guard index < tokens.count else { throw AgentError.invalid("\(field): \(name) needs a value") }
                        let next = tokens[index]
                        index += 1
                        options.append(SbatchOption(name: name, value: try value(next, of: name), written: "\(token) \(next)"))
                    }
                } else if withoutValue.contains(name) {
                    let attached: String? = parts.count == 2 ? parts[1] : nil
                    options.append(SbatchOption(name: name, value: try attached.map { text throws(AgentError) in try value(text, of: name) },
                                                written: token))
                } else {
                    throw AgentError.invalid("\(field): '\(name.prefix(100))' is not an sbatch option")
                }
            } else if token.hasPrefix("-"), token.count >= 2 {
                let letter = token[token.index(after: token.startIndex)]
                guard let name = short[letter] else {
                    throw AgentError.invalid("\(field): '-\(letter)' is not an sbatch option")
                }
                let attached = String(token.dropFirst(2))
                if withValue.contains(name) {
                    if !attached.isEmpty {
                        options.append(SbatchOption(name: name, value: try value(attached, of: "-\(letter)"), written: token))
                    } else {
                        guard index < tokens.count else { throw AgentError.invalid("\(field): -\(letter) needs a value") }
                        let next = tokens[index]
                        index += 1
                        options.append(SbatchOption(name: name, value: try value(next, of: "-\(letter)"), written: "\(token) \(next)"))
                    }
                } else {
                    guard attached.isEmpty else {
                        throw AgentError.invalid("\(field): '\(token.prefix(100))': write short options one by one (-\(letter) takes no value)")
                    }
                    options.append(SbatchOption(name: name, written: token))
                }
            } else {
                throw AgentError.invalid("\(field): '\(token.prefix(100))' is not an sbatch option (options start with - or --)")
            }
        }
        return options
    }

    private static func isValueScalar(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.isASCII, scalar.value > 32, scalar.value < 127 else { return false }
        return !"'\"\\$`;<>(){}".unicodeScalars.contains(scalar)
    }
}

/// What a list of sbatch options asks for, split into what the agent's request holds
/// (partition, account, QoS, walltime, cpus, memory, GPUs) and what is passed on as written.
public struct SbatchRequestOptions: Sendable, Hashable {
    public var partition: String?
    public var account: String?
    public var qos: String?
    public var walltimeSeconds: Int?
    public var cpus: Int?
    public var memoryMiB: Int?
    public var gpus: Int?
    public var gpuModel: String?
    /// `--nodes=N`: a multi-node job whose containers run once on every node (through srun).
    public var nodes: Int?
    /// Passed to sbatch as written (`--constraint=x`).
    public var extra: [String] = []

    public init() {}

    /// Sorts `options` (already parsed; `field` for messages) into the request's parts.
    public init(_ options: [SbatchOption], field: String) throws(AgentError) {
        for option in options {
            if SbatchFlags.reserved.contains(option.name) {
                throw AgentError.invalid("\(field): \(option.written) (\(option.name)) is set by the agent itself and cannot be given")
            }
            let value = option.value ?? ""
            let what = "\(field): \(option.written)"
            func slurmName() throws(AgentError) -> String {
                guard PodValidation.isSlurmName(value) else { throw AgentError.invalid("\(what): '\(value)' is not a valid Slurm name") }
                return value
            }
            switch option.name {
            case "--partition": partition = try slurmName()
            case "--account": account = try slurmName()
            case "--qos": qos = try slurmName()
            case "--time":
                guard let seconds = PodValidation.walltimeSeconds(value) else {
                    throw AgentError.invalid("\(what): '\(value)' is not a Slurm time (e.g. 90, 01:30:00, 1-00:00:00)")
                }
                walltimeSeconds = try Checked.inRange(seconds, Limits.walltimeSeconds, what, unit: "s")
            case "--cpus-per-task":
                cpus = try Checked.parse(value, Limits.cpus, what)
            case "--nodes":
                // a count: a range (`2-4`) would leave the number of container copies to Slurm
                guard !value.isEmpty, value.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                    throw AgentError.invalid("\(what): '\(value.prefix(40))' is not a node count (a number from "
                                                + "\(Limits.nodes.lowerBound) to \(Limits.nodes.upperBound); no ranges)")
                }
                nodes = try Checked.parse(value, Limits.nodes, what)
            case "--mem":
                memoryMiB = try Self.memoryMiB(value, what)
            case "--gres":
                let (count, model) = try Self.gpuGRES(value, what)
                gpus = count
                gpuModel = model
            case "--gpus":
                let parts = value.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                guard (1...2).contains(parts.count) else { throw AgentError.invalid("\(what): expected [TYPE:]COUNT") }
                gpus = try Checked.parse(parts[parts.count - 1], Limits.gpus, what)
                if parts.count == 2 {
                    guard PodValidation.isSlurmName(parts[0]) else { throw AgentError.invalid("\(what): '\(parts[0])' is not a GPU type") }
                    gpuModel = parts[0]
                }
            default:
                extra.append(option.description)
            }
        }
    }

    /// Slurm's memory sizes: `4000` (MiB), `4000M`, `16G`, `1T`, `512K`.
    static func memoryMiB(_ text: String, _ what: String) throws(AgentError) -> Int {
        var digits = Substring(text)
        var factor = 1.0
        if let unit = text.last, !unit.isNumber {
            let factors: [Character: Double] = ["K": 1.0 / 1024, "M": 1, "G": 1024, "T": 1_048_576,
                                                "k": 1.0 / 1024, "m": 1, "g": 1024, "t": 1_048_576]
            guard let f = factors[unit] else {
                throw AgentError.invalid("\(what): '\(text)' is not a memory size (e.g. 4000, 4000M, 16G)")
            }
            factor = f
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Double(digits) else {
            throw AgentError.invalid("\(what): '\(text)' is not a memory size (e.g. 4000, 4000M, 16G)")
        }
        return try Checked.roundedUp(number * factor, Limits.memoryMiB, what, unit: "MiB")
    }

    /// `gpu:2`, `gpu:a100:2`, `gpu` (one): the GPU count and type; other GRES are refused.
    static func gpuGRES(_ text: String, _ what: String) throws(AgentError) -> (Int, String?) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.first == "gpu", (1...3).contains(parts.count) else {
            throw AgentError.invalid("\(what): only GPUs are supported as GRES here (gpu[:TYPE]:COUNT)")
        }
        switch parts.count {
        case 1: return (1, nil)
        case 2:
            if parts[1].allSatisfy(\.isNumber) { return (try Checked.parse(parts[1], Limits.gpus, what), nil) }
            guard PodValidation.isSlurmName(parts[1]) else { throw AgentError.invalid("\(what): '\(parts[1])' is not a GPU type") }
            return (1, parts[1])
        default:
            guard PodValidation.isSlurmName(parts[1]) else { throw AgentError.invalid("\(what): '\(parts[1])' is not a GPU type") }
            return (try Checked.parse(parts[2], Limits.gpus, what), parts[1])
        }
    }
}
