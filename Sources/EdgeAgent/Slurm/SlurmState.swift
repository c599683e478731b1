import Foundation

/// Slurm's job states (`squeue`/`sacct` long and short names, libslurm's base state numbers)
/// and the neutral phase each one is.
public enum SlurmState: String, Sendable, Codable, CaseIterable {
    case pending = "PENDING", running = "RUNNING", suspended = "SUSPENDED", completing = "COMPLETING"
    case completed = "COMPLETED", failed = "FAILED", cancelled = "CANCELLED", timeout = "TIMEOUT"
    case nodeFail = "NODE_FAIL", outOfMemory = "OUT_OF_MEMORY", preempted = "PREEMPTED"
    case bootFail = "BOOT_FAIL", deadline = "DEADLINE", requeued = "REQUEUED", unknown = "UNKNOWN"

    /// Parses `CANCELLED by 0`, `CD`, `COMPLETED`, … (at most the first 64 bytes are looked at).
    public init(slurm text: String) {
        let word = (text.split(separator: " ", maxSplits: 1).first.map(String.init) ?? text).prefix(64).uppercased()
        if let state = SlurmState(rawValue: word) { self = state; return }
        switch word {
        case "PD": self = .pending
        case "R", "SO", "SE", "RS", "RH", "RF", "RD", "SI", "RV": self = .running
        case "CG": self = .completing
        case "S", "ST": self = .suspended
        case "CD": self = .completed
        case "F": self = .failed
        case "CA": self = .cancelled
        case "TO": self = .timeout
        case "NF": self = .nodeFail
        case "OOM": self = .outOfMemory
        case "PR": self = .preempted
        case "BF": self = .bootFail
        case "DL": self = .deadline
        case "RQ": self = .requeued
        case "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "SPECIAL_EXIT", "RESV_DEL_HOLD":
            self = .running
        default: self = .unknown
        }
    }

    /// libslurm's `job_state`: the base state in the low byte, flags above it.
    init(jobState: UInt32) {
        switch jobState & 0xff {
        case 0: self = .pending
        case 1: self = jobState & (1 << 15) /* JOB_COMPLETING */ != 0 ? .completing : .running
        case 2: self = .suspended
        case 3: self = .completed
        case 4: self = .cancelled
        case 5: self = .failed
        case 6: self = .timeout
        case 7: self = .nodeFail
        case 8: self = .preempted
        case 9: self = .bootFail
        case 10: self = .deadline
        case 11: self = .outOfMemory
        default: self = .unknown
        }
    }

    /// The neutral phase of this state.
    public var phase: BatchJobStatus.Phase {
        switch self {
        case .pending, .requeued: .queued
        case .running, .completing: .running
        case .suspended: .suspended
        case .completed: .succeeded
        case .failed: .failed
        case .cancelled: .cancelled
        case .timeout, .deadline: .timedOut
        case .nodeFail: .nodeFailed
        case .bootFail: .bootFailed
        case .outOfMemory: .outOfMemory
        case .preempted: .preempted
        case .unknown: .unknown
        }
    }
}

extension BatchJobStatus {
    /// A status from Slurm's words: the state becomes the phase (the state's name is kept as
    /// `detail`), a reason of `None` is no reason, and Slurm's dependency reasons say where
    /// the job's dependencies stand.
    init(slurmJobID id: String, state: SlurmState, reason: String? = nil, exitCode: Int? = nil, signal: Int? = nil,
         comment: String? = nil, startTime: Double? = nil, endTime: Double? = nil, submitTime: Double? = nil,
         userID: Int? = nil, workDir: String? = nil) {
        let reason = reason == "None" || reason?.isEmpty == true ? nil : reason
        self.init(jobID: id, phase: state.phase, reason: reason, detail: state.rawValue, exitCode: exitCode,
                  signal: signal, comment: comment, startTime: startTime, endTime: endTime, submitTime: submitTime,
                  userID: userID, workDir: workDir)
        switch reason {
        case "Dependency": dependency = .waiting
        case "DependencyNeverSatisfied": dependency = .neverSatisfied
        case "JobHeldUser", "JobHeldAdmin": held = true
        default: break
        }
    }
}

extension SlurmState {
    /// A job's `time_limit` from libslurm in minutes: 0 for none (`INFINITE`), nil when unset (`NO_VAL`).
    static func timeLimitMinutes(_ raw: UInt32) -> Int? {
        switch raw {
        case 0xffff_ffff: 0
        case 0xffff_fffe: nil
        default: Int(raw)
        }
    }

    /// squeue's `%l` (`30:00`, `1-00:00:00`, `UNLIMITED`) in minutes: 0 for none, nil when not a time.
    static func timeLimitMinutes(_ text: String) -> Int? {
        if text == "UNLIMITED" || text == "INFINITE" { return 0 }
        guard let seconds = PodValidation.walltimeSeconds(text) else { return nil }
        let minutes = seconds / 60 + (seconds % 60 == 0 ? 0 : 1)  // no overflow: seconds is at most Int.max
        return minutes <= Int(UInt32.max) ? minutes : nil
    }
}
