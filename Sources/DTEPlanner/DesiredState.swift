import DTECompiler
import DTEState
import DTEModel
import Foundation

/// What a component asks for, as the planner compares and the agent receives it.
public struct ComponentSpec: Sendable, Codable, Hashable {
    public var twin: String
    public var component: String
    public var project: String
    public var kind: String
    public var image: String?
    public var command: [String]
    public var args: [String]
    public var env: [String: String]
    public var cpus: Int
    public var memory: Double
    public var gpus: Int
    public var gpuModel: String?
    public var walltime: Double
    public var runtime: String?
    /// Components of the same twin that must finish first.
    public var after: [String]
    public var schedule: String?
    /// Values that use `get_attribute` (by path: `env.NAME`, `command.N`, `args.N`), resolved at
    /// apply from what the named resources reported; until then the spec holds their TOSCA text.
    /// Not part of `hash`: the text already is.
    public var deferred: [String: AttributeExpression]?

    /// Where the component lives: `twin.<twin>.<component>`.
    public var resourceAddress: ResourceAddress { .component(twin: twin, component: component) }
    /// The address as text (the state's and the plan's key).
    public var address: String { resourceAddress.description }

    /// The time limit a site is asked for: the walltime in whole minutes, at least 1 (and at
    /// most a year: a walltime the compiler let through is never a trap here).
    public var timeLimitMinutes: Int {
        guard walltime.isFinite, walltime > 60 else { return 1 }
        return Int(min((walltime / 60).rounded(.up), 525_600))
    }

    /// Predicted use of one run: core-hours and GPU-hours.
    public var coreHours: Double { Double(cpus) * walltime / 3600 }
    public var gpuHours: Double { Double(gpus) * walltime / 3600 }

    /// A stable hash of what the site runs: FNV-1a over every field, in a fixed order.
    public var hash: String {
        var h = FNV1a64()
        func add(_ s: String) {
            h.add(s)
            h.add(CollectionOfOne(0x1f))  // field separator
        }
        add(twin); add(component); add(project); add(kind); add(image ?? "\u{0}")
        add(String(command.count)); command.forEach(add)
        add(String(args.count)); args.forEach(add)
        for k in env.keys.sorted() { add(k); add(env[k] ?? "") }
        add(String(cpus)); add(String(memory)); add(String(gpus)); add(gpuModel ?? "\u{0}"); add(String(walltime))
        add(runtime ?? "\u{0}"); after.forEach(add); add(schedule ?? "\u{0}")
        return String(h.value, radix: 16)
    }
}

/// Where a component goes, and why.
public struct PlacementDecision: Sendable, Codable, Hashable {
    public var site: String
    public var partition: String
    public var qos: String?
    /// Why this site (shown in the plan).
    public var reason: String
    /// Each site not chosen, with the requirement it did not meet.
    public var rejected: [Rejection]

    public struct Rejection: Sendable, Codable, Hashable {
        public var site: String
        public var reason: String
    }
}

/// A component ready to plan: its spec, placement and whether it is protected from deletion.
public struct DesiredResource: Sendable, Codable, Hashable {
    public var spec: ComponentSpec
    public var placement: PlacementDecision
    public var protected: Bool
    public var address: String { spec.address }
}

/// The desired state of a repository: every component placed on a site.
public struct DesiredState: Sendable, Codable {
    public var resources: [DesiredResource]
    public var sites: [SiteInfo]
    /// The topology outputs, resolved after apply from what the sites report.
    public var outputs: [OutputDefinition]?

