import Foundation
import PodWire

/// Turns a pod (with the ConfigMaps and Secrets sent along) into a `PodJob`: validates every
/// name, key and path, lays out the pod folder, resolves the environment, sums resources and
/// writes the scripts. Pure: no file is written and nothing is submitted here.
public struct PodJobBuilder: Sendable {
    public var configuration: AgentConfiguration
    /// This agent's instance identifier (recorded in each job's comment).
    public var instanceID: String

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
        public static let slurmFlags = "slurm-job.vk.io/flags"
        /// interLink annotations that carry shell and are therefore refused.
        public static let refused = ["slurm-job.vk.io/pre-exec", "slurm-job.vk.io/singularity-options",
                                     "slurm-job.vk.io/singularity-mounts"]
    }

    public init(configuration: AgentConfiguration, instanceID: String) {
        self.configuration = configuration
        self.instanceID = instanceID
    }

    /// The pod folder for a pod: `<work-dir>/<namespace>-<uid>` for a UID in canonical UUID
    /// form (what Kubernetes sends), `<work-dir>/<namespace>_<uid>` for any other UID. Names
    /// never collide: neither a namespace nor a UID holds `_`, so a name with `_` splits
    /// there, and one without ends in its 36-character UUID (`a-b` + `c…` and `a` + `b-c…`
    /// would otherwise spell the same folder).
    public func podDirectory(namespace: String, uid: String) -> String {
        let separator = PodValidation.isCanonicalUUID(uid) ? "-" : "_"
        return (configuration.workDir as NSString).appendingPathComponent("\(namespace)\(separator)\(uid)")
    }

    /// The UIDs listed in `dte.io/after`, validated.
    public static func dependencyUIDs(of pod: Pod) throws(AgentError) -> [String] {
        guard let text = pod.metadata.annotations[Annotation.after] else { return [] }
        let uids = text.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
        for uid in uids where !PodValidation.isUID(uid) {
            throw AgentError.invalid("annotation \(Annotation.after): '\(uid)' is not a pod UID")
        }
        return uids
    }

    /// Builds the job for `data`. `afterOK` holds the Slurm job ids of `dte.io/after` pods
    /// that have not finished yet.
    public func build(_ data: RetrievedPodData, afterOK: [String] = []) throws(AgentError) -> PodJob {
        let pod = data.pod
        let meta = pod.metadata
        guard PodValidation.isUID(meta.uid) else {
            throw AgentError.invalid("metadata.uid '\(meta.uid)' is missing or not a UID (letters, digits, dashes)")
        }
        guard PodValidation.isDNSLabel(meta.namespace) else {
            throw AgentError.invalid("metadata.namespace '\(meta.namespace)' is not a DNS-1123 label")
        }
        guard PodValidation.isDNSSubdomain(meta.name) else {
            throw AgentError.invalid("metadata.name '\(meta.name)' is not a DNS-1123 subdomain")
        }
        if let script = data.jobScript, !script.isEmpty {
            throw AgentError(.unsupported, "pre-built job scripts (jobScript) are not accepted; the agent builds the script")
        }
        guard !pod.spec.containers.isEmpty else { throw AgentError.invalid("the pod has no containers") }
        for key in Annotation.refused where meta.annotations[key] != nil {
            throw AgentError(.unsupported, "annotation \(key) carries shell and is not accepted by this agent")
        }

        let podDir = podDirectory(namespace: meta.namespace, uid: meta.uid)
        var layout = Layout()
        let sources = try Sources(data)
        let volumes = try resolveVolumes(pod.spec.volumes, sources: sources, pod: data, podDir: podDir, layout: &layout)

        var seen = Set<String>()
        var plans: [ContainerPlan] = []
        for (kind, list) in [(ContainerPlan.Kind.initContainer, pod.spec.initContainers), (.regular, pod.spec.containers)] {
            for (index, container) in list.enumerated() {
                guard PodValidation.isDNSLabel(container.name) else {
                    throw AgentError.invalid("container name '\(container.name)' is not a DNS-1123 label")
                }
                guard seen.insert(container.name).inserted else {
                    throw AgentError.invalid("container name '\(container.name)' is used twice")
                }
                let plan = try plan(container, kind: kind, index: index, pod: pod, sources: sources, volumes: volumes)
                plans.append(plan)
                layout.file(plan.envFile, envFileContents(plan), mode: 0o600)
                if configuration.runtime == .apptainer || configuration.runtime == .singularity {
                    layout.file("\(plan.filePrefix).apptainer-env", Data(apptainerEnvFile(plan).utf8), mode: 0o600)
                }
            }
        }

        let request = try jobRequest(pod: pod, podDir: podDir, afterOK: afterOK)
        let runtime = ContainerRuntime(configuration: configuration, podUID: meta.uid)
        let runner = try RunnerScript(podDir: podDir, plans: plans, runtime: runtime).render()
        let batch = Self.batchScript(request: request, runner: runner)
        var images: [String: String] = [:]
        for plan in plans { images[plan.name] = plan.image }
        return PodJob(
            uid: meta.uid, namespace: meta.namespace, name: meta.name, podDir: podDir, request: request,
            directories: layout.directories, files: layout.files, batchScript: batch, runnerScript: runner,
            scriptPath: scriptPath(podDir: podDir, request: request),
            initContainers: plans.filter { $0.kind == .initContainer }.map(\.name),
            containers: plans.filter { $0.kind == .regular }.map(\.name), images: images)
    }

    // MARK: - ConfigMaps and Secrets sent with the pod

    struct Sources {
        var configMaps: [String: ConfigMap] = [:]
        var secrets: [String: [String: Data]] = [:]
        /// Projected volume content from interLink: volume name → path → content.
        var projected: [String: [String: String]] = [:]

        init(_ data: RetrievedPodData) throws(AgentError) {
            for container in data.container {
                for map in container.configMaps { configMaps[map.metadata.name] = map }
                for secret in container.secrets {
                    switch secret.decodedValues() {
                    case .success(let values): secrets[secret.metadata.name] = values
                    case .failure(let bad):
                        throw AgentError.invalid("secret '\(bad.secret)' key '\(bad.key)' is not valid base64")
                    }
                }
                for map in container.projectedVolumeMaps {
                    projected[map.metadata.name, default: [:]].merge(map.data) { _, new in new }
                }
            }
        }

        func configMapValues(_ name: String) throws(AgentError) -> [String: Data]? {
            guard let map = configMaps[name] else { return nil }
            var values: [String: Data] = [:]
            for (key, text) in map.data { values[key] = Data(text.utf8) }
            for (key, encoded) in map.binaryData {
                guard let bytes = Data(base64Encoded: encoded, options: .ignoreUnknownCharacters) else {
                    throw AgentError.invalid("configMap '\(name)' binaryData key '\(key)' is not valid base64")
                }
                values[key] = bytes
            }
            return values
        }
    }

    struct Layout {
        var directories: [(path: String, mode: Int)] = []
        var files: [PodFile] = []
        private var known = Set<String>()

        mutating func directory(_ path: String, mode: Int) {
            var parts: [Substring] = []
            for part in path.split(separator: "/") {
                parts.append(part)
                let prefix = parts.joined(separator: "/")
                if known.insert(prefix).inserted { directories.append((prefix, mode)) }
            }
        }

        mutating func file(_ path: String, _ contents: Data, mode: Int) {
            if let slash = path.lastIndex(of: "/") {
                directory(String(path[..<slash]), mode: 0o700)
            }
            files.append(PodFile(path: path, contents: contents, mode: mode))
        }
    }

    // MARK: - Volumes

    enum VolumeKind { case configMap, secret, projected, emptyDir, hostPath }

    struct ResolvedVolume {
        var kind: VolumeKind
        /// Absolute host path of the volume's folder (or the hostPath).
        var source: String
        /// For a hostPath: the allowed folder it must stay in when it is bound.
        var allowedRoot: String? = nil
    }

    private func resolveVolumes(_ volumes: [Volume], sources: Sources, pod: RetrievedPodData, podDir: String,
                                layout: inout Layout) throws(AgentError) -> [String: ResolvedVolume] {
        var result: [String: ResolvedVolume] = [:]
        for volume in volumes {
            guard PodValidation.isDNSLabel(volume.name) else {
                throw AgentError.invalid("volume name '\(volume.name)' is not a DNS-1123 label")
            }
            guard result[volume.name] == nil else { throw AgentError.invalid("volume name '\(volume.name)' is used twice") }
            if let other = volume.unsupportedTypes.first {
                throw AgentError(.unsupported,
                                 "volume '\(volume.name)' has type '\(other)', which this agent does not support "
                                    + "(supported: configMap, secret, projected, emptyDir, hostPath)")
            }
            if let source = volume.configMap {
                let folder = "configMaps/\(volume.name)"
                layout.directory(folder, mode: 0o700)
                guard let values = try sources.configMapValues(source.name) else {
                    if source.optional == true { result[volume.name] = ResolvedVolume(kind: .configMap, source: "\(podDir)/\(folder)"); continue }
                    throw AgentError.invalid("configMap '\(source.name)' used by volume '\(volume.name)' was not sent with the pod")
                }
                let mode = try Checked.fileMode(source.defaultMode ?? 0o644, "volume '\(volume.name)' configMap.defaultMode")
                try project(values, items: source.items, into: folder, mode: mode,
                            what: "configMap '\(source.name)'", layout: &layout)
                result[volume.name] = ResolvedVolume(kind: .configMap, source: "\(podDir)/\(folder)")
            } else if let source = volume.secret {
                // Secrets are always written 0600 (owner only); the mode is still checked.
                if let mode = source.defaultMode { _ = try Checked.fileMode(mode, "volume '\(volume.name)' secret.defaultMode") }
                let folder = "secrets/\(volume.name)"
                layout.directory(folder, mode: 0o700)
                guard let values = sources.secrets[source.secretName] else {
                    if source.optional == true { result[volume.name] = ResolvedVolume(kind: .secret, source: "\(podDir)/\(folder)"); continue }
                    throw AgentError.invalid("secret '\(source.secretName)' used by volume '\(volume.name)' was not sent with the pod")
                }
                try project(values, items: source.items, into: folder, mode: 0o600,
                            what: "secret '\(source.secretName)'", layout: &layout)
                result[volume.name] = ResolvedVolume(kind: .secret, source: "\(podDir)/\(folder)")
            } else if let projected = volume.projected {
                if let mode = projected.defaultMode { _ = try Checked.fileMode(mode, "volume '\(volume.name)' projected.defaultMode") }
                let folder = "projectedVolumeMaps/\(volume.name)"
                layout.directory(folder, mode: 0o700)
                if let content = sources.projected[volume.name] {
                    for (path, text) in content.sorted(by: { $0.key < $1.key }) {
                        guard PodValidation.isRelativeFilePath(path) else {
                            throw AgentError.invalid("projected volume '\(volume.name)' has an invalid path '\(path)'")
                        }
                        layout.file("\(folder)/\(path)", Data(text.utf8), mode: 0o600)
                    }
                } else {
                    for source in projected.sources {
                        if let map = source.configMap {
                            guard let values = try sources.configMapValues(map.name) else {
                                if map.optional == true { continue }
                                throw AgentError.invalid("configMap '\(map.name)' used by projected volume '\(volume.name)' was not sent")
                            }
                            try project(values, items: map.items, into: folder, mode: 0o600,
                                        what: "configMap '\(map.name)'", layout: &layout)
                        }
                        if let secret = source.secret {
                            guard let values = sources.secrets[secret.name] else {
                                if secret.optional == true { continue }
                                throw AgentError.invalid("secret '\(secret.name)' used by projected volume '\(volume.name)' was not sent")
                            }
                            try project(values, items: secret.items, into: folder, mode: 0o600,
                                        what: "secret '\(secret.name)'", layout: &layout)
                        }
                    }
                }
                result[volume.name] = ResolvedVolume(kind: .projected, source: "\(podDir)/\(folder)")
            } else if volume.emptyDir != nil {
                let folder = "emptyDirs/\(volume.name)"
                layout.directory(folder, mode: 0o700)
                result[volume.name] = ResolvedVolume(kind: .emptyDir, source: "\(podDir)/\(folder)")
            } else if let hostPath = volume.hostPath {
                let path = hostPath.path
                guard PodValidation.isContainerPath(path) else {
                    throw AgentError.invalid("hostPath '\(path)' of volume '\(volume.name)' must be absolute without '..'")
                }
                let normalized = Self.normalize(path)
                // The allowed folder it lies in (the deepest, when several match).
                let root = configuration.allowedHostPaths.map(Self.normalize).filter { base in
                    normalized == base || normalized.hasPrefix(base == "/" ? "/" : base + "/")
                }.max { $0.count < $1.count }
                guard root != nil else {
                    throw AgentError(.unsupported,
                                     "hostPath '\(path)' of volume '\(volume.name)' is not under a folder this site allows "
                                        + "(allowed-host-paths: \(configuration.allowedHostPaths.joined(separator: ", ")))")
                }
                result[volume.name] = ResolvedVolume(kind: .hostPath, source: normalized, allowedRoot: root)
            } else {
                throw AgentError(.unsupported, "volume '\(volume.name)' has no type this agent supports "
                                    + "(supported: configMap, secret, projected, emptyDir, hostPath)")
            }
        }
        return result
    }

    private func project(_ values: [String: Data], items: [KeyToPath], into folder: String, mode: Int, what: String,
                         layout: inout Layout) throws(AgentError) {
        if items.isEmpty {
            for (key, bytes) in values.sorted(by: { $0.key < $1.key }) {
                guard PodValidation.isDataKey(key) else { throw AgentError.invalid("\(what) has an invalid key '\(key)'") }
                layout.file("\(folder)/\(key)", bytes, mode: mode)
            }
            return
        }
        for item in items {
            guard PodValidation.isRelativeFilePath(item.path) else {
                throw AgentError.invalid("\(what): item path '\(item.path)' must be relative without '..'")
            }
            guard let bytes = values[item.key] else { throw AgentError.invalid("\(what) has no key '\(item.key)'") }
            var itemMode: Int?
            if let mode = item.mode { itemMode = try Checked.fileMode(mode, "\(what) item '\(item.key)' mode") }
            layout.file("\(folder)/\(item.path)", bytes, mode: mode == 0o600 ? 0o600 : (itemMode ?? mode))
        }
    }

    static func normalize(_ path: String) -> String {
        let parts = path.split(separator: "/").filter { $0 != "." }
        return "/" + parts.joined(separator: "/")
    }

    // MARK: - Containers

    private func plan(_ container: Container, kind: ContainerPlan.Kind, index: Int, pod: Pod, sources: Sources,
                      volumes: [String: ResolvedVolume]) throws(AgentError) -> ContainerPlan {
        let name = container.name
        var env: [(String, String)] = []
        var values: [String: String] = [:]
        func add(_ key: String, _ value: String) throws(AgentError) {
            guard PodValidation.isEnvName(key) else { throw AgentError.invalid("container '\(name)': env name '\(key)' is invalid") }
            guard !PodValidation.hasNUL(value) else { throw AgentError.invalid("container '\(name)': env '\(key)' contains a NUL byte") }
            env.append((key, value))
            values[key] = value
        }
        for source in container.envFrom {
            let prefix = source.prefix ?? ""
            if let ref = source.configMapRef {
                guard let map = try sources.configMapValues(ref.name) else {
                    if ref.optional == true { continue }
                    throw AgentError.invalid("container '\(name)': envFrom configMap '\(ref.name)' was not sent with the pod")
                }
                for (key, bytes) in map.sorted(by: { $0.key < $1.key }) where PodValidation.isEnvName(prefix + key) {
                    try add(prefix + key, String(decoding: bytes, as: UTF8.self))
                }
            }
            if let ref = source.secretRef {
                guard let secret = sources.secrets[ref.name] else {
                    if ref.optional == true { continue }
                    throw AgentError.invalid("container '\(name)': envFrom secret '\(ref.name)' was not sent with the pod")
                }
                for (key, bytes) in secret.sorted(by: { $0.key < $1.key }) where PodValidation.isEnvName(prefix + key) {
                    try add(prefix + key, String(decoding: bytes, as: UTF8.self))
                }
            }
        }
        for variable in container.env {
            if let from = variable.valueFrom {
                if let ref = from.configMapKeyRef {
                    guard let map = try sources.configMapValues(ref.name), let bytes = map[ref.key] else {
                        if ref.optional == true { continue }
                        throw AgentError.invalid("container '\(name)': env '\(variable.name)' refers to configMap "
                                                    + "'\(ref.name)' key '\(ref.key)', which was not sent with the pod")
                    }
                    try add(variable.name, String(decoding: bytes, as: UTF8.self))
                } else if let ref = from.secretKeyRef {
                    guard let secret = sources.secrets[ref.name], let bytes = secret[ref.key] else {
                        if ref.optional == true { continue }
                        throw AgentError.invalid("container '\(name)': env '\(variable.name)' refers to secret "
                                                    + "'\(ref.name)' key '\(ref.key)', which was not sent with the pod")
                    }
                    try add(variable.name, String(decoding: bytes, as: UTF8.self))
                } else if let field = from.fieldRef {
                    let value: String
                    switch field.fieldPath {
                    case "metadata.name": value = pod.metadata.name
                    case "metadata.namespace": value = pod.metadata.namespace
                    case "metadata.uid": value = pod.metadata.uid
                    default:
                        throw AgentError(.unsupported, "container '\(name)': env '\(variable.name)' uses fieldRef "
                                            + "'\(field.fieldPath)'; supported: metadata.name, metadata.namespace, metadata.uid")
                    }
                    try add(variable.name, value)
                } else {
                    throw AgentError(.unsupported, "container '\(name)': env '\(variable.name)' has a valueFrom this agent cannot resolve")
                }
            } else {
                let expanded = DependentVariables.expand(variable.value ?? "") { values[$0] }
                try add(variable.name, expanded)
            }
        }
        let command = container.command.map { DependentVariables.expand($0) { values[$0] } }
        let args = container.args.map { DependentVariables.expand($0) { values[$0] } }
        for word in command + args where PodValidation.hasNUL(word) {
            throw AgentError.invalid("container '\(name)': command and args cannot contain NUL bytes")
        }
        if let dir = container.workingDir, !dir.isEmpty, !PodValidation.isContainerPath(dir) {
            throw AgentError.invalid("container '\(name)': workingDir '\(dir)' must be an absolute path without '..'")
        }
        var mounts: [ContainerPlan.Mount] = []
        for mount in container.volumeMounts {
            guard let volume = volumes[mount.name] else {
                throw AgentError.invalid("container '\(name)': volumeMount '\(mount.name)' names no volume of the pod")
            }
            guard PodValidation.isContainerPath(mount.mountPath), mount.mountPath != "/" else {
                throw AgentError.invalid("container '\(name)': mountPath '\(mount.mountPath)' must be an absolute path without '..'")
            }
            var source = volume.source
            var confinement: [ContainerPlan.Mount.Confinement] = []
            if let root = volume.allowedRoot {
                confinement.append(.init(root: root, path: volume.source))
            }
            if let sub = mount.subPath, !sub.isEmpty {
                guard PodValidation.isRelativeFilePath(sub) else {
                    throw AgentError.invalid("container '\(name)': subPath '\(sub)' must be relative without '..'")
                }
                source += "/" + sub
                confinement.append(.init(root: volume.source, path: source))
            }
            let readOnly = mount.readOnly == true || [.configMap, .secret, .projected].contains(volume.kind)
            mounts.append(ContainerPlan.Mount(source: source, target: Self.normalize(mount.mountPath), readOnly: readOnly,
                                              confinement: confinement))
        }
        func hook(_ handler: LifecycleHandler?, _ which: String) throws(AgentError) -> [String]? {
            guard let handler else { return nil }
            guard handler.httpGet == nil, handler.tcpSocket == nil, handler.sleep == nil, let exec = handler.exec,
                  !exec.command.isEmpty else {
                throw AgentError(.unsupported, "container '\(name)': \(which) supports only exec handlers with a command")
            }
            for word in exec.command where PodValidation.hasNUL(word) {
                throw AgentError.invalid("container '\(name)': \(which) command cannot contain NUL bytes")
            }
            return exec.command
        }
        let plan = ContainerPlan(
            kind: kind, index: index, name: name, image: container.image, command: command, args: args,
            workingDir: container.workingDir.flatMap { $0.isEmpty ? nil : $0 }, environment: env, mounts: mounts,
            postStart: try hook(container.lifecycle?.postStart, "postStart"),
            preStop: try hook(container.lifecycle?.preStop, "preStop"))
        try ContainerRuntime(configuration: configuration, podUID: pod.metadata.uid).check(plan)
        return plan
    }

    func envFileContents(_ plan: ContainerPlan) -> Data {
        var data = Data()
        for (name, value) in plan.effectiveEnvironment {
            data.append(contentsOf: Array(name.utf8))
            data.append(UInt8(ascii: "="))
            data.append(contentsOf: Array(value.utf8))
            data.append(0)
        }
        return data
    }

    /// Apptainer's `--env-file` is read by its shell interpreter: single-quoted assignments.
    func apptainerEnvFile(_ plan: ContainerPlan) -> String {
        plan.effectiveEnvironment.map { "\($0.name)=\(Shell.quote($0.value))\n" }.joined()
    }

    // MARK: - Resources and the Slurm request

    struct Amount { var cpu = 0.0; var memory = 0.0; var gpus = 0.0; var cpuSet = false; var memorySet = false }

    static func amount(_ resources: ResourceRequirements) throws(AgentError) -> Amount {
        var a = Amount()
        func value(_ key: String) throws(AgentError) -> Double? {
            guard let text = resources.limits[key] ?? resources.requests[key] else { return nil }
            guard let number = Quantity.parse(text) else { throw AgentError.invalid("resource \(key) '\(text)' is not a quantity") }
            return number
        }
        if let cpu = try value("cpu") { a.cpu = cpu; a.cpuSet = true }
        if let memory = try value("memory") { a.memory = memory; a.memorySet = true }
        a.gpus = try value("nvidia.com/gpu") ?? 0
        return a
    }

    func jobRequest(pod: Pod, podDir: String, afterOK: [String]) throws(AgentError) -> BatchJobRequest {
        var regular = Amount()
        for container in pod.spec.containers {
            let a = try Self.amount(container.resources)
            regular.cpu += a.cpu; regular.memory += a.memory; regular.gpus += a.gpus
            regular.cpuSet = regular.cpuSet || a.cpuSet; regular.memorySet = regular.memorySet || a.memorySet
        }
        var peak = regular
        for container in pod.spec.initContainers {
            let a = try Self.amount(container.resources)
            peak.cpu = max(peak.cpu, a.cpu); peak.memory = max(peak.memory, a.memory); peak.gpus = max(peak.gpus, a.gpus)
            peak.cpuSet = peak.cpuSet || a.cpuSet; peak.memorySet = peak.memorySet || a.memorySet
        }
        let cpus = peak.cpuSet
            ? try Checked.roundedUp(max(1, peak.cpu), Limits.cpus, "resources cpu (the pod's containers together)")
            : configuration.defaultCPUs
        let memory = peak.memorySet && peak.memory > 0
            ? try Checked.roundedUp(peak.memory / 1_048_576, Limits.memoryMiB,
                                    "resources memory (the pod's containers together)", unit: "MiB")
            : configuration.defaultMemoryMiB
        let gpus = try Checked.roundedUp(peak.gpus, Limits.gpus, "resources nvidia.com/gpu (the pod's containers together)")

        let annotations = pod.metadata.annotations
        func slurmName(_ key: String, _ fallback: String?) throws(AgentError) -> String? {
            guard let value = annotations[key] else { return fallback }
            guard PodValidation.isSlurmName(value) else {
                throw AgentError.invalid("annotation \(key): '\(value)' is not a valid Slurm name")
            }
            return value
        }
        var seconds = configuration.defaultWalltimeSeconds
        if let deadline = pod.spec.activeDeadlineSeconds {
            seconds = try Checked.inRange(deadline, Limits.walltimeSeconds, "spec.activeDeadlineSeconds", unit: "s")
        }
        if let text = annotations[Annotation.walltime] {
            guard let value = PodValidation.walltimeSeconds(text) else {
                throw AgentError.invalid("annotation \(Annotation.walltime): '\(text)' is not a Slurm time (e.g. 90, 01:30:00, 1-00:00:00)")
            }
            let checked = try Checked.inRange(value, Limits.walltimeSeconds, "annotation \(Annotation.walltime)", unit: "s")
            seconds = min(checked, seconds ?? checked)
        }
        for id in afterOK where !id.allSatisfy(\.isNumber) {
            throw AgentError(.internalFailure, "dependency job id '\(id)' is not numeric")
        }
        let account = try runAs(pod)
        return BatchJobRequest(
            name: "\(pod.metadata.namespace).\(pod.metadata.name)",
            partition: try slurmName(Annotation.partition, configuration.partition),
            account: try slurmName(Annotation.account, configuration.account),
            qos: try slurmName(Annotation.qos, configuration.qos),
            cpusPerTask: cpus, memoryMiB: memory, gpus: gpus,
            gpuModel: try slurmName(Annotation.gpuModel, nil),
            timeLimitMinutes: seconds.map { max(1, ($0 + 59) / 60) },
            afterOK: afterOK, workDir: podDir,
            comment: "dte-agent:\(instanceID):\(pod.metadata.uid)",
            extraFlags: try extraFlags(annotations[Annotation.slurmFlags]),
            hold: configuration.holdJobs,
            userID: account?.uid, groupID: account?.gid,
            project: try slurmName(Annotation.project, nil))
    }

    /// The account a pod's job runs as; nil: the agent's own account.
    ///
    /// Without `allow-run-as-user` jobs run as the agent (a `runAsUser` other than the agent's
    /// own uid is refused). With it (the agent must be root: Slurm lets only root submit for
    /// another user): the pod's `runAsUser`, else the site's `run-as-default-user`, else the
    /// pod is refused; the uid must be listed in `run-as-users`, the group (`runAsGroup`, else
    /// the user's primary group) must be one the user belongs to and, when the site lists
    /// `run-as-groups`, one of those; uid 0 and gid 0 never. One pod is one job, so every
    /// container runs as the same user.
    func runAs(_ pod: Pod, agentUID: Int = Int(geteuid())) throws(AgentError) -> (uid: Int, gid: Int)? {
        let all = pod.spec.initContainers + pod.spec.containers
        let users = all.map { $0.securityContext?.runAsUser ?? pod.spec.securityContext?.runAsUser }
        let groups = all.map { $0.securityContext?.runAsGroup ?? pod.spec.securityContext?.runAsGroup }
        guard Set(users).count == 1, Set(groups).count == 1 else {
            throw AgentError(.unsupported, "all containers of a pod run as one user (one Slurm job): "
                                + "runAsUser/runAsGroup differ between its containers")
        }
        let asked = users.first ?? nil
        let group = groups.first ?? nil
        if let asked { _ = try Checked.inRange(asked, 0...Limits.accountID.upperBound, "runAsUser") }
        if let group { _ = try Checked.inRange(group, 0...Limits.accountID.upperBound, "runAsGroup") }
        guard configuration.allowRunAsUser else {
            if group != nil && asked == nil {
                throw AgentError(.unsupported, "runAsGroup without runAsUser is not supported; set runAsUser too")
            }
            guard let asked, asked != agentUID || group != nil else { return nil }
            throw AgentError(.unsupported, "runAsUser \(asked) is not honoured on this site (allow-run-as-user is off); "
                                + "jobs run as the agent's account")
        }
        guard let uid = asked ?? configuration.runAsDefaultUser else {
            throw AgentError(.unsupported, "the pod sets no runAsUser and this site has no run-as-default-user: "
                                + "set securityContext.runAsUser to an allowed uid (run-as-users: \(Self.describe(configuration.runAsUsers)))")
        }
        guard uid > 0, group.map({ $0 > 0 }) ?? true else {
            throw AgentError(.unsupported, "runAsUser/runAsGroup 0 (root) is never honoured")
        }
        guard asked == nil || configuration.runAsUsers.contains(where: { $0.contains(uid) }) else {
            throw AgentError(.unsupported, "runAsUser \(uid) is not one this site allows "
                                + "(run-as-users: \(Self.describe(configuration.runAsUsers)))")
        }
        guard agentUID == 0 else {
            throw AgentError(.unsupported, "the agent runs as uid \(agentUID), not root, so it cannot submit jobs as uid \(uid)")
        }
        guard let account = Accounts.user(uid: uid) else {
            throw AgentError(.unsupported, "runAsUser \(uid) has no account on this host")
        }
        let gid = group ?? account.gid
        guard gid > 0 else { throw AgentError(.unsupported, "uid \(uid)'s primary group is 0 (root), which is never honoured") }
        guard Accounts.groups(of: account).contains(gid) else {
            throw AgentError(.unsupported, "runAsGroup \(gid) is not a group of user \(account.name) (uid \(uid))")
        }
        if !configuration.runAsGroups.isEmpty, !configuration.runAsGroups.contains(where: { $0.contains(gid) }) {
            throw AgentError(.unsupported, "group \(gid) is not one this site allows "
                                + "(run-as-groups: \(Self.describe(configuration.runAsGroups)))")
        }
        return (uid, gid)
    }

    static func describe(_ ranges: [ClosedRange<Int>]) -> String {
        ranges.isEmpty ? "none" : ranges.map { $0.count == 1 ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            .joined(separator: ", ")
    }

    func extraFlags(_ text: String?) throws(AgentError) -> [String] {
        guard let text, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return [] }
        guard !configuration.allowedSbatchFlags.isEmpty else {
            throw AgentError(.unsupported, "annotation \(Annotation.slurmFlags) is not allowed on this site (no allowed-sbatch-flags)")
        }
        var flags: [String] = []
        for token in text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }) {
            let flag = String(token)
            let name = flag.split(separator: "=", maxSplits: 1).first.map(String.init) ?? flag
            guard flag.hasPrefix("--"), configuration.allowedSbatchFlags.contains(name) else {
                throw AgentError(.unsupported, "annotation \(Annotation.slurmFlags): '\(name)' is not an allowed sbatch flag "
                                    + "(allowed: \(configuration.allowedSbatchFlags.joined(separator: ", ")); write flags as --name=value)")
            }
            guard !PodValidation.hasNUL(flag) else { throw AgentError.invalid("sbatch flags cannot contain NUL bytes") }
            flags.append(flag)
        }
        return flags
    }

    // MARK: - Scripts

    /// `job.slurm`: the `#SBATCH` header, then the runner itself. Slurm keeps the script it
    /// was given, so what runs never depends on a file in the pod folder (which the job's
    /// user may write).
    static func batchScript(request: BatchJobRequest, runner: String) -> String {
        var lines = ["#!/bin/bash"]
        lines += request.sbatchOptions.map { "#SBATCH \($0)" }
        var body = Substring(runner)
        if body.hasPrefix("#!") { body = body.drop { $0 != "\n" }.dropFirst() }
        return lines.joined(separator: "\n") + "\n" + body
    }

    /// Where the agent keeps the script it submits: `<pod folder>/job.slurm`, or, when the
    /// job runs as another account (whose pod folder it is), `<work-dir>/.scripts/<folder>.slurm`,
    /// which only the agent can read and write. Recovery after a restart reads it back from there.
    public func scriptPath(podDir: String, request: BatchJobRequest) -> String {
        guard request.userID != nil else { return (podDir as NSString).appendingPathComponent("job.slurm") }
        return PodFolder.agentScriptPath(podDir: podDir)
    }
}
