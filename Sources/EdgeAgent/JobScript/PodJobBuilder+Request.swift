import Foundation
import PodWire

extension PodJobBuilder {
    // MARK: - Resources and the Slurm request

    struct Amount { var cpu = 0.0; var memory = 0.0; var gpus = 0.0; var cpuSet = false; var memorySet = false }

    /// A container's cpu, memory and GPUs (limits, else requests); GPUs under any resource
    /// name the site maps (`gpu-resources`).
    func amount(_ resources: ResourceRequirements) throws(AgentError) -> Amount {
        var a = Amount()
        func value(_ key: String) throws(AgentError) -> Double? {
            guard let text = resources.limits[key] ?? resources.requests[key] else { return nil }
            guard let number = Quantity.parse(text) else { throw AgentError.invalid("resource \(key) '\(text)' is not a quantity") }
            return number
        }
        if let cpu = try value("cpu") { a.cpu = cpu; a.cpuSet = true }
        if let memory = try value("memory") { a.memory = memory; a.memorySet = true }
        for gpu in configuration.gpuResources { a.gpus += try value(gpu.resource) ?? 0 }
        return a
    }

    /// The GPU resource the pod's containers ask for (one kind per pod: one `--gres`), nil
    /// when none; a GPU resource the site does not map is refused, never run without it.
    static func gpuResource(of pod: Pod, _ mapped: [GPUResource]) throws(AgentError) -> GPUResource? {
        var asked: Set<String> = []
        for container in pod.spec.initContainers + pod.spec.containers {
            for name in Set(container.resources.limits.keys).union(container.resources.requests.keys) {
                if mapped.contains(where: { $0.resource == name }) {
                    let text = container.resources.limits[name] ?? container.resources.requests[name] ?? "0"
                    if (Quantity.parse(text) ?? 1) > 0 { asked.insert(name) }
                } else if GPUResource.looksLikeGPU(name) {
                    throw AgentError(.unsupported, "container '\(container.name)': resource \(name.prefix(100)) is not a GPU this site "
                                        + "offers (gpu-resources: \(mapped.map(\.resource).joined(separator: ", ")))")
                }
            }
        }
        guard asked.count <= 1 else {
            throw AgentError.invalid("the pod asks for GPUs of several kinds (\(asked.sorted().joined(separator: ", "))); one Slurm job has one GPU type")
        }
        return asked.first.flatMap { name in mapped.first { $0.resource == name } }
    }

    func jobRequest(pod: Pod, podDir: String, afterOK: [String], annotations pa: PodAnnotations,
                    gpu: GPUResource?) throws(AgentError) -> BatchJobRequest {
        var regular = Amount()
        for container in pod.spec.containers {
            let a = try amount(container.resources)
            regular.cpu += a.cpu; regular.memory += a.memory; regular.gpus += a.gpus
            regular.cpuSet = regular.cpuSet || a.cpuSet; regular.memorySet = regular.memorySet || a.memorySet
        }
        var peak = regular
        for container in pod.spec.initContainers {
            let a = try amount(container.resources)
            peak.cpu = max(peak.cpu, a.cpu); peak.memory = max(peak.memory, a.memory); peak.gpus = max(peak.gpus, a.gpus)
            peak.cpuSet = peak.cpuSet || a.cpuSet; peak.memorySet = peak.memorySet || a.memorySet
        }
        // What the pod asks wins; then the pod's sbatch flags, then its flavor, then the site's defaults.
        let flavor = pa.flavor
        let cpus = peak.cpuSet
            ? try Checked.roundedUp(max(1, peak.cpu), Limits.cpus, "resources cpu (the pod's containers together)")
            : pa.flags.cpus ?? flavor?.options.cpus ?? flavor?.cpus ?? configuration.defaultCPUs
        let memory = peak.memorySet && peak.memory > 0
            ? try Checked.roundedUp(peak.memory / 1_048_576, Limits.memoryMiB,
                                    "resources memory (the pod's containers together)", unit: "MiB")
            : pa.flags.memoryMiB ?? flavor?.options.memoryMiB ?? flavor?.memoryMiB ?? configuration.defaultMemoryMiB
        let askedGPUs = try Checked.roundedUp(peak.gpus, Limits.gpus, "resources \(gpu?.resource ?? "nvidia.com/gpu") (the pod's containers together)")
        let gpus = askedGPUs > 0 ? askedGPUs : pa.flags.gpus ?? flavor?.options.gpus ?? 0

        let annotations = pod.metadata.annotations
        func slurmName(_ key: String, _ fallback: String?) throws(AgentError) -> String? {
            guard let value = annotations[key] else { return fallback }
            guard PodValidation.isSlurmName(value) else {
                throw AgentError.invalid("annotation \(key): '\(value)' is not a valid Slurm name")
            }
            return value
        }
        var seconds = flavor?.options.walltimeSeconds ?? configuration.defaultWalltimeSeconds
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
        if let flagged = pa.flags.walltimeSeconds { seconds = min(flagged, seconds ?? flagged) }
        for id in afterOK where !id.allSatisfy(\.isNumber) {
            throw AgentError(.internalFailure, "dependency job id '\(id)' is not numeric")
        }
        let account = try runAs(pod)
        let model = try slurmName(Annotation.gpuModel, nil) ?? pa.flags.gpuModel
            ?? (askedGPUs > 0 ? gpu?.model : nil) ?? flavor?.options.gpuModel
        return BatchJobRequest(
            name: "\(pod.metadata.namespace).\(pod.metadata.name)",
            partition: try slurmName(Annotation.partition, pa.flags.partition ?? flavor?.options.partition ?? configuration.partition),
            account: try slurmName(Annotation.account, pa.flags.account ?? flavor?.options.account ?? configuration.account),
            qos: try slurmName(Annotation.qos, pa.flags.qos ?? flavor?.options.qos ?? configuration.qos),
            cpusPerTask: cpus, memoryMiB: memory, gpus: gpus,
            gpuModel: gpus > 0 ? model : nil,
            timeLimitMinutes: seconds.map { max(1, ($0 + 59) / 60) },
            afterOK: afterOK, workDir: podDir,
            comment: "dte-agent:\(instanceID):\(pod.metadata.uid)",
            extraFlags: (flavor?.options.extra ?? []) + pa.flags.extra,
            hold: configuration.holdJobs,
            userID: account?.uid, groupID: account?.gid,
            project: try slurmName(Annotation.project, nil),
            nodes: pa.flags.nodes ?? flavor?.options.nodes)
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
}
