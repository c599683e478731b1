import Foundation

/// What Slurm is asked for: the structured request behind a pod's `sbatch`.
/// The CLI backend writes it as `#SBATCH` lines; the libslurm backend fills a job descriptor.
public struct BatchJobRequest: Codable, Sendable, Hashable {
    public var name: String
    public var partition: String?
    public var account: String?
    public var qos: String?
    public var cpusPerTask: Int
    public var memoryMiB: Int
    public var gpus: Int
    public var gpuModel: String?
    public var timeLimitMinutes: Int?
    /// Jobs that must finish successfully first (`--dependency=afterok:…`).
    public var afterOK: [String]
    /// The pod folder: the job's working directory, holding `job.out`.
    public var workDir: String
    /// Identifies the pod and the agent instance that submitted it (`dte-agent:<instance>:<uid>`).
    public var comment: String
    /// Allow-listed extra flags from the pod (`--constraint=x`), already validated.
    public var extraFlags: [String]
    /// Submit held (site setting `hold-jobs`); nil means false.
    public var hold: Bool?
    /// The Unix account the job runs as, when the pod's `runAsUser` is honoured (site
    /// setting `allow-run-as-user`, agent running as root); nil: the agent's own account.
    public var userID: Int? = nil
    /// The job's group, with `userID` (`runAsGroup`, else the user's primary group).
    public var groupID: Int? = nil
    /// The project the job's usage is accounted to (`dte.io/project`); nil: the account, else the namespace.
    public var project: String? = nil
    /// Nodes of the job (`--nodes`, from the pod's flags or its flavor); nil: one. A job on
    /// several nodes has one task per node, and its containers run through srun on each.
    public var nodes: Int? = nil

    /// The job's node count (and task count: one task per node).
    public var nodeCount: Int { max(1, nodes ?? 1) }

    /// `--gres` value, when the pod asks for GPUs.
    public var gres: String? {
        guard gpus > 0 else { return nil }
        if let model = gpuModel { return "gpu:\(model):\(gpus)" }
        return "gpu:\(gpus)"
    }

    /// The sbatch long options for this request (without the script).
    public var sbatchOptions: [String] {
        var options = [
            "--job-name=\(name)",
            "--output=\(workDir)/job.out",
            "--chdir=\(workDir)",
            "--nodes=\(nodeCount)",
            "--ntasks=\(nodeCount)",
            "--cpus-per-task=\(cpusPerTask)",
            "--mem=\(memoryMiB)M",
            "--comment=\(comment)",
        ]
        if nodeCount > 1 { options.append("--ntasks-per-node=1") }
        if let gres { options.append("--gres=\(gres)") }
        if let minutes = timeLimitMinutes { options.append("--time=\(minutes)") }
        if let partition { options.append("--partition=\(partition)") }
        if let account { options.append("--account=\(account)") }
        if let qos { options.append("--qos=\(qos)") }
        if !afterOK.isEmpty { options.append("--dependency=afterok:" + afterOK.joined(separator: ":")) }
        if hold == true { options.append("--hold") }
        if let userID { options.append("--uid=\(userID)") }
        if let groupID { options.append("--gid=\(groupID)") }
        options.append(contentsOf: extraFlags)
        return options
    }
}

/// A file to create in the pod folder.
public struct PodFile: Sendable, Hashable {
    /// Relative to the pod folder; validated (no `..`, not absolute).
    public var path: String
    public var contents: Data
    /// POSIX permission bits.
    public var mode: Int

    public init(path: String, contents: Data, mode: Int) {
        self.path = path
        self.contents = contents
        self.mode = mode
    }
}

/// Everything needed to run one pod as one Slurm job: the request, the folder layout and
/// the scripts. Pure data; writing the folder and submitting happen elsewhere.
public struct PodJob: Sendable, Hashable {
    public var uid: String
    public var namespace: String
    public var name: String
    /// The pod folder (absolute).
    public var podDir: String
    public var request: BatchJobRequest
    /// Folders to create (relative to `podDir`) with their modes, parents first.
    public var directories: [(path: String, mode: Int)]
    /// Files to write, volumes and environment files included (secrets with mode 0600).
    public var files: [PodFile]
    /// `job.slurm`: the `#SBATCH` header followed by the runner (what is submitted).
    public var batchScript: String
    /// The runner part of `batchScript`: runs the containers and records their status.
    public var runnerScript: String
    /// Where `batchScript` is written (see `PodJobBuilder.scriptPath`).
    public var scriptPath: String
    /// Init container names, in order.
    public var initContainers: [String]
    /// Regular container names, in order.
    public var containers: [String]
    /// Images per container name.
    public var images: [String: String]
    /// What the agent ignored of the pod (unknown `slurm-job.vk.io/*` annotations, …); also
    /// written at the top of every container's log.
    public var warnings: [String] = []

    public static func == (lhs: PodJob, rhs: PodJob) -> Bool {
        lhs.uid == rhs.uid && lhs.batchScript == rhs.batchScript && lhs.runnerScript == rhs.runnerScript
            && lhs.files == rhs.files && lhs.request == rhs.request
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(uid)
        hasher.combine(batchScript)
    }
}
