import EdgeAgent
import Foundation
import PodWire
import Testing

/// `/status` answers from statuses the agent keeps encoded per pod. What it sends must be,
/// byte for byte, what encoding freshly built statuses gives, after every kind of change: a
/// create, each status change the poller sees (queued, running, finished, failed), a delete,
/// and a restart. The agent runs on real Slurm without its own poller: the test polls, so
/// nothing changes between the answer and the fresh build it is compared with.
@Suite struct StatusEncodingTests {
    @Test func theAnswerEqualsAFreshEncodeAfterEveryChange() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dte-agent-encoded-\(UUID().uuidString.prefix(8))").path
        let agent = try TestAgent(dataDir: dir, poll: false)
        let succeeds = Fixtures.pod("succeeds", containers: [Fixtures.container("main", ["sh", "-c", "sleep 1; echo ok"])])
        let fails = Fixtures.pod("fails", initContainers: [Fixtures.container("setup", ["true"])],
                                 containers: [Fixtures.container("main", ["sh", "-c", "exit 3"]),
                                              Fixtures.container("side", ["sleep", "1"])])
        let deleted = Fixtures.pod("deleted", containers: [Fixtures.container("main", ["sleep", "300"])])
        let kept = Fixtures.pod("kept-across-restart", containers: [Fixtures.container("main", ["sleep", "300"])])
        let pods = [succeeds, fails, deleted, kept]
        let uids = pods.map(\.pod.metadata.uid) + [Fixtures.uid()]   // and one the agent does not know

        // Nothing created yet: an empty list.
        try await expectFreshAnswer(agent, uids, count: 0, "before any create")
        for pod in pods { _ = try await agent.create(pod) }
        try await expectFreshAnswer(agent, uids, count: 4, "after the creates")

        // Each poll: queued, running, finished; each time the answer equals a fresh one.
        var seen: Set<String> = []
        let deadline = Date().addingTimeInterval(150)
        while Date() < deadline {
            await agent.controller.pollOnce()
            let statuses = try await expectFreshAnswer(agent, uids, count: 4, "after a poll")
            for status in statuses {
                for container in status.containers + status.initContainers {
                    if container.state.waiting != nil { seen.insert("waiting") }
                    if container.state.running != nil { seen.insert("running") }
                    if container.state.terminated != nil { seen.insert("terminated") }
                }
            }
            let ended = statuses.filter { [succeeds, fails].map(\.pod.metadata.uid).contains($0.uid) }
                .allSatisfy { ($0.containers + $0.initContainers).allSatisfy { $0.state.terminated != nil } }
            if ended { break }
            try await Task.sleep(for: .milliseconds(300))
        }
        let final = try await agent.status([succeeds.pod.metadata.uid, fails.pod.metadata.uid])
        #expect(final.first { $0.uid == succeeds.pod.metadata.uid }?.exitCode("main") == 0)
        #expect(final.first { $0.uid == fails.pod.metadata.uid }?.exitCode("main") == 3)
        #expect(seen.isSuperset(of: ["waiting", "terminated"]), "the polls showed \(seen.sorted().joined(separator: ", "))")

        // A delete: requested (the job is being cancelled), then gone once Slurm confirms.
        let body = try JSONEncoder().encode(deleted.pod)
        #expect(try await agent.request(.post, "/delete", body: body).status == 200)
        try await expectFreshAnswer(agent, uids, count: 4, "after the delete request")
        let gone = Date().addingTimeInterval(60)
        while try await !agent.status([deleted.pod.metadata.uid]).isEmpty, Date() < gone {
            await agent.controller.pollOnce()
            try await expectFreshAnswer(agent, uids, count: nil, "while the deletion is confirmed")
            try await Task.sleep(for: .milliseconds(300))
        }
        try await expectFreshAnswer(agent, uids, count: 3, "after the deletion")

        // A restart: finished pods from the store, the running one before and after its first poll.
        agent.stop()
        let restarted = try TestAgent(dataDir: dir, poll: false)
        try await expectFreshAnswer(restarted, uids, count: 3, "after a restart, before any poll")
        await restarted.controller.pollOnce()
        let after = try await expectFreshAnswer(restarted, uids, count: 3, "after a restart and a poll")
        #expect(after.first { $0.uid == succeeds.pod.metadata.uid }?.exitCode("main") == 0)
        #expect(try await restarted.request(.post, "/delete", body: try JSONEncoder().encode(kept.pod)).status == 200)
        try await expectFreshAnswer(restarted, uids, count: 3, "after deleting the last running pod")
    }

    /// A `/status` body as interLink sends it, whole pods (spec, annotations, status), is
    /// answered from the UIDs alone; pods without metadata or with a null one are left out.
    @Test func wholePodsInTheRequestAreAnsweredByUID() async throws {
        let agent = try TestAgent(poll: false)
        let pod = Fixtures.pod("whole", containers: [Fixtures.container("main", ["sleep", "300"])],
                               annotations: ["example.org/note": "a pod as the virtual kubelet sends it"])
        _ = try await agent.create(pod)
        var whole = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(pod.pod)) as? [String: Any])
        whole["status"] = ["phase": "Pending", "conditions": [["type": "PodScheduled", "status": "True"]]]
        let list: [Any] = [whole, ["metadata": NSNull()], ["spec": [:] as [String: Any]]]
        let answer = try await agent.request(.post, "/status", body: try JSONSerialization.data(withJSONObject: list))
        #expect(answer.status == 200)
        let statuses = try JSONDecoder().decode([PodStatus].self, from: answer.body)
        #expect(statuses.map(\.uid) == [pod.pod.metadata.uid])
        #expect(statuses.first?.containers.first?.state.waiting?.reason == "Pending")
        // Not a list of objects: refused with the reason, as before.
        let bad = try await agent.request(.post, "/status", body: Data(#"[{"metadata":{"uid":7}}]"#.utf8))
        #expect(bad.status == 400)
        #expect(String(decoding: bad.body, as: UTF8.self).contains("not a JSON list of pods"))
        #expect(try await agent.request(.post, "/delete", body: try JSONEncoder().encode(pod.pod)).status == 200)
    }

    /// Asks `/status` for `uids` and compares its bytes with the wire encoding of statuses
    /// built afresh by the controller; returns the statuses answered.
    @discardableResult
    private func expectFreshAnswer(_ agent: TestAgent, _ uids: [String], count: Int?, _ when: String,
                                   sourceLocation: SourceLocation = #_sourceLocation) async throws -> [PodStatus] {
        let pods = uids.map { Pod(metadata: ObjectMeta(name: "", namespace: "", uid: $0), spec: PodSpec(containers: [])) }
        let answer = try await agent.request(.post, "/status", body: try JSONEncoder().encode(pods))
        #expect(answer.status == 200, sourceLocation: sourceLocation)
        let fresh = try WireJSON.encoder().encode(await agent.controller.statuses(of: pods))
        let difference = "\(when): the answer differs from a fresh encode:\n\(String(decoding: answer.body, as: UTF8.self))\n"
            + "fresh:\n\(String(decoding: fresh, as: UTF8.self))"
        #expect(answer.body == fresh, Comment(rawValue: difference), sourceLocation: sourceLocation)
        let statuses = try JSONDecoder().decode([PodStatus].self, from: answer.body)
        if let count { #expect(statuses.count == count, "\(when)", sourceLocation: sourceLocation) }
        return statuses
    }
}