    /// Builds components from the model and places each one; problems become diagnostics
    /// (a component no site can run names the unmet requirement of each site). The components'
    /// specs are independent of each other and built over all cores; placement then runs in
    /// the model's order, because each placement spends from the allocations the next one sees.
    public static func build(from model: CompiledModel, used: [String: (core: Double, gpu: Double)] = [:]) -> (DesiredState, [Diagnostic]) {
        var diags: [Diagnostic] = []
        let sites = SiteInfo.all(in: model)
        let policies = PolicyIndex(model)
        let specs = SpecBuilder(model: model, policies: policies).specs()
        var remaining: [AllocationKey: (core: Double, gpu: Double)] = [:]
        for s in sites {
            for a in s.allocations {
                let u = used["\(s.name)/\(a.project)"] ?? (0, 0)
                remaining[AllocationKey(site: s.name, project: a.project)] = (a.coreHours - u.core, a.gpuHours - u.gpu)
            }
        }
        // placement's view of each policy (sites in its order, their partitions), once per policy
        var placers: [String: Placer] = [:]
        let unconstrained = Placer(policy: nil, sites: sites)
        var resources: [DesiredResource] = []
        resources.reserveCapacity(specs.count)
        for (spec, node) in specs {
            var placer = unconstrained
            if let policy = policies.placement[spec.component] ?? policies.placement[spec.twin] {
                let key = "\(policy.file)\u{0}\(policy.path)\u{0}\(policy.name)"
                if let known = placers[key] { placer = known } else {
                    placer = Placer(policy: policy, sites: sites)
                    placers[key] = placer
                }
            }
            switch placer.place(spec, remaining: remaining) {
            case .success(let decision):
                let key = AllocationKey(site: decision.site, project: spec.project)
                remaining[key]?.core -= spec.coreHours
                remaining[key]?.gpu -= spec.gpuHours
                resources.append(DesiredResource(spec: spec, placement: decision,
                                                 protected: policies.protected.contains(spec.component) || policies.protected.contains(spec.twin)))
            case .failure(let rejections):
                let why = rejections.map { "\($0.site): \($0.reason)" }.joined(separator: "; ")
                let n = model.nodes[node]
                diags.append(Diagnostic(.error, code: "no-feasible-site", "no site can run \"\(spec.component)\" of twin \"\(spec.twin)\": \(why.isEmpty ? "no sites are defined" : why)",
                                        hint: "change the component's resources or placement, or add an allocation for project \(spec.project)",
                                        file: n.file, mark: n.mark, path: "topology_template.node_templates.\(spec.component)"))
            }
        }
        // by address, each built once (not twice per comparison); the resources moved once
        let keys = resources.map(\.address)
        let sorted = keys.indices.dropFirst().allSatisfy({ keys[$0 - 1] <= keys[$0] }) ? resources
            : keys.indices.sorted { keys[$0] < keys[$1] }.map { resources[$0] }
        let outputs = OutputDefinition.all(in: model, resources: sorted)
        return (DesiredState(resources: sorted, sites: sites, outputs: outputs.isEmpty ? nil : outputs), diags)
    }

    /// What the policies say of each member, by member name: its placement policy, whether it is
    /// protected from deletion, its schedule.
    struct PolicyIndex: Sendable {
        var placement: [String: ResolvedMember] = [:]
        var protected: Set<String> = []
        var schedules: [String: String] = [:]

        init(_ model: CompiledModel) {
            for p in model.policies {
                for m in p.members {
                    if p.isA(Vocabulary.Policy.placement) { placement[m] = p }
                    if p.isA(Vocabulary.Policy.protection), p.property("prevent_destroy") != .boolean(false) { protected.insert(m) }
                    if p.isA(Vocabulary.Policy.schedule), let c = (p.property("cron") ?? p.property("schedule"))?.stringValue { schedules[m] = c }
                }
            }
        }
    }

    /// Turns each component node of the model into the spec the site receives. Read-only over
    /// the model, so the components are built in parallel.
    struct SpecBuilder: Sendable {
        let model: CompiledModel
        let policies: PolicyIndex
        /// Each twin's project, by twin name.
        let projects: [String: String]
        /// Each component's address, by component name (what `get_attribute` resolves against).
        let addresses: [String: String]
        /// The positions of the component nodes in `model.nodes`.
        let components: [Int]

        init(model: CompiledModel, policies: PolicyIndex) {
            self.model = model
            self.policies = policies
            var projects: [String: String] = [:]
            var addresses: [String: String] = [:]
            var components: [Int] = []
            for i in model.nodes.indices {
                let n = model.nodes[i]
                if n.isA(Vocabulary.Node.digitalTwin), projects[n.name] == nil {
                    projects[n.name] = n.property("project")?.stringValue ?? n.name
                } else if n.isA(Vocabulary.Node.component) {
                    components.append(i)
                    if let t = n.requirements.first(where: { $0.name == "twin" })?.target {
                        addresses[n.name] = ResourceAddress.component(twin: t, component: n.name).description
                    }
                }
            }
            self.projects = projects
            self.addresses = addresses
            self.components = components
        }

