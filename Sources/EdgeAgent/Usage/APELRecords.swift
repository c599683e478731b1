import Foundation

/// Usage as the APEL accounting system reads it (EGI): individual job records
/// (`APEL-individual-job-message: v0.3`) and monthly summaries (`APEL-summary-job-message: v0.3`).
/// Key: Value lines, `%%` after each record; times are UTC seconds since 1970, durations
/// seconds, memory KB. Only collected jobs that started and ended are records (Site,
/// LocalJobId, WallDuration, CpuDuration, StartTime and EndTime are mandatory).
public struct APELRecords: Sendable {
    /// A benchmark of the site's cores: APEL's ServiceLevelType (`HEPSPEC`, `HEPscore23`,
    /// `si2k`) and its ServiceLevel, always written as a pair.
    public struct ServiceLevel: Sendable, Hashable {
        public static let types = ["si2k", "HEPSPEC", "HEPscore23"]
        public var type: String
        public var value: Double

        /// Parses `TYPE=VALUE` (`HEPscore23=12.5`); nil when the type is not one APEL accepts
        /// or the value is not a positive number.
        public init?(_ text: String) {
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let type = Self.types.first(where: { $0.lowercased() == parts[0].lowercased() }),
                  let value = Double(parts[1]), value.isFinite, value > 0, value < 1_000_000 else { return nil }
            self.type = type
            self.value = value
        }
    }

    public var site: String
    public var serviceLevel: ServiceLevel?
    /// Whether GPU usage is also served as `APEL-accelerator-message` (setting `apel-accelerator`).
    public var accelerator = false
    /// The host the jobs were submitted from (APEL's SubmitHost).
    public var submitHost: String?

    public init(site: String, serviceLevel: ServiceLevel? = nil, submitHost: String? = nil, accelerator: Bool = false) {
        self.site = site
        self.accelerator = accelerator
        self.serviceLevel = serviceLevel
        self.submitHost = submitHost
    }

    /// The records APEL can take: collected, started and ended.
    static func reportable(_ records: [UsageRecord]) -> [(UsageRecord, JobUsage, start: Int, end: Int)] {
        records.compactMap { record in
            guard record.collection == .collected, let usage = record.usage, let start = usage.startTime,
                  let end = usage.endTime, start > 0, end >= start else { return nil }
            return (record, usage, Int(start), Int(end))
        }
    }

    /// `APEL-individual-job-message: v0.3`.
    public func jobMessage(_ records: [UsageRecord]) -> String {
        var out = "APEL-individual-job-message: v0.3\n"
        for (record, usage, start, end) in Self.reportable(records) {
            var fields: [(String, String)] = [("Site", site)]
            if let submitHost { fields.append(("SubmitHost", submitHost)) }
            if let machine = usage.nodeList { fields.append(("MachineName", machine)) }
            if let queue = usage.queue { fields.append(("Queue", queue)) }
            fields += [("LocalJobId", record.jobID), ("GlobalUserName", record.owner), ("VO", record.project),
                       ("WallDuration", "\(usage.wallSeconds)"), ("CpuDuration", "\(usage.cpuSeconds)"),
                       ("Processors", "\(usage.cores)"), ("NodeCount", "\(usage.nodes)"),
                       ("StartTime", "\(start)"), ("EndTime", "\(end)"), ("MemoryReal", "\(usage.maxRSSKiB)")]
            fields += serviceLevelFields
            out += Self.render(fields)
        }
        return out
    }

    /// `APEL-summary-job-message: v0.3`: one record per month (of the end time, UTC), user,
    /// project (VO), node count and processor count, as APEL's own summaries group them.
    public func summaryMessage(_ records: [UsageRecord]) -> String {
        struct Key: Hashable { var year: Int, month: Int, user: String, vo: String, nodes: Int, processors: Int }
        struct Sum { var jobs = 0, wall = 0, cpu = 0, earliest = Int.max, latest = 0 }
        var sums: [Key: Sum] = [:]
        for (record, usage, _, end) in Self.reportable(records) {
            let (year, month) = Self.yearMonth(Double(end))
            let key = Key(year: year, month: month, user: record.owner, vo: record.project, nodes: usage.nodes,
                          processors: usage.cores)
            var sum = sums[key] ?? Sum()
            sum.jobs += 1
            sum.wall = Self.adding(sum.wall, usage.wallSeconds)
            sum.cpu = Self.adding(sum.cpu, usage.cpuSeconds)
            sum.earliest = min(sum.earliest, end)
            sum.latest = max(sum.latest, end)
            sums[key] = sum
        }
        var out = "APEL-summary-job-message: v0.3\n"
        let keys = sums.keys.sorted { ($0.year, $0.month, $0.user, $0.vo, $0.nodes, $0.processors)
            < ($1.year, $1.month, $1.user, $1.vo, $1.nodes, $1.processors) }
        for key in keys {
            guard let sum = sums[key] else { continue }
            var fields: [(String, String)] = [("Site", site), ("Month", "\(key.month)"), ("Year", "\(key.year)"),
                                              ("GlobalUserName", key.user), ("VO", key.vo)]
            if let submitHost { fields.append(("SubmitHost", submitHost)) }
            fields += serviceLevelFields
            fields += [("NodeCount", "\(key.nodes)"), ("Processors", "\(key.processors)"),
                       ("EarliestEndTime", "\(sum.earliest)"), ("LatestEndTime", "\(sum.latest)"),
                       ("WallDuration", "\(sum.wall)"), ("CpuDuration", "\(sum.cpu)"), ("NumberOfJobs", "\(sum.jobs)")]
            out += Self.render(fields)
        }
        return out
    }

