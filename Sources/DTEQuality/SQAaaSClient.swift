import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Asks a SQAaaS service for the assessment of a repository through its published API (QAA
/// module): `POST /pipeline/assessment` creates the pipeline, `POST /pipeline/{id}/run` starts
/// it, `GET /pipeline/{id}/status` is polled until the build ends, and
/// `GET /pipeline/assessment/{id}/output` gives the report. Every request has a timeout, every
/// answer a size limit, and the whole a deadline.
public struct SQAaaSClient: Sendable {
    /// The API's base, ending in `/v1`.
    public let baseURL: String
    public var pollInterval: Double
    public var deadline: Double
    public var requestTimeout: Double

    static let outputLimit = 8 << 20
    static let answerLimit = 256 << 10

    /// `url` is the service (e.g. `https://api.sqaaas.eosc-synergy.eu/v1`); `/v1` is added when missing.
    public init(url: String, pollInterval: Double = 5, deadline: Double = 1800, requestTimeout: Double = 30) throws(QualityError) {
        guard let u = URL(string: url), let scheme = u.scheme?.lowercased(), ["http", "https"].contains(scheme), let host = u.host, !host.isEmpty else {
            throw QualityError(.service, "--sqaaas \(url): give the service's http(s) URL, e.g. https://api.sqaaas.eosc-synergy.eu/v1")
        }
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        if !base.hasSuffix("/v1") { base += "/v1" }
        baseURL = base
        self.pollInterval = max(0.01, pollInterval)
        self.deadline = max(1, deadline)
        self.requestTimeout = max(1, requestTimeout)
    }

    struct Created: Decodable { var id: String }
    struct Status: Decodable {
        var build_status: String?
        var build_url: String?
    }
    struct AssessmentRequest: Encodable {
        struct Repo: Encodable { var repo: String; var branch: String? }
        var repo_code: Repo
    }

    /// The statuses after which the build is over (the others mean: still waiting or running).
    static let finished: Set<String> = ["success", "failure", "unstable", "aborted"]

    /// Assesses the repository at `repo` (a URL the service can clone) on `branch` (its default when nil).
    public func assess(repo: String, branch: String? = nil) async throws(QualityError) -> QualityReport {
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: {
            var c = HTTPClient.Configuration()
            c.redirectConfiguration = .disallow
            c.timeout.connect = .seconds(Int64(min(requestTimeout, 60)))
            c.connectionPool.retryConnectionEstablishment = false
            return c
        }())
        do {
            let report = try await run(client, repo: repo, branch: branch)
            try? await client.shutdown()
            return report
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    func run(_ client: HTTPClient, repo: String, branch: String?) async throws(QualityError) -> QualityReport {
        let start = Date()
        let body = try encode(AssessmentRequest(repo_code: .init(repo: repo, branch: branch)))
        let (createdStatus, createdBody) = try await send(client, .POST, "/pipeline/assessment", body: body, limit: Self.answerLimit)
        guard createdStatus == 201 || createdStatus == 200 else {
            throw QualityError(.service, "SQAaaS \(baseURL)/pipeline/assessment answered HTTP \(createdStatus): \(Self.excerpt(createdBody))")
        }
        guard let created = try? JSONDecoder().decode(Created.self, from: createdBody) else {
            throw QualityError(.service, "SQAaaS \(baseURL)/pipeline/assessment answered without a pipeline id: \(Self.excerpt(createdBody))")
        }
        let id = created.id
        guard !id.isEmpty, id.utf8.count <= 128, id.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) && $0.isASCII || $0 == "-" || $0 == "_" }) else {
            throw QualityError(.service, "SQAaaS answered a pipeline id that is not a plain identifier: \(Self.excerpt(Data(id.utf8)))")
        }
        let (runStatus, runBody) = try await send(client, .POST, "/pipeline/\(id)/run", body: nil, limit: Self.answerLimit)
        guard (200..<300).contains(runStatus) else {
            throw QualityError(.service, "SQAaaS could not run pipeline \(id): HTTP \(runStatus): \(Self.excerpt(runBody))")
        }
        var last = "(none)"
        while true {
            let (code, data) = try await send(client, .GET, "/pipeline/\(id)/status", body: nil, limit: Self.answerLimit)
            if code == 200, let s = try? JSONDecoder().decode(Status.self, from: data), let status = s.build_status?.lowercased() {
                last = status
                if Self.finished.contains(status) { break }
            } else if code != 422 {
                // 422: not executed yet; anything else is an error.
                throw QualityError(.service, "SQAaaS status of pipeline \(id): HTTP \(code): \(Self.excerpt(data))")
            }
            guard Date().timeIntervalSince(start) + pollInterval < deadline else {
                throw QualityError(.service, "SQAaaS pipeline \(id) did not finish within \(Int(deadline)) s (last status: \(last))")
            }
            do { try await Task.sleep(nanoseconds: UInt64(pollInterval * 1_000_000_000)) } catch {
                throw QualityError(.service, "cancelled while waiting for SQAaaS pipeline \(id)")
            }
        }
        let (outCode, outBody) = try await send(client, .GET, "/pipeline/assessment/\(id)/output", body: nil, limit: Self.outputLimit)
        guard outCode == 200 else {
            throw QualityError(.service, "SQAaaS output of pipeline \(id) (build \(last)): HTTP \(outCode): \(Self.excerpt(outBody))")
        }
        do {
            return try JSONDecoder().decode(QualityReport.self, from: outBody)
        } catch {
            throw QualityError(.service, "SQAaaS output of pipeline \(id) is not an assessment output: \(error)")
        }
    }

    func encode<T: Encodable>(_ value: T) throws(QualityError) -> Data {
        do { return try JSONEncoder().encode(value) } catch { throw QualityError(.io, "cannot encode the request: \(error)") }
    }

    func send(_ client: HTTPClient, _ method: HTTPMethod, _ path: String, body: Data?, limit: Int) async throws(QualityError) -> (Int, Data) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await client.execute(request, timeout: .seconds(Int64(requestTimeout)))
            let bytes = try await response.body.collect(upTo: limit)
            return (Int(response.status.code), Data(bytes.readableBytesView))
        } catch is NIOTooManyBytesError {
            throw QualityError(.service, "SQAaaS \(method.rawValue) \(path): the answer is larger than \(limit >> 10) KiB")
        } catch {
            throw QualityError(.service, "SQAaaS \(method.rawValue) \(baseURL)\(path) failed: \(error)")
        }
    }

    static func excerpt(_ data: Data) -> String {
        let text = String(decoding: data.prefix(300), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
        return text.isEmpty ? "(empty)" : text
    }
}
