import EdgeAgent
import Foundation
import NIOCore
import PodWire

/// What the agent does with bytes it does not control, as one function: the fuzzer
/// (`agent-fuzz` built with `-sanitize=fuzzer`, see `scripts/fuzz.sh`) and the regression tests
/// feed it arbitrary bytes. Nothing here may trap or hang, whatever the input; errors are fine.
///
/// The first byte picks the target (so one corpus covers all); the rest is the input:
/// 0 `/create` body → pod job (script builder, every runtime), 1 `/status` body, 2 `/getLogs` body,
/// 3 a container status file, 4 a container log file, 5 the agent's config file and interLink's
/// SlurmConfig.yaml, 6 a bearer token, 7 the values of annotations a pod carries: Kubernetes
/// quantities, Slurm times, `slurm-job.vk.io/flags` (sbatch options), runtime options, mounts,
/// `mpi-flags`, image roots and pod IPs.
public enum FuzzTargets {
    public static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let selector = bytes.first else { return }
        let input = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
        switch selector % 8 {
        case 0: createBody(input)
        case 1: _ = try? AgentAPI.decodeStatus(ByteBuffer(bytes: input))
        case 2: _ = try? AgentAPI.decode(LogStruct.self, buffer: ByteBuffer(bytes: input), what: "a LogStruct")
        case 3: _ = ContainerRecord(parsing: String(decoding: input, as: UTF8.self))
        case 4: _ = LogReader.parse(Data(input))
        case 5:
            let text = String(decoding: input, as: UTF8.self)
            if let values = try? ConfigFile.parse(text) {
                var configuration = AgentConfiguration()
                try? ConfigFile.apply(values, to: &configuration)
                try? configuration.validate()
            }
            var configuration = AgentConfiguration()
            if (try? InterLinkConfig.apply(text, file: "SlurmConfig.yaml", to: &configuration, currentDirectory: "/srv")) != nil {
                try? configuration.validate()
            }
        case 6: _ = try? OIDCVerifier.parse(String(decoding: input, as: UTF8.self))
        default:
            annotationValue(String(decoding: input, as: UTF8.self))
        }
    }

    public static func run(_ data: Data) {
        data.withUnsafeBytes { run($0) }
    }

    static let builders: [PodJobBuilder] = ContainerRuntimeKind.allCases.map { runtime in
        var configuration = AgentConfiguration()
        configuration.setDataDir("/srv/dte-fuzz")
        configuration.runtime = runtime
        configuration.allowedSbatchFlags = ["--constraint", "--exclusive"]
        configuration.allowedHostPaths = ["/cvmfs"]
        return PodJobBuilder(configuration: configuration, instanceID: "fuzz")
    }

    /// One annotation value through every parser of annotation values.
    static func annotationValue(_ text: String) {
        _ = Quantity.parse(text)
        _ = PodValidation.walltimeSeconds(text)
        if let options = try? SbatchFlags.parse(text, field: "slurm-job.vk.io/flags") {
            _ = try? SbatchRequestOptions(options, field: "slurm-job.vk.io/flags")
        }
        _ = try? PodAnnotations.runtimeOptions(text, key: "slurm-job.vk.io/singularity-options", allowed: ["--nv", "--cleanenv"])
        _ = try? PodAnnotations.mounts(text, key: "slurm-job.vk.io/singularity-mounts", allowedRoots: ["/cvmfs", "/scratch"])
        _ = try? PodAnnotations.mpiFlags(text)
        _ = PodAnnotations.isImageRoot(text)
        _ = PodAnnotations.isIPAddress(text)
        _ = try? PodAnnotations.flavor(text, configuration: builders[0].configuration, asksGPUs: text.count % 2 == 0)
    }

    static func createBody(_ input: UnsafeRawBufferPointer) {
        guard let data = try? AgentAPI.decodeCreate(ByteBuffer(bytes: input)) else { return }
        for builder in builders {
            guard let job = try? builder.build(data, afterOK: ["12", "34"]) else { continue }
            _ = job.batchScript.utf8.count + job.runnerScript.utf8.count
        }
    }
}
