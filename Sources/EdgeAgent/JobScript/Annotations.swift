import Foundation
import PodWire

extension PodJobBuilder {
    /// Annotations the agent reads.
    public enum Annotation {
        public static let partition = "dte.io/partition"
        public static let account = "dte.io/account"
        public static let qos = "dte.io/qos"
        public static let gpuModel = "dte.io/gpu-model"
        public static let walltime = "dte.io/walltime"
        public static let after = "dte.io/after"
        /// The project usage is accounted to.
        public static let project = "dte.io/project"
        /// interLink's Slurm plugin's annotations.
        public static let slurmFlags = "slurm-job.vk.io/flags"
        public static let preExec = "slurm-job.vk.io/pre-exec"
        public static let singularityMounts = "slurm-job.vk.io/singularity-mounts"
        public static let singularityOptions = "slurm-job.vk.io/singularity-options"
        public static let enrootMounts = "slurm-job.vk.io/enroot-mounts"
        public static let enrootOptions = "slurm-job.vk.io/enroot-options"
        public static let imageRoot = "slurm-job.vk.io/image-root"
        public static let flavor = "slurm-job.vk.io/flavor"
        public static let mpiFlags = "slurm-job.vk.io/mpi-flags"
        public static let podIP = "interlink.eu/pod-ip"
        /// The plugin's annotation prefix: one the agent does not know is a warning, not an error.
        public static let pluginPrefix = "slurm-job.vk.io/"
        static let known: Set<String> = [slurmFlags, preExec, singularityMounts, singularityOptions, enrootMounts,
                                         enrootOptions, imageRoot, flavor, mpiFlags]
    }
}

/// srun options `slurm-job.vk.io/mpi-flags` may hold (how the containers' tasks are wired).
let allowedMPIFlags: Set<String> = ["--mpi", "--cpu-bind", "--distribution", "--hint", "--accel-bind"]

