import DTEApply
import DTEPlanner
import Foundation

/// What a site's accounting says, for the allocation gate.
public enum SiteAccounting: Sendable, Hashable {
    /// The site's finished jobs the token may see.
    case accounted([AccountedUse])
    /// The usage could not be read: why (names the failure; the site is named by the gate).
    case unavailable(String)
}

/// One finished job's use as accounting recorded it.
public struct AccountedUse: Sendable, Hashable {
    public var project: String
    public var jobID: String
    public var use: AllocationUse
    public init(project: String, jobID: String, use: AllocationUse) {
        self.project = project
        self.jobID = jobID
        self.use = use
    }
}

/// Reads one site's accounting (`dte` asks the site's agent, `GET /v1/usage`).
public typealias AccountingReader = @Sendable (_ site: String) async -> SiteAccounting

/// Core-hours and GPU-hours.
public struct AllocationUse: Sendable, Hashable {
    public var core: Double
    public var gpu: Double
    public init(core: Double = 0, gpu: Double = 0) {
        self.core = core
        self.gpu = gpu
    }
    static func + (a: AllocationUse, b: AllocationUse) -> AllocationUse { AllocationUse(core: a.core + b.core, gpu: a.gpu + b.gpu) }
    static func - (a: AllocationUse, b: AllocationUse) -> AllocationUse { AllocationUse(core: a.core - b.core, gpu: a.gpu - b.gpu) }
    init(_ s: ComponentSpec) { self.init(core: s.coreHours, gpu: s.gpuHours) }
}

/// The allocation gate (built-in hook `allocation`, pre-apply): the plan's predicted core-hours and
/// GPU-hours per site and project, set against what is left of the allocation the site descriptor
/// declares (granted minus what the state already holds) and against the caps of
/// `dte.policies.Allocation`. Over what is left, or over a cap, is `fail` (blocking unless the
/// policy says `enforce: false`); at `warn_at` percent of it a `warn`.
///
/// With `accounting`, what is left is also net of what the site's accounting says the project
/// already used (finished jobs): granted − used − what the state holds that accounting has not
/// counted yet (a resource whose job accounting lists is counted once, as used). A site whose
/// usage cannot be read is a `warn` naming the site and the reason, and the gate falls back to
/// the predicted use alone.
public struct AllocationHook: Hook {
    public var name = "allocation"
    public var phases: Set<HookPhase>
    public var blocking: Bool
    public var caps: [Cap]
    /// What the state holds, by `site/project` (`DesiredState.allocationUse(of:)`); nil: taken from the
    /// plan (the `before` of its changes, so resources outside a `--site`/`--target` scope are not seen).
    public var held: [String: AllocationUse]?
    /// Reads a site's accounting (nil: not asked; the gate counts predicted use only).
    public var accounting: AccountingReader?
    /// Warn at this percentage of what is left when no policy of the project says otherwise.
    public static let defaultWarnAt = 80

    /// A `dte.policies.Allocation` as the gate reads it.
    public struct Cap: Sendable, Hashable {
        public var policy: String
        /// Node names the policy targets (twins or components).
        public var members: [String]
        public var coreHours: Double?
        public var gpuHours: Double?
        public var warnAt: Int
        public var enforce: Bool
        public init(policy: String, members: [String], coreHours: Double?, gpuHours: Double?, warnAt: Int = AllocationHook.defaultWarnAt,
                    enforce: Bool = true) {
            self.policy = policy
            self.members = members
            self.coreHours = coreHours
            self.gpuHours = gpuHours
            self.warnAt = warnAt
            self.enforce = enforce
        }
        func covers(_ s: ComponentSpec) -> Bool { members.contains(s.twin) || members.contains(s.component) }
    }

    /// `blocking` overrides every policy's `enforce` when set (dte.yaml `hooks.allocation.blocking`).
    public init(caps: [Cap] = [], phases: Set<HookPhase> = [.preApply], blocking: Bool? = nil, held: [String: AllocationUse]? = nil,
                accounting: AccountingReader? = nil) {
        self.accounting = accounting
        self.caps = caps
        self.phases = phases
        self.blockingOverride = blocking
        self.blocking = blocking ?? (caps.isEmpty || caps.contains(where: \.enforce))
        self.held = held
    }

    var blockingOverride: Bool?

