import Foundation
import PodWire

/// Every pod the agent tracks, compact, with the indexes the controller needs: containers
/// shared between pods with the same ones, creators' identities shared, and how many pods each
/// identity holds, and each pod's `/status` entry encoded ahead of time (re-encoded whenever
/// what it shows changes, so a request copies bytes). Pure bookkeeping: no I/O, no Slurm; the
/// controller owns one.
struct PodRegistry: Sendable {
    private(set) var byUID: [String: TrackedPod] = [:]
    let renderer: StatusRenderer
    /// Container lists shared by pods with the same containers.
    private var shapes: Set<PodShape> = []
    /// Identities of the pods' creators (shared text), and how many pods each has.
    private var owners: Set<String> = []
    private var podsPerOwner: [String: Int] = [:]

    init(renderer: StatusRenderer) {
        self.renderer = renderer
    }

    /// The registry of the pods a store holds (at start-up).
    init(records: [PodRecord], renderer: StatusRenderer) {
        self.renderer = renderer
        for record in records {
            let shape = intern(PodShape(initContainers: record.initContainers, containers: record.containers))
            let owner = intern(identity: record.owner.identity)
            var pod = TrackedPod(record, shape: shape, owner: owner,
                                 defaultDir: renderer.podDirectory(record.namespace, record.uid))
            if record.phase == .finished {
                pod.failed = (record.status.map { $0.containers + $0.initContainers } ?? []).contains {
                    ($0.state.terminated?.exitCode ?? 1) != 0
                }
            }
            track(pod, finalStatus: record.phase == .finished ? record.status : nil)
        }
    }

    /// The pod with this UID; setting adds, replaces (counts kept) or, with nil, removes it.
    subscript(uid: String) -> TrackedPod? {
        get { byUID[uid] }
        set {
            if let newValue { track(newValue) } else { untrack(uid) }
        }
    }

    var count: Int { byUID.count }
    var pods: Dictionary<String, TrackedPod>.Values { byUID.values }
    var activeCount: Int { byUID.values.reduce(0) { $0 + ($1.phase == .finished ? 0 : 1) } }

    /// How many pods the identity holds.
    func held(by identity: String) -> Int { podsPerOwner[identity, default: 0] }

    mutating func intern(_ shape: PodShape) -> PodShape { shapes.insert(shape).memberAfterInsert }
    mutating func intern(identity: String) -> String { owners.insert(identity).memberAfterInsert }

    /// Adds or replaces a pod, keeping the per-identity counts and its encoded status: a pod
    /// that finishes gets `finalStatus` (kept from then on); an unfinished one is re-encoded
    /// when what its status is made of changed.
    mutating func track(_ pod: TrackedPod, finalStatus: PodStatus? = nil) {
        var pod = pod
        let old = byUID[pod.uid]
        if let finalStatus {
            pod.statusJSON = renderer.encode(finalStatus)
        } else if let old, !old.statusJSON.isEmpty,
                  old.phase == .finished ? pod.phase == .finished : old.showsSameStatus(as: pod) {
            pod.statusJSON = old.statusJSON
        } else {
            pod.statusJSON = renderer.encode(renderer.currentStatus(pod, now: Date().timeIntervalSince1970))
        }
        byUID[pod.uid] = pod
        if let old { release(old.owner) }
        podsPerOwner[pod.owner, default: 0] += 1
    }

    /// The encoded `/status` entries of these pods, in the order asked (unknown pods and
    /// those in namespaces the caller may not see are left out).
    func encodedStatuses(of uids: [String], visibility: PodVisibility) -> [[UInt8]] {
        uids.compactMap { uid in
            guard let pod = byUID[uid], visibility.allows(pod.namespace), !pod.statusJSON.isEmpty else { return nil }
            return pod.statusJSON
        }
    }

    mutating func untrack(_ uid: String) {
        guard let old = byUID.removeValue(forKey: uid) else { return }
        release(old.owner)
    }

    private mutating func release(_ owner: String) {
        let left = podsPerOwner[owner, default: 1] - 1
        podsPerOwner[owner] = left > 0 ? left : nil
    }

    /// The pod a request names: by UID, else (no UID given) by namespace and name; nil when
    /// unknown or in a namespace the caller may not see.
    func find(uid: String, namespace: String, name: String, visibility: PodVisibility) -> TrackedPod? {
        let pod = uid.isEmpty ? byUID.values.first { $0.namespace == namespace && $0.name == name } : byUID[uid]
        guard let pod, visibility.allows(pod.namespace) else { return nil }
        return pod
    }
}

/// A pod as the controller keeps it in memory (a few hundred bytes): statuses are not kept.
struct TrackedPod: Sendable {
    var uid: String
    var namespace: String
    var name: String
    var jobID: String?
    var phase: PodRecord.Phase
    /// The containers (shared between pods with the same ones).
    var shape: PodShape
    /// The identity that created the pod (`Caller.identity`; shared text).
    var owner: String
    /// The pod folder when it is not where the builder puts it (`<work-dir>/<namespace>-<uid>`).
    var customDir: String?
    var deleteRequested = false
    /// Finished with a container that failed (for `dte.io/after`).
    var failed = false
    var createdAt: Double
    var updatedAt: Double
    var finishedAt: Double?
    /// What the last poll saw, for active pods.
    var live: LiveState?
    /// The job's scheduler parameters as this agent submitted them (in memory only: unknown
    /// after a restart).
    var submitted: JobParameters?
    /// Its `/status` entry, encoded (interLink's `PodStatus` JSON); the registry keeps it current.
    fileprivate(set) var statusJSON: [UInt8] = []

    init(uid: String, namespace: String, name: String, jobID: String?, phase: PodRecord.Phase, shape: PodShape,
         owner: String, customDir: String?, createdAt: Double, updatedAt: Double) {
        self.uid = uid
        self.namespace = namespace
        self.name = name
        self.jobID = jobID
        self.phase = phase
        self.shape = shape
        self.owner = owner
        self.customDir = customDir
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    init(_ record: PodRecord, shape: PodShape, owner: String, defaultDir: String) {
        self.init(uid: record.uid, namespace: record.namespace, name: record.name, jobID: record.jobID, phase: record.phase,
                  shape: shape, owner: owner, customDir: record.podDir == defaultDir ? nil : record.podDir,
                  createdAt: record.createdAt, updatedAt: record.updatedAt)
        deleteRequested = record.deleteRequested
        finishedAt = record.finishedAt
    }

    /// Whether `other` (the same pod, changed) shows the same status as this one: the same
    /// names, job, phase, containers and last look. Anything else it holds is not in its status.
    func showsSameStatus(as other: TrackedPod) -> Bool {
        uid == other.uid && name == other.name && namespace == other.namespace && jobID == other.jobID
            && phase == other.phase && live == other.live && shape == other.shape && customDir == other.customDir && submitted == other.submitted
    }

    /// The status-file prefixes of its containers (`init-<name>`, `run-<name>`).
    var containerFilePrefixes: [String] {
        shape.initContainers.map { "init-\($0.name)" } + shape.containers.map { "run-\($0.name)" }
    }
}

/// A pod's containers.
struct PodShape: Sendable, Hashable {
    var initContainers: [TrackedContainer]
    var containers: [TrackedContainer]
}

/// What the last poll saw of an active pod's job and its status files.
struct LiveState: Sendable, Hashable {
    var job: BatchJobStatus?
    var files: [String: ContainerRecord]?
}

extension BatchJobStatus {
    /// Without the comment (only needed to match jobs to pods).
    var compact: BatchJobStatus {
        var copy = self
        copy.comment = nil
        return copy
    }
}
