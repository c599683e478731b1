import EdgeAgent
import Foundation
import PodWire
import Testing

/// Memory limits as production sites enforce them: the dev cluster's cgroups (scripts/dev-cluster.sh)
/// end a container the moment it passes its limit, however quickly it allocates.
@Suite struct CgroupMemoryTests {
    /// `head -c 300M /dev/zero | tail` holds 300 MB within milliseconds: a sampler that looks once
    /// a second (OverMemoryKill) misses it, the kernel's cgroup limit does not.
    @Test func aQuickAllocationPastTheLimitEndsOOMKilledAtOnce() async throws {
        let agent = try agent()
        let pod = Fixtures.pod("oom-quick", containers: [Fixtures.container(
            "hog", ["sh", "-c", "echo allocating; head -c 300M /dev/zero | tail"], limits: ["memory": "50Mi"])])
        let job = try await agent.create(pod)
        // the container's status file says the kernel killed it before Slurm has ended the job
        let status = try await agent.finished(pod.pod.metadata.uid, timeout: 90)
        #expect(status.reason("hog") == "OOMKilled", "\(status)")
        #expect(status.exitCode("hog") == 137)
        let terminated = try #require(status.container("hog")?.state.terminated)
        let started = try #require(terminated.startedAt?.secondsSince1970)
        let finished = try #require(terminated.finishedAt?.secondsSince1970)
        #expect(finished - started < 10, "the container ran \(finished - started) s past its limit")
        #expect(try await agent.logs(pod.pod.metadata.uid, "hog").1.hasPrefix("allocating\n"))
        // Slurm itself says so: the job ended OUT_OF_MEMORY (not COMPLETED, as with OverMemoryKill)
        let ended = try await SlurmCluster.ended(job)
        #expect(ended?.phase == .outOfMemory, "\(String(describing: ended))")
        let show = try await CommandRunner.run("sacct", ["-n", "-X", "-P", "-j", job, "-o", "State"], environment: nil, timeout: 20)
        #expect(show.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "OUT_OF_MEMORY", "\(show.stdout)")
    }

    /// The same allocation within its limit is untouched: the limit is the pod's, not a guess.
    @Test func theSameAllocationWithinTheLimitCompletes() async throws {
        let agent = try agent()
        let pod = Fixtures.pod("oom-room", containers: [Fixtures.container(
            "fits", ["sh", "-c", "head -c 30M /dev/zero | tail | wc -c"], limits: ["memory": "150Mi"])])
        _ = try await agent.create(pod)
        let status = try await agent.finished(pod.pod.metadata.uid, timeout: 90)
        #expect(status.reason("fits") == "Completed", "\(status)")
        #expect(try await agent.logs(pod.pod.metadata.uid, "fits").1 == "31457280\n")
    }
}
