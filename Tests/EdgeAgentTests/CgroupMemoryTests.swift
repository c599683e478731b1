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
        var status = try await agent.finished(pod.pod.metadata.uid, timeout: 90)
        // the container's exit (137) is in its status file before Slurm has ended the job; the
        // reason follows with the job's end
        let settle = Date().addingTimeInterval(30)
        while status.reason("hog") != "OOMKilled", Date() < settle {
            try await Task.sleep(for: .milliseconds(300))
            status = try #require(try await agent.status([pod.pod.metadata.uid]).first)
        }
        #expect(status.reason("hog") == "OOMKilled", "\(status)")
        #expect(status.exitCode("hog") == 137)
        let terminated = try #require(status.container("hog")?.state.terminated)
        let started = try #require(terminated.startedAt?.secondsSince1970)
        let finished = try #require(terminated.finishedAt?.secondsSince1970)
        #expect(finished - started < 10, "the container ran \(finished - started) s past its limit")
        #expect(try await agent.logs(pod.pod.metadata.uid, "hog").1.hasPrefix("allocating\n"))
        // Slurm itself says so: the job ended OUT_OF_MEMORY (not COMPLETED, as with OverMemoryKill)
        let slurm = try await SlurmLibrary(logger: .init(label: "t")).jobs()
        #expect(slurm[job]?.phase == .outOfMemory, "\(String(describing: slurm[job]))")
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
