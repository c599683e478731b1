import Foundation

/// A site's named job shape (interLink's flavors): defaults for cpus and memory and sbatch
/// options (partition, GPUs, constraints, …) a pod picks with `slurm-job.vk.io/flavor`.
public struct Flavor: Sendable, Hashable {
    public var name: String
    public var description: String?
    /// `--cpus-per-task` for pods of this flavor that request no cpu.
    public var cpus: Int?
    /// `--mem` for pods of this flavor that request no memory, in MiB.
    public var memoryMiB: Int?
    /// The flavor's sbatch options, sorted into the request's parts (site-trusted: no allow-list).
    public var options = SbatchRequestOptions()

    public init(name: String, description: String? = nil, cpus: Int? = nil, memoryMiB: Int? = nil,
                options: SbatchRequestOptions = SbatchRequestOptions()) {
        self.name = name
        self.description = description
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.options = options
    }

    /// Whether the flavor gives GPUs (interLink picks such a flavor for a pod that asks for GPUs).
    public var hasGPUs: Bool { (options.gpus ?? 0) > 0 }
}

/// A Kubernetes resource name that means GPUs on this site, and the Slurm GPU type it maps to
/// (`nvidia.com/gpu` → `--gres=gpu:N`, `amd.com/gpu=mi250` → `--gres=gpu:mi250:N`).
public struct GPUResource: Sendable, Hashable {
    public var resource: String
    public var model: String?

    public init(resource: String, model: String? = nil) {
        self.resource = resource
        self.model = model
    }

    /// Parses a `gpu-resources` entry: `RESOURCE` or `RESOURCE=TYPE`.
    public init?(setting text: String) {
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let name = parts.first, Self.isResourceName(name) else { return nil }
        if parts.count == 2 {
            guard PodValidation.isSlurmName(parts[1]) else { return nil }
            self.init(resource: name, model: parts[1])
        } else {
            self.init(resource: name)
        }
    }

    /// `vendor.domain/name`, as Kubernetes extended resources are written.
    static func isResourceName(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...253).contains(parts[0].count), (1...63).contains(parts[1].count) else { return false }
        return text.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-./_".unicodeScalars.contains($0)) }
    }

    /// Resource names that mean accelerators whichever site: a pod asking for one the site
    /// does not map is refused (never run without the GPU it asked for).
    static func looksLikeGPU(_ name: String) -> Bool {
        name.hasSuffix("/gpu") || name.hasPrefix("gpu.intel.com/") || name.hasPrefix("nvidia.com/")
    }
}
