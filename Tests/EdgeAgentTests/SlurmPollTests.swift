import EdgeAgent
import Foundation
import Logging
import Testing

/// The libslurm poll on the development cluster.
@Suite struct SlurmPollTests {
    /// An agent with its own account asks slurmctld for that account's jobs only: the job of
    /// another user never reaches it, even with the agent's comment.
    @Test func pollOfOneUserSeesOnlyThatUsersJobs() async throws {
        try SlurmCluster.require()
        let prefix = "dte-agent:poll-\(UUID().uuidString.prefix(8)):"
        let submitted = try await CommandRunner.run(
            "sbatch", ["--parsable", "--hold", "--job-name=dte-poll-test", "--mem=16M", "--output=/dev/null",
                       "--comment=\(prefix)pod", "--wrap", "true"])
        try #require(submitted.status == 0, "\(submitted.stderr)")
        let job = String(submitted.stdout.split(separator: ";").first ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = CommandRunner.runBlocking("scancel", [job], environment: nil) }
        let owner = getuid()
        let own = try await SlurmLibrary(logger: Logger(label: "t"), pollUser: owner).jobs(commentPrefix: prefix)
        #expect(own[job]?.phase == .queued)
        let other = try await SlurmLibrary(logger: Logger(label: "t"), pollUser: 65534).jobs(commentPrefix: prefix)
        #expect(other.isEmpty)
        let snapshot = try await SlurmLibrary(logger: Logger(label: "t"), pollUser: owner)
            .jobs(commentPrefix: prefix, changedSince: Date().timeIntervalSince1970 + 3600)
        #expect(snapshot?.jobs[job] != nil, "a user's poll always answers in full")
        // Run as root here, the agent reads every user's jobs (it may submit for them).
        #expect(SlurmLibrary.ownJobsUser() == (owner == 0 ? nil : owner))
    }

    /// A slow slurmctld is polled less often: the pause is at least three times the poll.
    @Test func aSlowPollLengthensThePause() {
        #expect(PollerService.pause(interval: 3, lastPoll: 0.2) == 3)
        #expect(PollerService.pause(interval: 3, lastPoll: 1.5) == 4.5)
        #expect(PollerService.pause(interval: 0.5, lastPoll: 0.5) == 1.5)
    }
}
