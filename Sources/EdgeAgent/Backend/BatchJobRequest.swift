import Foundation

/// What a pod's job asks of its scheduler, in no scheduler's terms: resources, limits,
/// dependencies, where it runs and whom it is accounted to. Each backend translates it: the
/// Slurm CLI into `#SBATCH` lines (`SbatchDirectives.swift`), libslurm into a job descriptor,
/// HTCondor into a submit description.
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
}
