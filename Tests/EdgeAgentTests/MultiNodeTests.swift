import EdgeAgent
import Foundation
import PodWire
import Testing

/// Pods on more than one node: `--nodes=N` (the pod's `slurm-job.vk.io/flags`, or its flavor's
/// SlurmFlags) makes a job of N nodes with one task on each, and its containers run through
/// srun once per node. The real runs use the dev cluster's partition `mpi` (two slurmd on
/// this machine, scripts/dev-cluster.sh).
@Suite struct MultiNodeTests {
    static func pod(_ name: String, annotations: [String: String], command: [String]) -> RetrievedPodData {
        Fixtures.pod(name, containers: [Fixtures.container("main", command)], annotations: annotations)
    }

    static func allowing(_ flags: [String], _ runtime: ContainerRuntimeKind = .bwrap) -> AgentConfiguration {
        var configuration = Fixtures.configuration(runtime: runtime)
        configuration.allowedSbatchFlags = flags
        return configuration
    }

    @Test func nodesFromThePodsFlagsMakeOneTaskPerNode() throws {
        let job = try Fixtures.builder(Self.allowing(["--nodes"]))
            .build(Self.pod("two", annotations: ["slurm-job.vk.io/flags": "-N 2"], command: ["true"]))
        #expect(job.request.nodes == 2)
        for line in ["#SBATCH --nodes=2\n", "#SBATCH --ntasks=2\n", "#SBATCH --ntasks-per-node=1\n"] {
            #expect(job.batchScript.contains(line), "\(line): \(job.batchScript)")
        }
        #expect(!job.batchScript.contains("--nodes=1"))
        // without mpi-flags too, the container goes through srun, on every node of the job
        #expect(job.runnerScript.contains(#"exec srun --overlap --nodes="${SLURM_JOB_NUM_NODES:-1}" --ntasks="${SLURM_NTASKS:-1}" -- "#),
                "\(job.runnerScript)")

        let single = try Fixtures.builder().build(Self.pod("one", annotations: [:], command: ["true"]))
        #expect(single.batchScript.contains("#SBATCH --nodes=1\n#SBATCH --ntasks=1\n"))
        #expect(!single.batchScript.contains("--ntasks-per-node"))
        #expect(!single.runnerScript.contains("srun"))
    }

    @Test func aFlavorCanAskForNodes() throws {
        var configuration = Fixtures.configuration()
        configuration.flavors = [Flavor(name: "mpi-pair", cpus: 2, memoryMiB: 1000,
                                        options: try SbatchRequestOptions(try SbatchFlags.parse("--nodes=2 --partition=mpi", field: "f"), field: "f"))]
        let job = try Fixtures.builder(configuration)
            .build(Self.pod("flavored", annotations: ["slurm-job.vk.io/flavor": "mpi-pair"], command: ["true"]))
        #expect(job.request.nodes == 2 && job.request.partition == "mpi")
        #expect(job.batchScript.contains("#SBATCH --nodes=2\n"))
    }

    @Test func nodeCountsAreCheckedAndAllowListed() throws {
        let refused = #expect(throws: AgentError.self) {
            try Fixtures.builder().build(Self.pod("no", annotations: ["slurm-job.vk.io/flags": "--nodes=2"], command: ["true"]))
        }
        #expect(refused?.status.code == 400)
        #expect(refused?.message.contains("--nodes=2 (--nodes) is not an allowed sbatch option") == true, "\(refused?.message ?? "")")
        for bad in ["--nodes=0", "--nodes=2-4", "--nodes=99999999999999999999", "--nodes=4097", "-N x", "--nodes=1e3"] {
            let error = #expect(throws: AgentError.self) {
                try Fixtures.builder(Self.allowing(["--nodes"])).build(Self.pod("bad", annotations: ["slurm-job.vk.io/flags": bad], command: ["true"]))
            }
            #expect(error?.status.code == 400, "\(bad): \(error?.message ?? "")")
            #expect(error?.message.contains("--nodes") == true || error?.message.contains("-N") == true, "\(bad): \(error?.message ?? "")")
        }
        // the task layout stays the agent's own (not even a site's flavor may set it)
        for reserved in ["--ntasks=4", "--ntasks-per-node=2", "-n 4"] {
            let error = #expect(throws: AgentError.self) {
                _ = try SbatchRequestOptions(try SbatchFlags.parse(reserved, field: "flavor"), field: "flavor")
            }
            #expect(error?.message.contains("is set by the agent itself") == true, "\(reserved): \(error?.message ?? "")")
        }
    }

    /// On real Slurm: a two-node pod's container runs once on each node (different node names
    /// and SLURM_NODEID), its MPI options reach srun (pmi2 gives each copy its rank), and Slurm
    /// shows the job on two nodes.
    @Test(arguments: [ContainerRuntimeKind.bwrap, .none])
    func aTwoNodePodRunsItsContainerOnEveryNode(runtime: ContainerRuntimeKind) async throws {
        let agent = try TestAgent(runtime: runtime, access: runtime == .none ? .cli : .library) {
            $0.allowedSbatchFlags = ["--nodes", "--partition"]
        }
        defer { agent.stop() }
        let report = #"echo "node=$SLURMD_NODENAME id=$SLURM_NODEID rank=$PMI_RANK of=$PMI_SIZE""#
        let pod = Fixtures.pod("pair", containers: [Fixtures.container("main", ["sh", "-c", report], limits: ["memory": "100Mi"])],
                               volumes: [], annotations: ["slurm-job.vk.io/flags": "--nodes=2 --partition=mpi",
                                                          "slurm-job.vk.io/mpi-flags": "--mpi=pmi2"])
        let job = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid, timeout: 180)
        #expect(status.exitCode("main") == 0, "\(status)")
        let lines = try await agent.logs(pod.pod.metadata.uid, "main").1.split(separator: "\n").map(String.init).sorted()
        #expect(lines == ["node=dte-mpi1 id=0 rank=0 of=2", "node=dte-mpi2 id=1 rank=1 of=2"], "\(lines)")
        let show = try await CommandRunner.run("scontrol", ["show", "job", "-o", job], environment: nil, timeout: 20)
        #expect(show.stdout.contains("NumNodes=2 "), "\(show.stdout)")
        #expect(show.stdout.contains("NodeList=dte-mpi[1-2] "), "\(show.stdout)")
    }
}