        /// Every component's spec with the position of its node, in the model's order; a
        /// component without a twin (the checker reports it) has none.
        func specs() -> [(spec: ComponentSpec, node: Int)] {
            components.parallelCompactMap { i in spec(model.nodes[i]).map { ($0, i) } }
        }

        func spec(_ n: ResolvedNode) -> ComponentSpec? {
            guard let twinName = n.requirements.first(where: { $0.name == "twin" })?.target, let project = projects[twinName] else { return nil }
            var deferred: [String: AttributeExpression] = [:]
            func text(_ v: Value, _ path: String) -> String {
                if let e = AttributeExpression(v, address: { addresses[$0] }, property: { model.node($0)?.property($1) }) { deferred[path] = e }
                return v.stringValue ?? v.display
            }
            func strings(_ name: String) -> [String] {
                (n.property(name)?.listValue ?? []).enumerated().compactMap { i, v in v.isSymbolic ? text(v, "\(name).\(i)") : v.stringValue }
            }
            var env: [String: String] = [:]
            if case .map(let entries)? = n.property("env") { for e in entries { env[e.key] = text(e.value, "env.\(e.key)") } }
            return ComponentSpec(
                twin: twinName, component: n.name, project: project,
                kind: n.isA(Vocabulary.Node.service) ? "service" : "batch",
                image: n.property("image")?.stringValue, command: strings("command"), args: strings("args"),
                env: env, cpus: n.property("cpus")?.intValue ?? 1, memory: n.property("memory")?.baseAmount ?? 1_073_741_824,
                gpus: n.property("gpus")?.intValue ?? 0, gpuModel: n.property("gpu_model")?.stringValue,
                walltime: n.property("walltime")?.baseAmount ?? 3600, runtime: n.property("runtime")?.stringValue,
                after: n.requirements.filter { $0.name == "after" }.compactMap(\.target).sorted(),
                schedule: n.property("schedule")?.stringValue ?? policies.schedules[n.name] ?? policies.schedules[twinName],
                deferred: deferred.isEmpty ? nil : deferred)
        }
    }

    enum PlaceResult { case success(PlacementDecision), failure([PlacementDecision.Rejection]) }

    /// An allocation: a project on a site.
    struct AllocationKey: Hashable {
        var site: String
        var project: String
    }

    /// Placement under one policy (or none). Deterministic: allowed sites in the policy's
    /// preference order, then by name; in each, the default partition first, then as declared;
    /// the first that fits wins. Built once per policy: the orders do not depend on the component.
    struct Placer {
        let policyName: String?
        let allowed: [String]
        let wantedPartition: String?
        let qos: String?
        /// Every site in order, with its candidate partitions in order.
        let ordered: [(site: SiteInfo, candidates: [PartitionInfo])]

        init(policy: ResolvedMember?, sites: [SiteInfo]) {
            policyName = policy?.name
            allowed = (policy?.property("sites")?.listValue ?? []).compactMap(\.stringValue)
            let prefer = (policy?.property("prefer")?.listValue ?? []).compactMap(\.stringValue)
            let wanted = policy?.property("partition")?.stringValue
            wantedPartition = wanted
            qos = policy?.property("qos")?.stringValue
            ordered = sites.sorted { a, b in
                let ia = prefer.firstIndex(of: a.name) ?? Int.max, ib = prefer.firstIndex(of: b.name) ?? Int.max
                return ia != ib ? ia < ib : a.name < b.name
            }.map { s in
                let candidates = s.partitions.enumerated().filter { wanted == nil || $0.element.name == wanted }
                    .sorted { ($0.element.isDefault ? 0 : 1, $0.offset) < ($1.element.isDefault ? 0 : 1, $1.offset) }
                    .map(\.element)
                return (s, candidates)
            }
        }

