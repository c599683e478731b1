import AsyncHTTPClient
import DTEApply
import DTEPlanner
import Foundation
import NIOCore
import PodWire

/// Reaches a site's `dte-agent` over HTTP (the interLink plugin API): one pod per component,
/// placement in validated `dte.io/*` annotations.
/// Every request carries the site's bearer token (`token`) when it has one.
public struct AgentProvider: Provider {
    public let site: String
    public let endpoint: String
    public let token: TokenSource
    let client: HTTPClient
    let timeout: TimeAmount

    /// `client`: one made by `makeClient()` or `makeInteractiveClient()` (they never follow a
    /// redirect, which could carry the token elsewhere).
    public init(site: String, endpoint: String, token: TokenSource? = nil, client: HTTPClient, timeout: TimeAmount = .seconds(30)) {
        self.site = site
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.token = token ?? .noToken(site: site)
        self.client = client
        self.timeout = timeout
    }

    /// The pod a component becomes: namespace = twin, name = component, the given UID.
    public static func pod(for r: PodRequest) -> RetrievedPodData {
        var annotations: [String: String] = [
            "dte.io/partition": r.placement.partition,
            "dte.io/walltime": String(r.spec.timeLimitMinutes),
            "dte.io/address": r.address,
        ]
        if let q = r.placement.qos { annotations["dte.io/qos"] = q }
        if let a = r.account { annotations["dte.io/account"] = a }
        // the project the agent accounts the job's usage to (it takes Slurm-name characters only)
        if Self.isAccountingName(r.spec.project) { annotations["dte.io/project"] = r.spec.project }
        if let m = r.spec.gpuModel, r.spec.gpus > 0 { annotations["dte.io/gpu-model"] = m }
        if !r.afterUIDs.isEmpty { annotations["dte.io/after"] = r.afterUIDs.joined(separator: ",") }
        var limits = ["cpu": String(r.spec.cpus), "memory": String(Int64(r.spec.memory))]
        if r.spec.gpus > 0 { limits["nvidia.com/gpu"] = String(r.spec.gpus) }
        let container = Container(
            name: r.spec.component, image: r.spec.image ?? "", command: r.spec.command, args: r.spec.args,
            env: r.spec.env.keys.sorted().map { EnvVar(name: $0, value: r.spec.env[$0]) },
            resources: ResourceRequirements(limits: limits, requests: limits))
        var spec = PodSpec(containers: [container])
        spec.restartPolicy = "Never"
        let meta = ObjectMeta(name: r.spec.component, namespace: r.spec.twin, uid: r.uid,
                              labels: ["dte.io/twin": r.spec.twin, "dte.io/project": r.spec.project], annotations: annotations)
        return RetrievedPodData(pod: Pod(metadata: meta, spec: spec), container: [RetrievedContainer(name: r.spec.component)])
    }

    /// The job parameters of the agent's status extension (bounded when decoded).
    static func parameters(_ p: JobParameters) -> SiteJobParameters {
        SiteJobParameters(timeLimitMinutes: p.timeLimitMinutes, partition: p.partition, qos: p.qos)
    }

