import Foundation
import PodWire

/// Turns a pod (with the ConfigMaps and Secrets sent along) into a `PodJob`: validates every
/// name, key and path, lays out the pod folder, resolves the environment, sums resources and
/// writes the scripts. Pure: no file is written and nothing is submitted here.
public struct PodJobBuilder: Sendable {
    public var configuration: AgentConfiguration
    /// This agent's instance identifier (recorded in each job's comment).
    public var instanceID: String

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
        let gpuAsk = try Self.gpuResource(of: pod, configuration.gpuResources)
        let annotations = try PodAnnotations(pod, configuration: configuration, asksGPUs: gpuAsk != nil)

        let podDir = podDirectory(namespace: meta.namespace, uid: meta.uid)
        let request = try jobRequest(pod: pod, podDir: podDir, afterOK: afterOK, annotations: annotations, gpu: gpuAsk)
        let downward = DownwardAPI(pod: pod, podIP: annotations.podIP, allocatedCPUs: request.cpusPerTask,
                                   allocatedMemoryMiB: request.memoryMiB)
        var layout = Layout()
        let sources = try Sources(data)
        let volumes = try resolveVolumes(pod.spec.volumes, sources: sources, downward: downward, podDir: podDir, layout: &layout)

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
                let plan = try plan(container, kind: kind, index: index, pod: pod, sources: sources, volumes: volumes,
                                    annotations: annotations, downward: downward)
                plans.append(plan)
                layout.file(plan.envFile, envFileContents(plan), mode: 0o600)
                if configuration.runtime == .apptainer || configuration.runtime == .singularity {
                    layout.file("\(plan.filePrefix).apptainer-env", Data(apptainerEnvFile(plan).utf8), mode: 0o600)
                }
            }
        }

        var warnings = annotations.warnings
        let probing = (pod.spec.initContainers + pod.spec.containers).filter {
            $0.startupProbe != nil || $0.livenessProbe != nil || $0.readinessProbe != nil
        }
        if !configuration.runProbes, !probing.isEmpty {
            warnings.append("this site does not run probes (run-probes: false); the probes of \(probing.map(\.name).joined(separator: ", ")) are not run")
        }
        var runtime = ContainerRuntime(configuration: configuration, podUID: meta.uid)
        runtime.imageRoot = annotations.imageRoot
        runtime.podOptions = annotations.runtimeOptions
        // a multi-node job's containers go through srun even without mpi-flags: one copy per node
        runtime.srunOptions = annotations.mpiFlags ?? (request.nodeCount > 1 ? [] : nil)
        let runner = try RunnerScript(podDir: podDir, plans: plans, runtime: runtime, preExec: annotations.preExec,
                                      notices: warnings).render()
        let batch = configuration.backend.jobScript(request: request, runner: runner, shell: configuration.bashPath)
        if configuration.layout == .interlink {
            // interLink's Slurm plugin's files, for the site's scripts: the runner as job.sh (job.slurm
            // carries it inline, so what runs never depends on a file the job can change), the pod's
            // UID and namespace; JobID.jid follows once Slurm has answered.
            layout.file("job.sh", Data(runner.utf8), mode: 0o700)
            layout.file("PodUID.uid", Data(meta.uid.utf8), mode: 0o600)
            layout.file("PodNamespace.ns", Data(meta.namespace.utf8), mode: 0o600)
        }
        var images: [String: String] = [:]
        for plan in plans { images[plan.name] = plan.image }
        return PodJob(
            uid: meta.uid, namespace: meta.namespace, name: meta.name, podDir: podDir, request: request,
            directories: layout.directories, files: layout.files, batchScript: batch, runnerScript: runner,
            scriptPath: scriptPath(podDir: podDir, request: request),
            initContainers: plans.filter { $0.kind == .initContainer }.map(\.name),
            containers: plans.filter { $0.kind == .regular }.map(\.name), images: images, warnings: warnings)
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

    // MARK: - Containers

    private func plan(_ container: Container, kind: ContainerPlan.Kind, index: Int, pod: Pod, sources: Sources,
                      volumes: [String: ResolvedVolume], annotations: PodAnnotations,
                      downward: DownwardAPI) throws(AgentError) -> ContainerPlan {
        let name = container.name
        var env: [(String, String)] = []
        var values: [String: String] = [:]
        func add(_ key: String, _ value: String) throws(AgentError) {
            guard PodValidation.isEnvName(key) else { throw AgentError.invalid("container '\(name)': env name '\(key)' is invalid") }
            guard !PodValidation.hasNUL(value) else { throw AgentError.invalid("container '\(name)': env '\(key)' contains a NUL byte") }
            env.append((key, value))
            values[key] = value
        }
        // interLink's plugin exports the pod's IP to the job; here it is data in the env file
        if let ip = annotations.podIP { try add("POD_IP", ip) }
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
                    try add(variable.name, downward.field(field.fieldPath, use: .environment,
                                                          what: "container '\(name)': env '\(variable.name)'"))
                } else if let resource = from.resourceFieldRef {
                    try add(variable.name, downward.resource(resource, reader: container,
                                                             what: "container '\(name)': env '\(variable.name)'"))
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
            let readOnly = mount.readOnly == true || [.configMap, .secret, .projected, .downwardAPI].contains(volume.kind)
            mounts.append(ContainerPlan.Mount(source: source, target: Self.normalize(mount.mountPath), readOnly: readOnly,
                                              confinement: confinement))
        }
        mounts += annotations.mounts
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
            preStop: try hook(container.lifecycle?.preStop, "preStop"),
            probes: configuration.runProbes ? try ProbePlan.plans(for: container) : [])
        if kind == .initContainer && !plan.probes.isEmpty {
            throw AgentError.invalid("init container '\(name)' cannot have probes (Kubernetes runs them for regular containers only)")
        }
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

    // MARK: - Scripts

    /// Where the agent keeps the script it submits: `<pod folder>/job.slurm`, or, when the
    /// job runs as another account (whose pod folder it is), `<work-dir>/.scripts/<folder>.slurm`,
    /// which only the agent can read and write. Recovery after a restart reads it back from there.
    public func scriptPath(podDir: String, request: BatchJobRequest) -> String {
        guard request.userID != nil else { return (podDir as NSString).appendingPathComponent("job.slurm") }
        return PodFolder.agentScriptPath(podDir: podDir)
    }
}
