import DTEPlanner
import Foundation

/// One pod to run at a site: a component, where it goes, its UID and the UIDs it waits for.
public struct PodRequest: Sendable, Hashable {
    public var address: String
    public var spec: ComponentSpec
    public var placement: PlacementDecision
    public var uid: String
    /// UIDs of pods on the same site that must succeed first (Slurm `afterok`).
    public var afterUIDs: [String]
    public var account: String?

    public init(address: String, spec: ComponentSpec, placement: PlacementDecision, uid: String, afterUIDs: [String], account: String?) {
        self.address = address
        self.spec = spec
        self.placement = placement
        self.uid = uid
        self.afterUIDs = afterUIDs
        self.account = account
    }
}

/// A pod as the provider knows it.
public struct PodRef: Sendable, Hashable {
    public var name: String
    public var namespace: String
    public var uid: String

    public init(name: String, namespace: String, uid: String) {
        self.name = name
        self.namespace = namespace
        self.uid = uid
    }
}

/// What a site reports about a pod.
public struct PodObservation: Sendable, Hashable {
    public enum Phase: String, Sendable { case pending, running, succeeded, failed, unknown }
    public var uid: String
    public var jobID: String
    public var phase: Phase
    public var exitCode: Int?
    public var startedAt: Date?
    public var finishedAt: Date?
    /// Why it ended when not plainly (`OOMKilled`, `Cancelled`, `SlurmJobTimeout`, …), or `Held`
    /// for a job the scheduler holds.
    public var reason: String?
    /// The site's own words about it (the scheduler's reason for a held job).
    public var message: String?
    /// The job's scheduler parameters now and as submitted (for drift), when the site says.
    public var job: SiteJobParameters?
    public var submitted: SiteJobParameters?

    public init(uid: String, jobID: String, phase: Phase, exitCode: Int?, startedAt: Date? = nil, finishedAt: Date? = nil,
                reason: String? = nil, message: String? = nil, job: SiteJobParameters? = nil, submitted: SiteJobParameters? = nil) {
        self.uid = uid
        self.jobID = jobID
        self.phase = phase
        self.exitCode = exitCode
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.reason = reason
        self.message = message
        self.job = job
        self.submitted = submitted
    }
}

extension ObservedPod {
    /// What a plan records of a site's report.
    public init(_ o: PodObservation) {
        self.init(phase: o.phase.rawValue, jobID: o.jobID, exitCode: o.exitCode, startedAt: o.startedAt, finishedAt: o.finishedAt,
                  reason: o.reason, message: o.message, job: o.job, submitted: o.submitted)
    }
}

/// Why a provider call failed, classified by what the caller should do.
public struct ProviderError: Error, Sendable, CustomStringConvertible {
    /// `unreachable`: no answer (may pass); `rejected`: the site refused this request; `failed`: an
    /// answer that makes no sense; `unauthenticated`: the site wants another token (HTTP 401);
    /// `forbidden`: the token's identity may not do this (HTTP 403); `credentials`: no usable token
    /// could be had here (file unreadable, token malformed, oidc-token failed). The last three do
    /// not pass by asking again.
    public enum Kind: String, Sendable { case unreachable, rejected, failed, unauthenticated, forbidden, credentials }
    public var kind: Kind
    public var site: String
    public var message: String
    public init(_ kind: Kind, site: String, _ message: String) {
        self.kind = kind
        self.site = site
        self.message = message
    }
    public var description: String { "site \(site): \(message)" }

    /// Whether asking again cannot help (the token or its identity must change first).
    public var isAuthorization: Bool { [.unauthenticated, .forbidden, .credentials].contains(kind) }

    /// Whether the same call may succeed later unchanged (no answer): the engine retries it with
    /// bounded backoff. Every other kind is an answer (a refusal or nonsense) and fails at once.
    public var isTransient: Bool { kind == .unreachable }
}

/// How apply reaches a site. Contract: `create` is idempotent on the pod UID (a second call
/// returns the job of the first); `delete` may be called more than once and succeeds for a pod
/// the site does not know.
public protocol Provider: Sendable {
    /// Where the site is reached (a URL), for messages.
    var endpoint: String { get }
    func create(_ pod: PodRequest) async throws -> String
    func status(_ pods: [PodRef]) async throws -> [PodObservation]
    func delete(_ pod: PodRef) async throws
}