        func place(_ c: ComponentSpec, remaining: [AllocationKey: (core: Double, gpu: Double)]) -> PlaceResult {
            var rejected: [PlacementDecision.Rejection] = []
            var disallowed: [PlacementDecision.Rejection] = []
            for (s, candidates) in ordered {
                if !allowed.isEmpty, !allowed.contains(s.name) {
                    disallowed.append(.init(site: s.name, reason: "not in the placement policy's sites"))
                    continue
                }
                if let r = c.runtime, !s.runtimes.contains(r) {
                    rejected.append(.init(site: s.name, reason: "runtime \(r) not offered (has \(s.runtimes.joined(separator: ", ")))"))
                    continue
                }
                guard let left = remaining[AllocationKey(site: s.name, project: c.project)] else {
                    rejected.append(.init(site: s.name, reason: "project \(c.project) has no allocation there"))
                    continue
                }
                if left.core < c.coreHours {
                    rejected.append(.init(site: s.name, reason: String(format: "allocation of %@ has %.0f core-hours left, the job needs %.1f", c.project, left.core, c.coreHours)))
                    continue
                }
                if c.gpus > 0, left.gpu < c.gpuHours {
                    rejected.append(.init(site: s.name, reason: String(format: "allocation of %@ has %.0f GPU-hours left, the job needs %.1f", c.project, left.gpu, c.gpuHours)))
                    continue
                }
                if candidates.isEmpty {
                    rejected.append(.init(site: s.name, reason: "no partition named \(wantedPartition ?? "?")"))
                    continue
                }
                var misses: [String] = []
                var chosen: PartitionInfo?
                for p in candidates {
                    if let miss = DesiredState.fitProblem(c, p) { misses.append("\(p.name): \(miss)") } else {
                        chosen = p
                        break
                    }
                }
                guard let p = chosen else {
                    rejected.append(.init(site: s.name, reason: misses.joined(separator: "; ")))
                    continue
                }
                var reason = "\(p.name) partition fits"
                if !allowed.isEmpty { reason += "; allowed by placement policy \(policyName ?? "")" }
                return .success(PlacementDecision(site: s.name, partition: p.name, qos: qos ?? p.qos.first, reason: reason, rejected: rejected))
            }
            return .failure(rejected + disallowed)
        }
    }

    static func fitProblem(_ c: ComponentSpec, _ p: PartitionInfo) -> String? {
        if c.cpus > p.cpusPerNode { return "\(c.cpus) cpus > \(p.cpusPerNode) per node" }
        if c.memory > p.memoryPerNode { return "memory \(bytes(c.memory)) > \(bytes(p.memoryPerNode)) per node" }
        if c.gpus > p.gpusPerNode { return "\(c.gpus) GPUs > \(p.gpusPerNode) per node" }
        if let m = c.gpuModel, c.gpus > 0, p.gpuModel != m { return "GPU model \(m) wanted, partition has \(p.gpuModel ?? "none")" }
        if c.walltime > p.maxWalltime { return "walltime \(duration(c.walltime)) > limit \(duration(p.maxWalltime))" }
        return nil
    }

    public static func bytes(_ b: Double) -> String {
        if b >= 1e9 { return short((b / 1e8).rounded() / 10) + " GB" }
        if b >= 1e6 { return short((b / 1e5).rounded() / 10) + " MB" }
        return short((b / 1e2).rounded() / 10) + " kB"
    }

    public static func duration(_ s: Double) -> String {
        if s >= 3600 { return short((s / 360).rounded() / 10) + " h" }
        if s >= 60 { return short((s / 6).rounded() / 10) + " m" }
        return short(s) + " s"
    }

    /// `32`, `1.5`: a number without a trailing `.0` (what `%g` prints for these sizes,
    /// without Foundation's formatter: plans print thousands of them).
    static func short(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        return String(x)
    }
}

extension DesiredState {
    /// The predicted use (core-hours, GPU-hours) of what the state holds, by `site/project`:
    /// what placement subtracts from each declared allocation.
    public static func allocationUse(of resources: [ResourceRecord]) -> [String: (core: Double, gpu: Double)] {
        var used: [String: (core: Double, gpu: Double)] = [:]
        for r in resources {
            guard let spec = try? JSONDecoder().decode(ComponentSpec.self, from: Data(r.spec.utf8)) else { continue }
            used["\(r.site)/\(spec.project)", default: (0, 0)].core += spec.coreHours
            used["\(r.site)/\(spec.project)", default: (0, 0)].gpu += spec.gpuHours
        }
        return used
    }
}
