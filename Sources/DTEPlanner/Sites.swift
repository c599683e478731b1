import DTECompiler
import DTEModel

/// A partition of a site, in base units.
public struct PartitionInfo: Sendable, Codable, Hashable {
    public var name: String
    public var nodes: Int
    public var cpusPerNode: Int
    public var memoryPerNode: Double
    public var gpusPerNode: Int
    public var gpuModel: String?
    public var maxWalltime: Double
    public var isDefault: Bool
    public var qos: [String]
}

/// A project's allocation at a site.
public struct AllocationInfo: Sendable, Codable, Hashable {
    public var project: String
    public var account: String?
    public var coreHours: Double
    public var gpuHours: Double
}

/// What the planner knows of a site from its descriptor.
public struct SiteInfo: Sendable, Codable, Hashable {
    public var name: String
    public var kind: String
    public var endpoint: String?
    /// The OIDC issuer and audience of the tokens the site's agent accepts (`agent.issuer`, `agent.audience`).
    public var issuer: String?
    public var audience: String?
    /// The PEM file of the CA that signed the agent's TLS certificate (`agent.ca_certificate`,
    /// a path relative to the repository root); nil: the system's trust store.
    public var caCertificate: String?
    public var runtimes: [String]
    public var partitions: [PartitionInfo]
    public var allocations: [AllocationInfo]

    /// Reads the sites of a compiled model (nodes derived from `dte.nodes.Site`).
    public static func all(in model: CompiledModel) -> [SiteInfo] {
        model.nodes.filter { $0.isA(Vocabulary.Node.site) }.map { n in
            let partitions: [PartitionInfo] = (n.property("partitions")?.listValue ?? []).map { p in
                PartitionInfo(
                    name: p["name"]?.stringValue ?? "", nodes: p["nodes"]?.intValue ?? 1, cpusPerNode: p["cpus_per_node"]?.intValue ?? 1,
                    memoryPerNode: p["memory_per_node"]?.baseAmount ?? 0, gpusPerNode: p["gpus_per_node"]?.intValue ?? 0,
                    gpuModel: p["gpu_model"]?.stringValue, maxWalltime: p["max_walltime"]?.baseAmount ?? .infinity,
                    isDefault: p["default"] == .boolean(true), qos: (p["qos"]?.listValue ?? []).compactMap(\.stringValue))
            }
            let allocations: [AllocationInfo] = (n.property("allocations")?.listValue ?? []).map { a in
                AllocationInfo(project: a["project"]?.stringValue ?? "", account: a["account"]?.stringValue,
                               coreHours: a["core_hours"]?.number ?? 0, gpuHours: a["gpu_hours"]?.number ?? 0)
            }
            return SiteInfo(name: n.name, kind: n.isA(Vocabulary.Node.htcondorSite) ? "htcondor" : "slurm",
                            endpoint: n.property("agent")?["endpoint"]?.stringValue,
                            issuer: n.property("agent")?["issuer"]?.stringValue, audience: n.property("agent")?["audience"]?.stringValue,
                            caCertificate: n.property("agent")?["ca_certificate"]?.stringValue,
                            runtimes: (n.property("runtimes")?.listValue ?? []).compactMap(\.stringValue),
                            partitions: partitions, allocations: allocations)
        }.sorted { $0.name < $1.name }
    }
}

extension Value {
    var listValue: [Value]? {
        if case .list(let l) = self { return l }
        return nil
    }

    /// A scalar unit in its base unit (bytes, seconds, …).
    var baseAmount: Double? {
        if case .scalar(let s) = self { return s.base }
        return nil
    }

    var number: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .float(let d): return d
        default: return nil
        }
    }
}