    /// One record of an `APEL-accelerator-message` v0.1 (JSON, APEL's key names): the GPUs a job held.
    public struct AcceleratorRecord: Codable, Sendable, Equatable {
        public var measurementMonth: Int
        public var measurementYear: Int
        public var associatedRecordType = "job"
        /// The job's LocalJobId.
        public var associatedRecord: String
        public var globalUserName: String
        /// The project (APEL takes any group name here).
        public var fqan: String
        public var siteName: String
        /// GPUs held.
        public var count: Double
        /// Seconds the GPUs were held (the job's wall time).
        public var availableDuration: Int
        public var type = "GPU"

        enum CodingKeys: String, CodingKey {
            case measurementMonth = "MeasurementMonth", measurementYear = "MeasurementYear"
            case associatedRecordType = "AssociatedRecordType", associatedRecord = "AssociatedRecord"
            case globalUserName = "GlobalUserName", fqan = "FQAN", siteName = "SiteName", count = "Count"
            case availableDuration = "AvailableDuration", type = "Type"
        }
    }

    /// An `APEL-accelerator-message` v0.1.
    public struct AcceleratorMessage: Codable, Sendable, Equatable {
        public var type = "APEL-accelerator-message"
        public var version = "0.1"
        public var usageRecords: [AcceleratorRecord]

        enum CodingKeys: String, CodingKey { case type = "Type", version = "Version", usageRecords = "UsageRecords" }
    }

    /// APEL takes at most this many records in one accelerator message.
    public static let acceleratorRecordsPerMessage = 1_000

    /// The GPU usage of the jobs that held GPUs, as accelerator messages of at most 1,000 records each.
    public func acceleratorMessages(_ records: [UsageRecord]) -> [AcceleratorMessage] {
        let gpuRecords = Self.reportable(records).compactMap { item -> AcceleratorRecord? in
            let (record, usage, _, end) = item
            guard usage.gpus > 0 else { return nil }
            let (year, month) = Self.yearMonth(Double(end))
            return AcceleratorRecord(measurementMonth: month, measurementYear: year, associatedRecord: record.jobID,
                                     globalUserName: record.owner, fqan: record.project, siteName: site,
                                     count: Double(usage.gpus), availableDuration: usage.wallSeconds)
        }
        return stride(from: 0, to: gpuRecords.count, by: Self.acceleratorRecordsPerMessage).map {
            AcceleratorMessage(usageRecords: Array(gpuRecords[$0..<min($0 + Self.acceleratorRecordsPerMessage, gpuRecords.count)]))
        }
    }

    private var serviceLevelFields: [(String, String)] {
        guard let serviceLevel else { return [] }
        return [("ServiceLevelType", serviceLevel.type), ("ServiceLevel", "\(serviceLevel.value)")]
    }

    /// Key: Value lines then `%%`. Values are one line of printable text (nothing a caller
    /// put in a name can start another field or record).
    static func render(_ fields: [(String, String)]) -> String {
        var out = ""
        for (key, value) in fields {
            let clean = String(value.unicodeScalars.map { $0.value < 32 || $0.value == 127 ? " " : Character($0) })
            out += "\(key): \(clean.trimmingCharacters(in: .whitespaces))\n"
        }
        return out + "%%\n"
    }

    static func adding(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? Int.max : sum
    }

    /// Year and month (1–12) of a time, in UTC.
    static func yearMonth(_ seconds: Double) -> (Int, Int) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let parts = calendar.dateComponents([.year, .month], from: Date(timeIntervalSince1970: seconds))
        return (parts.year ?? 1970, parts.month ?? 1)
    }
}
