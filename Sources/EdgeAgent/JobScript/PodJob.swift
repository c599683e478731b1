import Foundation

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
    /// `job.slurm`: what is submitted, the runner under its scheduler's header (`BackendKind.jobScript`).
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
