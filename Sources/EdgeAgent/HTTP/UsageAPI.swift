import Foundation
import Hummingbird
import NIOCore

/// `GET /v1/usage`: what the caller's pods used, per pod or aggregated, as JSON or APEL records.
///
/// Query: `group=pod|project|twin|user|month` (default `pod`),
/// `format=json|apel-job|apel-summary|apel-accelerator` (default `json`), `month=YYYY-MM` (jobs that ended in that month, UTC), `twin=NAMESPACE`.
/// Callers see only the namespaces they are entitled to.
enum UsageAPI {
    enum Group: String, CaseIterable { case pod, project, twin, user, month }
    enum Format: String, CaseIterable {
        case json, apelJob = "apel-job", apelSummary = "apel-summary", apelAccelerator = "apel-accelerator"
    }

    struct Query {
        var group = Group.pod
        var format = Format.json
        var from: Double?
        var until: Double?
        var twin: String?
    }

    /// The query parameters, each checked: a bad one is a 400 naming it and what it takes.
    static func query(_ parameters: [String: String]) throws(AgentError) -> Query {
        var query = Query()
        for key in parameters.keys where !["group", "format", "month", "twin"].contains(key) {
            throw AgentError(.badRequest, "unknown query parameter '\(key.prefix(64))' (allowed: group, format, month, twin)")
        }
        if let text = parameters["group"] {
            guard let group = Group(rawValue: text) else {
                throw AgentError(.badRequest, "group: '\(text.prefix(64))' is not one of \(Group.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.group = group
        }
        if let text = parameters["format"] {
            guard let format = Format(rawValue: text) else {
                throw AgentError(.badRequest, "format: '\(text.prefix(64))' is not one of \(Format.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.format = format
        }
        if let text = parameters["month"] {
            let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            guard text.utf8.count == 7, parts.count == 2, let year = Checked.reported(parts[0], 1970...2499),
                  let month = Checked.reported(parts[1], 1...12) else {
                throw AgentError(.badRequest, "month: '\(text.prefix(64))' is not YYYY-MM (years 1970 to 2499)")
            }
            query.from = monthStart(year: year, month: month)
            query.until = month == 12 ? monthStart(year: year + 1, month: 1) : monthStart(year: year, month: month + 1)
        }
        if let twin = parameters["twin"] {
            guard PodValidation.isDNSLabel(twin) else {
                throw AgentError(.badRequest, "twin: '\(twin.prefix(64))' is not a namespace name (a DNS label)")
            }
            query.twin = twin
        }
        if query.format != .json, query.group != .pod {
            throw AgentError(.badRequest, "group applies to format json only (APEL summaries group by month, user and project)")
        }
        return query
    }

    static func monthStart(year: Int, month: Int) -> Double {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        return calendar.date(from: DateComponents(year: year, month: month, day: 1))?.timeIntervalSince1970 ?? 0
    }

    /// One aggregate: the jobs of a project, twin, user or month, summed.
    struct Aggregate: Codable, Equatable {
        var key: String
        var jobs = 0
        var wallSeconds = 0
        var cpuSeconds = 0
        var coreSeconds = 0
        var gpuSeconds = 0
        /// The largest peak memory of one job.
        var maxRSSKiB = 0
    }

    struct PodsAnswer: Codable { var usage: [UsageRecord] }
    struct GroupsAnswer: Codable { var group: String; var usage: [Aggregate] }

    static func aggregate(_ records: [UsageRecord], by group: Group) -> [Aggregate] {
        var sums: [String: Aggregate] = [:]
        for record in records where record.collection == .collected {
            guard let usage = record.usage else { continue }
            let key: String
            switch group {
            case .pod: key = record.podUID
            case .project: key = record.project
            case .twin: key = record.namespace
            case .user: key = record.owner
            case .month:
                let (year, month) = APELRecords.yearMonth(usage.endTime ?? 0)
                key = String(format: "%04d-%02d", year, month)
            }
            var sum = sums[key] ?? Aggregate(key: key)
            sum.jobs += 1
            sum.wallSeconds = APELRecords.adding(sum.wallSeconds, usage.wallSeconds)
            sum.cpuSeconds = APELRecords.adding(sum.cpuSeconds, usage.cpuSeconds)
            sum.coreSeconds = APELRecords.adding(sum.coreSeconds, usage.coreSeconds)
            sum.gpuSeconds = APELRecords.adding(sum.gpuSeconds, usage.gpuSeconds)
            sum.maxRSSKiB = max(sum.maxRSSKiB, usage.maxRSSKiB)
            sums[key] = sum
        }
        return sums.values.sorted { $0.key < $1.key }
    }

    static func respond(_ request: Request, context: AgentRequestContext, access: AccessControl,
                        controller: PodController) async throws -> Response {
        var parameters: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            guard parameters[String(key)] == nil else { throw AgentError(.badRequest, "query parameter '\(key.prefix(64))' is given twice") }
            parameters[String(key)] = String(value)
        }
        let query = try Self.query(parameters)
        var records = try await controller.usage(visibility: context.visibility(access), endedFrom: query.from, until: query.until)
        if let twin = query.twin { records = records.filter { $0.namespace == twin } }
        switch query.format {
        case .json:
            if query.group == .pod { return try AgentAPI.json(PodsAnswer(usage: records)) }
            return try AgentAPI.json(GroupsAnswer(group: query.group.rawValue, usage: aggregate(records, by: query.group)))
        case .apelJob, .apelSummary:
            guard let apel = controller.configuration.apel else {
                throw AgentError(.unsupported, "APEL records need the site's name: set apel-site (flag --apel-site)")
            }
            let text = query.format == .apelJob ? apel.jobMessage(records) : apel.summaryMessage(records)
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        case .apelAccelerator:
            guard let apel = controller.configuration.apel, apel.accelerator else {
                throw AgentError(.unsupported, "APEL accelerator records need apel-site and apel-accelerator (flags --apel-site, --apel-accelerator)")
            }
            // One message per line (APEL takes at most 1,000 records in one).
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            var body = Data()
            for message in apel.acceleratorMessages(records) {
                body.append(try encoder.encode(message))
                body.append(10)
            }
            return Response(status: .ok, headers: [.contentType: "application/x-ndjson"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
    }
}