/// What a pod's annotations ask of its job, validated: every annotation of interLink's
/// Slurm plugin and DTE's own. Unknown `slurm-job.vk.io/*` annotations become `warnings`
/// (written to the containers' logs), never an error.
package struct PodAnnotations {
    var flags = SbatchRequestOptions()
    var flavor: Flavor?
    /// Shell run in the job before the containers (only where the site allows it).
    var preExec: String?
    /// Runtime options from `singularity-options` / `enroot-options`, each one word.
    var runtimeOptions: [String] = []
    /// Binds from `singularity-mounts` / `enroot-mounts`, for every container.
    var mounts: [ContainerPlan.Mount] = []
    var imageRoot: String?
    /// srun options the containers are launched with; nil: no srun launch.
    var mpiFlags: [String]?
    var podIP: String?
    var warnings: [String] = []

    init(_ pod: Pod, configuration c: AgentConfiguration, asksGPUs: Bool) throws(AgentError) {
        typealias A = PodJobBuilder.Annotation
        let annotations = pod.metadata.annotations
        for key in annotations.keys.sorted() where key.hasPrefix(A.pluginPrefix) && !A.known.contains(key) {
            warnings.append("annotation \(key.prefix(200)) is not known to dte-agent and was ignored")
        }
        if let text = annotations[A.slurmFlags], !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            let options = try SbatchFlags.parse(text, field: "annotation \(A.slurmFlags)")
            for option in options where !c.allowedSbatchFlags.contains(option.name) {
                let allowed = c.allowedSbatchFlags.isEmpty ? "none on this site" : c.allowedSbatchFlags.joined(separator: ", ")
                throw AgentError.invalid("annotation \(A.slurmFlags): \(option.written) (\(option.name)) is not an allowed sbatch "
                                            + "option (allowed-sbatch-flags: \(allowed))")
            }
            flags = try SbatchRequestOptions(options, field: "annotation \(A.slurmFlags)")
        }
        flavor = try Self.flavor(annotations[A.flavor], configuration: c, asksGPUs: asksGPUs)
        if let text = annotations[A.preExec] {
            guard c.allowPreExec else {
                throw AgentError(.unsupported, "annotation \(A.preExec) is shell and this site does not allow it (allow-pre-exec)")
            }
            guard text.utf8.count <= 16_384, !PodValidation.hasNUL(text) else {
                throw AgentError.invalid("annotation \(A.preExec): at most 16384 bytes, no NUL bytes")
            }
            preExec = text
        }
        let apptainerLike = [.apptainer, .singularity].contains(c.runtime)
        for (key, runtimes, allowed) in [(A.singularityOptions, [ContainerRuntimeKind.apptainer, .singularity], c.allowedSingularityOptions),
                                        (A.enrootOptions, [.enroot], c.allowedEnrootOptions)] {
            guard let text = annotations[key] else { continue }
            guard runtimes.contains(c.runtime) else {
                warnings.append("annotation \(key) applies to \(runtimes.map(\.rawValue).joined(separator: "/")), "
                                + "not to this site's runtime \(c.runtime.rawValue); ignored")
                continue
            }
            runtimeOptions += try Self.runtimeOptions(text, key: key, allowed: allowed)
        }
        for (key, runtimes) in [(A.singularityMounts, [ContainerRuntimeKind.apptainer, .singularity, .bwrap]),
                                (A.enrootMounts, [.enroot])] {
            guard let text = annotations[key] else { continue }
            guard runtimes.contains(c.runtime) else {
                warnings.append("annotation \(key) applies to \(runtimes.map(\.rawValue).joined(separator: "/")), "
                                + "not to this site's runtime \(c.runtime.rawValue); ignored")
                continue
            }
            mounts += try Self.mounts(text, key: key, allowedRoots: c.allowedHostPaths)
        }
        if let text = annotations[A.imageRoot] {
            guard Self.isImageRoot(text) else {
                throw AgentError.invalid("annotation \(A.imageRoot): '\(text.prefix(200))' is neither an absolute folder nor a "
                                            + "prefix like docker:// or oras://registry/ (letters, digits and -_./:@ only)")
            }
            if apptainerLike { imageRoot = text } else {
                warnings.append("annotation \(A.imageRoot) applies to apptainer/singularity images, not to \(c.runtime.rawValue); ignored")
            }
        }
        if let text = annotations[A.mpiFlags] {
            mpiFlags = try Self.mpiFlags(text)
        }
        if let text = annotations[A.podIP] {
            guard Self.isIPAddress(text) else {
                throw AgentError.invalid("annotation \(A.podIP): '\(text.prefix(100))' is not an IPv4 or IPv6 address")
            }
            podIP = text
        }
    }

    /// The flavor a pod asked for (`slurm-job.vk.io/flavor`), else, for a pod that asks for
    /// GPUs, the first flavor that gives GPUs, else the site's default flavor.
    package static func flavor(_ asked: String?, configuration c: AgentConfiguration, asksGPUs: Bool) throws(AgentError) -> Flavor? {
        if let asked {
            guard let flavor = c.flavors.first(where: { $0.name == asked }) else {
                let known = c.flavors.isEmpty ? "this site defines none" : "known: " + c.flavors.map(\.name).joined(separator: ", ")
                throw AgentError.invalid("annotation \(PodJobBuilder.Annotation.flavor): no flavor '\(asked.prefix(100))' (\(known))")
            }
            return flavor
        }
        if asksGPUs, let gpu = c.flavors.first(where: \.hasGPUs) { return gpu }
        return c.defaultFlavor.flatMap { name in c.flavors.first { $0.name == name } }
    }

    /// Options for the runtime: each word `--name` or `--name=value`, the name in the site's list.
    package static func runtimeOptions(_ text: String, key: String, allowed: [String]) throws(AgentError) -> [String] {
        guard text.utf8.count <= 4096 else { throw AgentError.invalid("annotation \(key): longer than 4096 bytes") }
        var words: [String] = []
        for token in text.split(whereSeparator: \.isWhitespace).map(String.init) {
            let name = token.split(separator: "=", maxSplits: 1).first.map(String.init) ?? token
            guard token.hasPrefix("-"), allowed.contains(name) else {
                let list = allowed.isEmpty ? "none on this site" : allowed.joined(separator: ", ")
                throw AgentError.invalid("annotation \(key): '\(name.prefix(100))' is not an allowed option (allowed: \(list))")
            }
            guard token.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 32 && $0.value < 127 && !"'\"\\$`".unicodeScalars.contains($0) }) else {
                throw AgentError.invalid("annotation \(key): '\(token.prefix(100))' holds quotes, '$', backslashes or control characters")
            }
            words.append(token)
        }
        return words
    }

    /// `--bind SRC[:DST[:ro|rw]][,…]` (also `-B`, `--mount`, `-m`, `=`-joined): host folders
    /// bound into every container; each source must lie in `allowed-host-paths`, checked
    /// when the container starts as a hostPath is.
    package static func mounts(_ text: String, key: String, allowedRoots: [String]) throws(AgentError) -> [ContainerPlan.Mount] {
        guard text.utf8.count <= 4096 else { throw AgentError.invalid("annotation \(key): longer than 4096 bytes") }
        let tokens = text.split(whereSeparator: \.isWhitespace).map(String.init)
        var specs: [String] = []
        var index = 0
        while index < tokens.count {
            let token = tokens[index]
            index += 1
            if ["--bind", "-B", "--mount", "-m"].contains(token) {
                guard index < tokens.count else { throw AgentError.invalid("annotation \(key): \(token) needs SRC[:DST]") }
                specs.append(tokens[index])
                index += 1
            } else if let equals = token.firstIndex(of: "="), ["--bind", "--mount"].contains(String(token[..<equals])) {
                specs.append(String(token[token.index(after: equals)...]))
            } else {
                throw AgentError.invalid("annotation \(key): '\(token.prefix(100))' is not --bind/-B/--mount SRC[:DST[:ro]]")
            }
        }
        var mounts: [ContainerPlan.Mount] = []
        for item in specs.flatMap({ $0.split(separator: ",").map(String.init) }) {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard (1...3).contains(parts.count) else { throw AgentError.invalid("annotation \(key): '\(item.prefix(100))' is not SRC[:DST[:ro|rw]]") }
            let source = parts[0], target = parts.count > 1 ? parts[1] : parts[0]
            let mode = parts.count > 2 ? parts[2] : "rw"
            guard ["ro", "rw"].contains(mode) else { throw AgentError.invalid("annotation \(key): mount option '\(mode.prefix(20))' is not ro or rw") }
            for path in [source, target] where !PodValidation.isContainerPath(path) || path == "/" {
                throw AgentError.invalid("annotation \(key): '\(path.prefix(200))' must be an absolute path without '..' (not /)")
            }
            let normalized = PodJobBuilder.normalize(source)
            guard let root = PodJobBuilder.allowedRoot(of: normalized, in: allowedRoots) else {
                let list = allowedRoots.isEmpty ? "none" : allowedRoots.joined(separator: ", ")
                throw AgentError(.unsupported, "annotation \(key): '\(source.prefix(200))' is not under a folder this site allows "
                                    + "(allowed-host-paths: \(list))")
            }
            mounts.append(ContainerPlan.Mount(source: normalized, target: PodJobBuilder.normalize(target), readOnly: mode == "ro",
                                              confinement: [.init(root: root, path: normalized)]))
        }
        return mounts
    }

    /// `slurm-job.vk.io/mpi-flags`: `true` (srun without options) or srun options from `allowedMPIFlags`.
    package static func mpiFlags(_ text: String) throws(AgentError) -> [String] {
        let key = PodJobBuilder.Annotation.mpiFlags
        if text.trimmingCharacters(in: .whitespaces) == "true" { return [] }
        guard text.utf8.count <= 1024 else { throw AgentError.invalid("annotation \(key): longer than 1024 bytes") }
        var words: [String] = []
        for token in text.split(whereSeparator: \.isWhitespace).map(String.init) {
            let parts = token.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, allowedMPIFlags.contains(parts[0]),
                  parts[1].unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.,:".unicodeScalars.contains($0)) })
            else {
                throw AgentError.invalid("annotation \(key): '\(token.prefix(100))' is not one of \(allowedMPIFlags.sorted().joined(separator: ", ")) "
                                            + "written --name=value (letters, digits, -_.,:)")
            }
            words.append(token)
        }
        return words
    }

    package static func isImageRoot(_ text: String) -> Bool {
        guard (1...512).contains(text.utf8.count), !text.contains("..") else { return false }
        guard text.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_./:@".unicodeScalars.contains($0)) })
        else { return false }
        if text.hasPrefix("/") { return true }
        guard let scheme = text.range(of: "://") else { return false }
        return !text[..<scheme.lowerBound].isEmpty && text[..<scheme.lowerBound].allSatisfy(\.isLetter)
    }

    package static func isIPAddress(_ text: String) -> Bool {
        guard text.utf8.count <= 45 else { return false }
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}