    public func run(_ input: HookInput) async -> [HookResult] {
        let plan = input.plan
        var predicted: [Key: AllocationUse] = [:]
        var derivedHeld: [Key: AllocationUse] = [:]
        for c in plan.changes {
            if let before = c.before { derivedHeld[Key(site: c.site, project: before.project), default: .init()] = derivedHeld[Key(site: c.site, project: before.project), default: .init()] + AllocationUse(before) }
            if c.action == .create || c.action == .replace, let after = c.after {
                predicted[Key(site: c.site, project: after.project), default: .init()] = predicted[Key(site: c.site, project: after.project), default: .init()] + AllocationUse(after)
            }
        }
        func heldUse(_ k: Key) -> AllocationUse {
            if let held { return held["\(k.site)/\(k.project)"] ?? .init() }
            return derivedHeld[k] ?? .init()
        }
        var readings: [String: SiteAccounting] = [:]
        func reading(_ site: String) async -> SiteAccounting? {
            guard let accounting else { return nil }
            if let known = readings[site] { return known }
            let r = await accounting(site)
            readings[site] = r
            return r
        }
        var out: [HookResult] = []
        let sites = Dictionary(plan.desired.sites.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for key in predicted.keys.sorted() {
            guard let use = predicted[key], use.core > 0 || use.gpu > 0 else { continue }
            let subject = "\(key.site)/\(key.project)"
            let policies = caps.filter { cap in plan.changes.contains { $0.site == key.site && $0.after?.project == key.project && $0.after.map(cap.covers) == true } }
            let warnAt = policies.map(\.warnAt).min() ?? Self.defaultWarnAt
            let blocks = blockingOverride ?? (policies.isEmpty || policies.contains(where: \.enforce))
            let predictedText = "predicted \(Self.hours(use.core)) core-h, \(Self.hours(use.gpu)) GPU-h"
            guard let allocation = sites[key.site]?.allocations.first(where: { $0.project == key.project }) else {
                out.append(HookResult(name: name, phase: input.phase, verdict: .fail, blocking: blocks,
                                      summary: "\(predictedText); project \(key.project) has no allocation on \(key.site)",
                                      evidence: [HookEvidence(check: "allocation \(subject)", passed: false, detail: "the site descriptor declares none")],
                                      remedy: "add an allocation for \(key.project) to site \(key.site)'s descriptor, or place the components elsewhere",
                                      subject: subject))
                continue
            }
            if let site = await reading(key.site) {
                out.append(accounted(key, site: site, predicted: use, allocation: allocation, plan: plan, phase: input.phase,
                                     warnAt: warnAt, blocks: blocks))
                continue
            }
            let held = heldUse(key)
            let left = AllocationUse(core: allocation.coreHours, gpu: allocation.gpuHours) - held
            let core = Self.judge(use.core, against: left.core, warnAt: warnAt)
            let gpu = Self.judge(use.gpu, against: left.gpu, warnAt: warnAt)
            let verdict = Self.worst(core, gpu)
            let evidence = [
                HookEvidence(check: "allocation \(subject) core-hours", passed: core != .fail,
                             detail: "predicted \(Self.hours(use.core)); left \(Self.hours(left.core)) of \(Self.hours(allocation.coreHours)) (the state holds \(Self.hours(held.core)))"),
                HookEvidence(check: "allocation \(subject) GPU-hours", passed: gpu != .fail,
                             detail: "predicted \(Self.hours(use.gpu)); left \(Self.hours(left.gpu)) of \(Self.hours(allocation.gpuHours)) (the state holds \(Self.hours(held.gpu)))"),
            ]
            var summary = "\(predictedText); left on \(key.site) for \(key.project) \(Self.hours(left.core)) / \(Self.hours(left.gpu))"
            var remedy: String?
            switch verdict {
            case .fail:
                summary += " — more than is left"
                remedy = "lower the cpus, gpus or walltime of the new components, ask \(key.site) for more hours for \(key.project), or place them on another site (dte.policies.Placement)"
            case .warn:
                summary += " — at least \(warnAt) % of what is left"
                remedy = "the allocation of \(key.project) on \(key.site) is nearly used up; ask the site for more hours before the next plans"
            case .pass: break
            }
            out.append(HookResult(name: name, phase: input.phase, verdict: verdict, blocking: blocks, summary: summary, evidence: evidence,
                                  remedy: remedy, subject: subject))
        }
        for cap in caps {
            var use = AllocationUse(), holds = AllocationUse()
            for c in plan.changes {
                if let b = c.before, cap.covers(b) { holds = holds + AllocationUse(b) }
                if c.action == .create || c.action == .replace, let a = c.after, cap.covers(a) { use = use + AllocationUse(a) }
            }
            guard use.core > 0 || use.gpu > 0, cap.coreHours != nil || cap.gpuHours != nil else { continue }
            let total = use + holds
            var evidence: [HookEvidence] = []
            var verdicts: [HookVerdict] = []
            var parts: [String] = []
            for (label, limit, value, new) in [("core-hours", cap.coreHours, total.core, use.core), ("GPU-hours", cap.gpuHours, total.gpu, use.gpu)] {
                guard let limit else { continue }
                let v = Self.judge(value, against: limit, warnAt: cap.warnAt)
                verdicts.append(v)
                evidence.append(HookEvidence(check: "policy \(cap.policy) \(label)", passed: v != .fail,
                                             detail: "predicted \(Self.hours(new)) + \(Self.hours(value - new)) the state holds = \(Self.hours(value)) of the cap \(Self.hours(limit))"))
                parts.append("\(Self.hours(value)) of \(Self.hours(limit)) \(label == "core-hours" ? "core-h" : "GPU-h")")
            }
            let verdict = verdicts.reduce(HookVerdict.pass, Self.worst)
            var remedy: String?
            if verdict == .fail {
                remedy = "lower the requests or walltime of \(cap.members.joined(separator: ", ")), or raise the caps of policy \(cap.policy)"
            } else if verdict == .warn {
                remedy = "\(cap.members.joined(separator: ", ")) \(cap.members.count == 1 ? "is" : "are") near the caps of policy \(cap.policy)"
            }
            out.append(HookResult(name: name, phase: input.phase, verdict: verdict, blocking: blockingOverride ?? cap.enforce,
                                  summary: "predicted \(Self.hours(use.core)) core-h, \(Self.hours(use.gpu)) GPU-h for \(cap.members.joined(separator: ", ")); with what the state holds "
                                    + parts.joined(separator: ", ") + (verdict == .fail ? " — over the cap" : ""),
                                  evidence: evidence, remedy: remedy, subject: "policy \(cap.policy)"))
        }
        if out.isEmpty {
            out.append(HookResult(name: name, phase: input.phase, verdict: .pass, blocking: blocking,
                                  summary: "the plan starts nothing new: predicted 0 core-h, 0 GPU-h"))
        }
        return out
    }

    /// The result for one site and project, with what the site's accounting says was used.
    func accounted(_ key: Key, site: SiteAccounting, predicted use: AllocationUse, allocation: AllocationInfo, plan: Plan, phase: HookPhase,
                   warnAt: Int, blocks: Bool) -> HookResult {
        let subject = "\(key.site)/\(key.project)"
        let granted = AllocationUse(core: allocation.coreHours, gpu: allocation.gpuHours)
        var used = AllocationUse(), pending = AllocationUse()
        var evidence: [HookEvidence] = []
        var problem: String?
        switch site {
        case .accounted(let jobs):
            let mine = jobs.filter { $0.project == key.project }
            used = mine.reduce(AllocationUse()) { $0 + $1.use }
            // what the state holds and accounting has not counted yet (its job unknown to it)
            let counted = Set(mine.map(\.jobID))
            for c in plan.changes where c.site == key.site {
                guard let before = c.before, before.project == key.project else { continue }
                if let job = plan.observed[c.address]?.jobID, counted.contains(job) { continue }
                pending = pending + AllocationUse(before)
            }
            evidence.append(HookEvidence(check: "usage \(subject)", passed: true,
                                         detail: "\(mine.count) finished job\(mine.count == 1 ? "" : "s") accounted: \(Self.hours(used.core)) core-h, \(Self.hours(used.gpu)) GPU-h"))
        case .unavailable(let reason):
            problem = reason
            evidence.append(HookEvidence(check: "usage \(subject)", passed: false, detail: "the usage of site \(key.site) could not be read: \(reason)"))
        }
        let left = granted - used - pending
        let core = Self.judge(use.core, against: left.core, warnAt: warnAt)
        let gpu = Self.judge(use.gpu, against: left.gpu, warnAt: warnAt)
        var verdict = Self.worst(core, gpu)
        for (label, u, p, l, g, new) in [("core-hours", used.core, pending.core, left.core, granted.core, use.core),
                                         ("GPU-hours", used.gpu, pending.gpu, left.gpu, granted.gpu, use.gpu)] {
            evidence.append(HookEvidence(check: "allocation \(subject) \(label)", passed: Self.judge(new, against: l, warnAt: warnAt) != .fail,
                                         detail: "predicted \(Self.hours(new)); used \(problem == nil ? Self.hours(u) : "unknown"), "
                                            + "the state holds \(Self.hours(p)) not yet accounted; left \(Self.hours(l)) of \(Self.hours(g))"))
        }
        var summary: String
        if let problem {
            summary = "usage of \(key.site) unknown (\(problem)); this plan adds \(Self.hours(use.core)) core-h to \(key.project)'s "
                + "\(Self.hours(granted.core)) core-h there, left (predicted only) \(Self.hours(left.core))"
        } else {
            summary = "used \(Self.hours(used.core)) of \(Self.hours(granted.core)) core-h on \(key.site) for \(key.project), this plan adds \(Self.hours(use.core))"
        }
        if use.gpu > 0 || granted.gpu > 0 {
            summary += problem == nil ? "; used \(Self.hours(used.gpu)) of \(Self.hours(granted.gpu)) GPU-h, adds \(Self.hours(use.gpu))"
                : "; adds \(Self.hours(use.gpu)) of \(Self.hours(granted.gpu)) GPU-h"
        }
        if pending.core > 0 || pending.gpu > 0 {
            summary += "; the state holds \(Self.hours(pending.core)) core-h, \(Self.hours(pending.gpu)) GPU-h not yet accounted"
        }
        var remedy: String?
        switch verdict {
        case .fail:
            summary += " — more than is left"
            remedy = "lower the cpus, gpus or walltime of the new components, ask \(key.site) for more hours for \(key.project), or place them on another site (dte.policies.Placement)"
        case .warn:
            summary += " — at least \(warnAt) % of what is left"
            remedy = "the allocation of \(key.project) on \(key.site) is nearly used up; ask the site for more hours before the next plans"
        case .pass:
            break
        }
        if problem != nil {
            verdict = Self.worst(verdict, .warn)
            remedy = (remedy.map { $0 + "; " } ?? "") + "check that site \(key.site)'s agent is reachable and accepts the token (dte check site \(key.site)), then plan again"
        }
        return HookResult(name: name, phase: phase, verdict: verdict, blocking: blocks, summary: summary, evidence: evidence, remedy: remedy, subject: subject)
    }

    struct Key: Hashable, Comparable {
        var site: String
        var project: String
        static func < (a: Key, b: Key) -> Bool { (a.site, a.project) < (b.site, b.project) }
    }

    /// `fail` over the limit, `warn` at `warnAt` % of it, else `pass`; nothing asked is always `pass`.
    static func judge(_ value: Double, against limit: Double, warnAt: Int) -> HookVerdict {
        if value <= 0 { return .pass }
        if value > limit { return .fail }
        if value >= limit * Double(warnAt) / 100 { return .warn }
        return .pass
    }

    static func worst(_ a: HookVerdict, _ b: HookVerdict) -> HookVerdict {
        func rank(_ v: HookVerdict) -> Int { v == .fail ? 2 : (v == .warn ? 1 : 0) }
        return rank(a) >= rank(b) ? a : b
    }

    /// `12,400`, `16`, `0.5`, `-120`: whole hours grouped by thousands, else one decimal.
    public static func hours(_ x: Double) -> String {
        guard x.isFinite else { return x > 0 ? "∞" : "-∞" }
        let tenths = (abs(x) * 10).rounded()
        guard tenths < 1e15 else { return String(format: "%.3g", x) }
        let whole = Int64(tenths) / 10, fraction = Int64(tenths) % 10
        var digits = String(whole)
        var grouped = ""
        while digits.count > 3 {
            grouped = "," + digits.suffix(3) + grouped
            digits.removeLast(3)
        }
        grouped = digits + grouped
        let sign = x < 0 && tenths > 0 ? "-" : ""
        return sign + grouped + (fraction == 0 ? "" : ".\(fraction)")
    }
}