    /// Whether the agent takes `name` as a `dte.io/project`: 1–128 of `A-Z a-z 0-9 . _ -`.
    static func isAccountingName(_ name: String) -> Bool {
        (1...128).contains(name.utf8.count)
            && name.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 46 || $0 == 95 }
    }

    /// POSTs `body` as JSON to `path` and reads the whole answer (a refusal's text without the token).
    ///
    /// A 503 (the site's batch system is briefly unreachable; every call here is idempotent) is
    /// asked again after the agent's `Retry-After` (at most 10 s each time) until `timeout`.
    func post<T: Encodable>(_ path: String, _ body: T) async throws -> (status: UInt, body: Data) {
        let deadline = NIODeadline.now() + timeout
        var (response, sent) = try await send(path, body, deadline: deadline)
        while response.status.code == 503 {
            let wait = min(10, max(1, Int64(response.headers.first(name: "Retry-After") ?? "") ?? 5))
            guard NIODeadline.now() + .seconds(wait) < deadline else { break }
            _ = try? await response.body.collect(upTo: 1 << 20)
            try await Task.sleep(for: .seconds(wait))
            (response, sent) = try await send(path, body, deadline: deadline)
        }
        do {
            let bytes = try await response.body.collect(upTo: 64 << 20)
            let data = Data(bytes.readableBytesView)
            guard response.status.code != 200, let sent else { return (response.status.code, data) }
            return (response.status.code, Data(Self.redacting(sent, in: String(decoding: data, as: UTF8.self)).utf8))
        } catch {
            throw ProviderError(.unreachable, site: site, "cannot reach the agent at \(endpoint): \(error)")
        }
    }

    public func create(_ r: PodRequest) async throws -> String {
        let (status, body) = try await post("/create", Self.pod(for: r))
        guard status == 200 else {
            throw ProviderError(.rejected, site: site, "the agent refused \(r.address) (HTTP \(status)): \(String(decoding: body.prefix(500), as: UTF8.self))")
        }
        guard let answer = try? JSONDecoder().decode(CreateResponse.self, from: body) else {
            throw ProviderError(.failed, site: site, "the agent's answer to /create is not {PodUID, PodJID}: \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
        return answer.podJID
    }

    public func status(_ pods: [PodRef]) async throws -> [PodObservation] {
        let list = pods.map { Pod(metadata: ObjectMeta(name: $0.name, namespace: $0.namespace, uid: $0.uid), spec: PodSpec(containers: [])) }
        let (status, body) = try await post("/status", list)
        guard status == 200 else {
            throw ProviderError(.rejected, site: site, "the agent's /status answered HTTP \(status): \(String(decoding: body.prefix(300), as: UTF8.self))")
        }
        let statuses = (try? JSONDecoder().decode([PodStatus].self, from: body)) ?? []
        return statuses.map { s in
            let cs = s.containers
            var phase = PodObservation.Phase.unknown
            var exit: Int?
            if cs.isEmpty {
                phase = .unknown
            } else if cs.allSatisfy({ $0.state.terminated != nil }) {
                exit = cs.compactMap { $0.state.terminated?.exitCode }.max()
                phase = exit == 0 ? .succeeded : .failed
            } else if cs.contains(where: { $0.state.running != nil }) {
                phase = .running
            } else {
                phase = .pending
            }
            let starts = cs.compactMap { $0.state.running?.startedAt ?? $0.state.terminated?.startedAt }.filter { !$0.isZero }
            let ends = cs.compactMap(\.state.terminated?.finishedAt).filter { !$0.isZero }
            let worst = cs.compactMap(\.state.terminated).max { $0.exitCode < $1.exitCode }
            let reason = worst?.reason.flatMap { ["Completed", "Error"].contains($0) ? nil : $0 }
            let held = phase == .pending ? cs.lazy.compactMap(\.state.waiting).first { $0.reason == ObservedPod.heldReason } : nil
            return PodObservation(uid: s.uid, jobID: s.jobID, phase: phase, exitCode: exit, startedAt: starts.min()?.date,
                                  finishedAt: phase == .succeeded || phase == .failed ? ends.max()?.date : nil,
                                  reason: phase == .failed ? reason : held?.reason, message: held?.message.map { String($0.prefix(500)) },
                                  job: s.dte?.job.map(Self.parameters), submitted: s.dte?.submitted.map(Self.parameters))
        }
    }

    public func delete(_ p: PodRef) async throws {
        let pod = Pod(metadata: ObjectMeta(name: p.name, namespace: p.namespace, uid: p.uid), spec: PodSpec(containers: []))
        let (status, body) = try await post("/delete", pod)
        guard status == 200 || status == 404 else {
            throw ProviderError(.rejected, site: site, "the agent refused to delete \(p.namespace)/\(p.name) (HTTP \(status)): \(String(decoding: body.prefix(300), as: UTF8.self))")
        }
        if status == 404 { try await confirmGone(p) }
    }

    /// A 404 for a pod means "gone" only when the caller may see its namespace: with a token of
    /// another identity the agent answers 404 for pods it may not see, and forgetting the pod
    /// would leave its job running unrecorded. An agent without `/v1/access` (older, or not DTE's)
    /// is taken at its word.
    func confirmGone(_ p: PodRef) async throws {
        let (status, body) = try await post("/v1/access", AccessQuery(namespace: p.namespace))
        guard status == 200, let answer = try? JSONDecoder().decode(AccessAnswer.self, from: body), !answer.allowed else { return }
        throw ProviderError(.forbidden, site: site,
                            "the agent does not show \(p.namespace)/\(p.name) to \(answer.identity), which may not act on namespace \(p.namespace)"
                            + (answer.requirement.map { " (the site requires \($0))" } ?? "")
                            + "; the pod was not deleted and stays recorded: use a token of an identity entitled for \(p.namespace) (this one came from \(token.description))")
    }
}
