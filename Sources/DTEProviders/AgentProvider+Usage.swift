import AsyncHTTPClient
import DTEApply
import Foundation
import NIOCore

/// One job a site's accounting recorded, as `GET /v1/usage` (per pod) reports it: what it used,
/// to which project and twin it counts. Only collected jobs (accounting answered) are kept.
public struct AccountedJob: Sendable, Codable, Hashable {
    public var podUID: String
    /// The pod's namespace: the twin.
    public var twin: String
    /// The pod's name: the component.
    public var component: String
    public var project: String
    public var jobID: String
    /// Cores × wall time, GPUs × wall time, CPU time (user + system), wall time; seconds, never negative.
    public var coreSeconds: Int
    public var gpuSeconds: Int
    public var cpuSeconds: Int
    public var wallSeconds: Int
    /// When the job ended (UTC), when accounting knows.
    public var endTime: Date?

    public init(podUID: String, twin: String, component: String, project: String, jobID: String, coreSeconds: Int, gpuSeconds: Int,
                cpuSeconds: Int, wallSeconds: Int, endTime: Date? = nil) {
        self.podUID = podUID
        self.twin = twin
        self.component = component
        self.project = project
        self.jobID = jobID
        self.coreSeconds = coreSeconds
        self.gpuSeconds = gpuSeconds
        self.cpuSeconds = cpuSeconds
        self.wallSeconds = wallSeconds
        self.endTime = endTime
    }
}

/// Which jobs `usage(_:)` asks for.
public struct UsageQuery: Sendable, Hashable {
    /// `YYYY-MM`: only jobs that ended in that month (UTC).
    public var month: String?
    /// Only jobs of this twin (namespace).
    public var twin: String?

    public init(month: String? = nil, twin: String? = nil) {
        self.month = month
        self.twin = twin
    }

    /// Whether `month` is `YYYY-MM` with a month 01–12 (the agent takes years 1970 to 2499).
    public static func isMonth(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.utf8.count == 7, parts.count == 2, parts[0].count == 4, parts[1].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]) else { return false }
        return (1970...2499).contains(year) && (1...12).contains(month)
    }

    /// Whether `twin` is a namespace name (a DNS-1123 label).
    public static func isTwinName(_ text: String) -> Bool {
        guard (1...63).contains(text.utf8.count), text.first != "-", text.last != "-" else { return false }
        return text.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "-") }
    }

    var queryString: String {
        var items = [URLQueryItem(name: "group", value: "pod")]
        if let month { items.append(URLQueryItem(name: "month", value: month)) }
        if let twin { items.append(URLQueryItem(name: "twin", value: twin)) }
        var c = URLComponents()
        c.queryItems = items
        return c.percentEncodedQuery ?? ""
    }
}

extension AgentProvider {
    /// The jobs of this site's accounting the token may see (`GET /v1/usage?group=pod`), collected
    /// ones only (a job still waiting for accounting, or never known to it, has no figures).
    ///
    /// Errors: `.unreachable`, `.unauthenticated`, `.forbidden`, `.credentials` (see `send`);
    /// `.rejected` for another HTTP status (with the agent's reason); `.failed` for an answer that is
    /// not the agent's usage JSON. Every number is range-checked: a negative one is an error.
    /// `within`: seconds to give the agent (default: the provider's timeout).
    public func usage(_ query: UsageQuery = UsageQuery(), within seconds: Double? = nil) async throws -> [AccountedJob] {
        let wait = seconds.map { TimeAmount.milliseconds(Int64(min(max($0, 0.1), 3600) * 1000)) } ?? timeout
        let (status, body, sent) = try await get("/v1/usage?" + query.queryString, deadline: .now() + wait, limit: 64 << 20)
        guard status == 200 else {
            throw ProviderError(.rejected, site: site, "the agent at \(endpoint) answered HTTP \(status) for /v1/usage: "
                                + Self.excerpt(String(decoding: body.prefix(2000), as: UTF8.self), limit: 300, redacting: sent))
        }
        let answer: UsageWire.PodsAnswer
        do {
            answer = try JSONDecoder().decode(UsageWire.PodsAnswer.self, from: body)
        } catch {
            throw ProviderError(.failed, site: site, "the agent's answer to /v1/usage is not its usage JSON ({\"usage\": [...]}): \(error)")
        }
        var jobs: [AccountedJob] = []
        for r in answer.usage where r.collection == "collected" {
            let figures = [r.coreSeconds, r.gpuSeconds, r.usage?.cpuSeconds ?? 0, r.usage?.wallSeconds ?? 0]
            guard figures.allSatisfy({ $0 >= 0 }) else {
                throw ProviderError(.failed, site: site, "the agent's /v1/usage reports negative seconds for pod \(Self.excerpt(r.podUID, limit: 64, redacting: sent))")
            }
            let end = r.usage?.endTime.flatMap { $0.isFinite && $0 >= 0 && $0 < 1e11 ? Date(timeIntervalSince1970: $0) : nil }
            jobs.append(AccountedJob(podUID: r.podUID, twin: r.namespace, component: r.podName, project: r.project, jobID: r.jobID,
                                     coreSeconds: r.coreSeconds, gpuSeconds: r.gpuSeconds, cpuSeconds: figures[2], wallSeconds: figures[3],
                                     endTime: end))
        }
        return jobs
    }

    /// GETs `path` with the site's token until `deadline`; the status, at most `limit` bytes of the
    /// answer, and the token that was sent. 401/403 are thrown (see `send`).
    func get(_ path: String, deadline: NIODeadline, limit: Int) async throws -> (status: UInt, body: Data, sent: String?) {
        let (response, sent) = try await send(path, Optional<[String]>.none, deadline: deadline)
        do {
            let bytes = try await response.body.collect(upTo: limit)
            return (response.status.code, Data(bytes.readableBytesView), sent)
        } catch {
            throw ProviderError(.unreachable, site: site, "no whole answer from the agent at \(endpoint)\(path.split(separator: "?").first.map { String($0) } ?? ""): \(error)")
        }
    }
}

/// The parts of the agent's `/v1/usage` JSON that dte reads (docs/agent.md, *Usage and accounting*).
enum UsageWire {
    struct PodsAnswer: Decodable { var usage: [Record] }
    struct Record: Decodable {
        var podUID: String
        var namespace: String
        var podName: String
        var project: String
        var jobID: String
        var collection: String
        var usage: Figures?
        var coreSeconds: Int
        var gpuSeconds: Int
    }
    struct Figures: Decodable {
        var endTime: Double?
        var wallSeconds: Int
        var cpuSeconds: Int
    }
}
