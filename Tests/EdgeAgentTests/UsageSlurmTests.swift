import DTETestSupport
@testable import EdgeAgent
import Foundation
import PodWire
import Testing

/// Usage of real finished jobs through the development cluster's slurmdbd: collected by the
/// poller in one `sacct` call, kept after the pods are gone and across a restart, served at
/// `/v1/usage` as JSON and as APEL records checked field by field.
@Suite(.serialized) struct UsageSlurmTests {
    /// APEL's individual job record v0.3 (apel/db/records/job.py): the fields of the message, the mandatory ones.
    static let apelJobFields: Set<String> = [
        "Site", "SubmitHost", "MachineName", "Queue", "LocalJobId", "LocalUserId", "GlobalUserName", "FQAN", "VO",
        "VOGroup", "VORole", "WallDuration", "CpuDuration", "Processors", "NodeCount", "StartTime", "EndTime",
        "InfrastructureDescription", "InfrastructureType", "MemoryReal", "MemoryVirtual", "ServiceLevelType", "ServiceLevel",
    ]
    static let apelJobMandatory = ["Site", "LocalJobId", "WallDuration", "CpuDuration", "StartTime", "EndTime"]
    static let apelJobIntegers = ["WallDuration", "CpuDuration", "Processors", "NodeCount", "MemoryReal", "StartTime", "EndTime"]
    /// APEL's summary record v0.3 (apel/db/records/summary.py).
    static let apelSummaryFields: Set<String> = [
        "Site", "Month", "Year", "GlobalUserName", "VO", "VOGroup", "VORole", "SubmitHost", "InfrastructureType",
        "ServiceLevelType", "ServiceLevel", "NodeCount", "Processors", "EarliestEndTime", "LatestEndTime",
        "WallDuration", "CpuDuration", "NumberOfJobs",
    ]
    static let apelSummaryMandatory = ["Site", "Month", "Year", "WallDuration", "CpuDuration", "NumberOfJobs"]

    /// What sacct itself says of a job, in epoch seconds (`SLURM_TIME_FORMAT=%s`): an independent reading.
    struct Accounted { var elapsed: Int, start: Int, end: Int, cpus: Int, account: String, state: String, nodes: String, partition: String }
    static func accounted(_ job: String) async throws -> Accounted {
        var env = ProcessInfo.processInfo.environment
        env["SLURM_TIME_FORMAT"] = "%s"
        let out = try await CommandRunner.run("sacct", ["-X", "-n", "-P", "-j", job, "-o", "ElapsedRaw,Start,End,NCPUS,Account,State,NodeList,Partition"],
                                              environment: env)
        let f = out.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        try #require(f.count == 8, "sacct: \(out.stdout) \(out.stderr)")
        return Accounted(elapsed: Int(f[0]) ?? -1, start: Int(f[1]) ?? -1, end: Int(f[2]) ?? -1, cpus: Int(f[3]) ?? -1,
                         account: f[4], state: f[5], nodes: f[6], partition: f[7])
    }

    /// `Key: Value` records of an APEL message, each closed by `%%`.
    static func records(_ text: String, header: String) throws -> [[String: String]] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        try #require(lines.first == header, "\(text.prefix(200))")
        lines.removeFirst()
        #expect(lines.last == "", "the message ends with a newline")
        var records: [[String: String]] = []
        var current: [String: String] = [:]
        for line in lines.dropLast() {
            if line == "%%" {
                records.append(current)
                current = [:]
                continue
            }
            let pair = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            try #require(pair.count == 2, "not Key: Value: \(line)")
            #expect(current[pair[0]] == nil, "field \(pair[0]) given twice")
            current[pair[0]] = pair[1]
        }
        #expect(current.isEmpty, "every record is closed by %%")
        return records
    }

    func usage(_ agent: TestAgent, _ query: String = "") async throws -> [UsageRecord] {
        let (status, body) = try await agent.request(.get, "/v1/usage" + query)
        try #require(status == 200, "\(String(decoding: body, as: UTF8.self))")
        return try JSONDecoder().decode(UsageAPI.PodsAnswer.self, from: body).usage
    }

    @Test func finishedJobsUsageIsCollectedKeptAndReportedAsAPELRecords() async throws {
        let agent = try TestAgent { c in
            c.apelSite = "DTE-TEST"
            c.apelServiceLevel = APELRecords.ServiceLevel("HEPscore23=10.5")
            c.apelAccelerator = true
        }
        let busy = Fixtures.pod("busy", namespace: "flood", containers: [Fixtures.container(
            "main", ["python3", "-c", "import time\nwhile time.process_time() < 3: pass"], limits: ["cpu": "1"])],
            annotations: ["dte.io/project": "flood-dt"])
        let hog = Fixtures.pod("hog", containers: [Fixtures.container(
            "hog", ["python3", "-c", "import time\nx = bytearray(600 * 1024 * 1024)\nfor i in range(0, len(x), 4096): x[i] = 1\ntime.sleep(30)"],
            limits: ["memory": "150Mi"])])
        let gpu = Fixtures.pod("gpu", containers: [Fixtures.container("main", ["sleep", "2"], limits: ["nvidia.com/gpu": "1"])])
        let cancelled = Fixtures.pod("cancelled", containers: [Fixtures.container("main", ["sleep", "300"])])
        var jobs: [String: String] = [:]
        // The pod to cancel goes first: it must start before it is cancelled, and the node's two
        // CPUs are shared with every suite running in parallel.
        for pod in [cancelled, busy, hog, gpu] { jobs[pod.pod.metadata.uid] = try await agent.create(pod) }

        // The cancelled pod: deleted through the agent once it runs; its usage outlives it.
        let uid = cancelled.pod.metadata.uid
        let deadline = Date().addingTimeInterval(240)
        var running = false
        while !running, Date() < deadline {
            running = try await agent.status([uid]).first?.container("main")?.state.running != nil
            if !running { try await Task.sleep(for: .milliseconds(300)) }
        }
        if !running {
            let seen = try await agent.status([uid])
            try #require(running, "the pod to cancel never started in 240 s: \(seen)")
        }
        try await Task.sleep(for: .seconds(1))
        let (deleted, _) = try await agent.request(.post, "/delete", body: try JSONEncoder().encode(cancelled.pod))
        #expect(deleted == 200)

        var records: [UsageRecord] = []
        let until = Date().addingTimeInterval(180)
        while Date() < until {
            records = try await usage(agent)
            if records.count == 4, records.allSatisfy({ $0.collection == .collected }) { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        try #require(records.count == 4 && records.allSatisfy { $0.collection == .collected }, "\(records)")
        #expect(try await agent.status([uid]).isEmpty, "the deleted pod is gone, its usage is not")
        let byUID = Dictionary(uniqueKeysWithValues: records.map { ($0.podUID, $0) })

        for record in records {
            let usage = try #require(record.usage)
            let truth = try await Self.accounted(record.jobID)
            #expect(record.jobID == jobs[record.podUID])
            #expect(usage.wallSeconds == truth.elapsed, "\(record.podName)")
            #expect(usage.startTime.map { Int($0) } == truth.start && usage.endTime.map { Int($0) } == truth.end,
                    "\(record.podName): times in UTC epoch seconds, as sacct's own %s")
            #expect(usage.cores == truth.cpus && usage.nodes == 1)
            #expect(usage.nodeList == truth.nodes && usage.queue == (truth.partition.isEmpty ? nil : truth.partition), "\(record.podName)")
            #expect(record.owner == "local")
            if record.podUID != busy.pod.metadata.uid {
                #expect(record.project == (truth.account.isEmpty ? record.namespace : truth.account), "the Slurm account, else the namespace")
            }
        }
        let busyUsage = try #require(byUID[busy.pod.metadata.uid]?.usage)
        #expect(byUID[busy.pod.metadata.uid]?.project == "flood-dt" && byUID[busy.pod.metadata.uid]?.namespace == "flood")
        #expect(busyUsage.state == .succeeded && busyUsage.exitCode == 0)
        // The loop spins until it has had 3 s of CPU, however busy the node's two CPUs are.
        #expect(busyUsage.wallSeconds >= 3 && busyUsage.cpuSeconds >= 3 && busyUsage.cpuSeconds <= busyUsage.wallSeconds + 1,
                "3 s of CPU on one core: \(busyUsage)")
        #expect(busyUsage.maxRSSKiB > 1_000, "python's peak memory, from the job's steps")
        let hogUsage = try #require(byUID[hog.pod.metadata.uid]?.usage)
        #expect([.failed, .outOfMemory].contains(hogUsage.state), "over its memory: \(hogUsage)")
        let gpuRecord = try #require(byUID[gpu.pod.metadata.uid])
        #expect(gpuRecord.usage?.gpus == 1 && gpuRecord.gpuSeconds == gpuRecord.usage?.wallSeconds)
        #expect(byUID[uid]?.usage?.state == .cancelled)

        // Aggregated.
        let (status, body) = try await agent.request(.get, "/v1/usage?group=project")
        #expect(status == 200)
        let groups = try JSONDecoder().decode(UsageAPI.GroupsAnswer.self, from: body)
        let flood = groups.usage.first { $0.key == "flood-dt" }
        #expect(flood?.jobs == 1 && flood?.coreSeconds == busyUsage.wallSeconds && flood?.cpuSeconds == busyUsage.cpuSeconds)
        #expect(groups.usage.reduce(0) { $0 + $1.jobs } == 4)
        let twins = try JSONDecoder().decode(UsageAPI.GroupsAnswer.self, from: try await agent.request(.get, "/v1/usage?group=twin").body)
        #expect(twins.usage.map(\.key) == ["flood", "tests"] && twins.usage.map(\.jobs) == [1, 3])
        #expect(try await usage(agent, "?twin=flood").map(\.podUID) == [busy.pod.metadata.uid])

        // APEL individual job records, field by field.
        let (jobStatus, jobBody) = try await agent.request(.get, "/v1/usage?format=apel-job")
        #expect(jobStatus == 200)
        let apel = try Self.records(String(decoding: jobBody, as: UTF8.self), header: "APEL-individual-job-message: v0.3")
        #expect(apel.count == 4)
        for fields in apel {
            #expect(Set(fields.keys).isSubset(of: Self.apelJobFields), "\(fields.keys.sorted())")
            for key in Self.apelJobMandatory { #expect(fields[key] != nil, "mandatory \(key)") }
            for key in Self.apelJobIntegers { #expect(fields[key].flatMap { Int($0) } != nil, "\(key) is an integer") }
            let record = try #require(records.first { $0.jobID == fields["LocalJobId"] })
            let usage = try #require(record.usage)
            #expect(fields["Site"] == "DTE-TEST")
            #expect(fields["GlobalUserName"] == record.owner && fields["VO"] == record.project)
            #expect(fields["WallDuration"] == "\(usage.wallSeconds)" && fields["CpuDuration"] == "\(usage.cpuSeconds)")
            #expect(fields["StartTime"] == usage.startTime.map { "\(Int($0))" } && fields["EndTime"] == usage.endTime.map { "\(Int($0))" })
            #expect(fields["Processors"] == "\(usage.cores)" && fields["NodeCount"] == "1")
            #expect(fields["MemoryReal"] == "\(usage.maxRSSKiB)", "KB")
            #expect(fields["Queue"] == usage.queue && fields["MachineName"] == usage.nodeList)
            #expect(fields["ServiceLevelType"] == "HEPscore23" && fields["ServiceLevel"] == "10.5", "a pair")
        }

        // APEL summaries: per month, user, project, node and processor count.
        let summaryText = String(decoding: try await agent.request(.get, "/v1/usage?format=apel-summary").body, as: UTF8.self)
        let summaries = try Self.records(summaryText, header: "APEL-summary-job-message: v0.3")
        #expect(!summaries.isEmpty)
        for fields in summaries {
            #expect(Set(fields.keys).isSubset(of: Self.apelSummaryFields), "\(fields.keys.sorted())")
            for key in Self.apelSummaryMandatory { #expect(fields[key] != nil, "mandatory \(key)") }
            let earliest = Double(fields["EarliestEndTime"] ?? "") ?? 0
            let (year, month) = APELRecords.yearMonth(earliest)
            #expect(fields["Year"] == "\(year)" && fields["Month"] == "\(month)")
            #expect((Int(fields["EarliestEndTime"] ?? "") ?? 0) <= (Int(fields["LatestEndTime"] ?? "") ?? -1))
        }
        #expect(summaries.reduce(0) { $0 + (Int($1["NumberOfJobs"] ?? "") ?? 0) } == 4)
        #expect(summaries.reduce(0) { $0 + (Int($1["WallDuration"] ?? "") ?? 0) } == records.reduce(0) { $0 + ($1.usage?.wallSeconds ?? 0) })
        #expect(summaries.first { $0["VO"] == "flood-dt" }?["CpuDuration"] == "\(busyUsage.cpuSeconds)")

        // GPU usage as an APEL-accelerator-message v0.1 (its schema's required keys).
        let (acceleratorStatus, acceleratorBody) = try await agent.request(.get, "/v1/usage?format=apel-accelerator")
        #expect(acceleratorStatus == 200)
        let messages = acceleratorBody.split(separator: 10)
        try #require(messages.count == 1, "\(String(decoding: acceleratorBody, as: UTF8.self))")
        let raw = try #require(try JSONSerialization.jsonObject(with: Data(messages[0])) as? [String: Any])
        #expect(raw["Type"] as? String == "APEL-accelerator-message" && raw["Version"] as? String == "0.1")
        let gpuRecords = try #require(raw["UsageRecords"] as? [[String: Any]])
        try #require(gpuRecords.count == 1, "only the GPU job")
        let accelerator = gpuRecords[0]
        for key in ["MeasurementMonth", "MeasurementYear", "AssociatedRecordType", "AssociatedRecord", "FQAN", "SiteName",
                    "Count", "AvailableDuration", "Type"] {
            #expect(accelerator[key] != nil, "required \(key)")
        }
        let (gpuYear, gpuMonth) = APELRecords.yearMonth(gpuRecord.usage?.endTime ?? 0)
        #expect(accelerator["MeasurementMonth"] as? Int == gpuMonth && accelerator["MeasurementYear"] as? Int == gpuYear)
        #expect(accelerator["AssociatedRecordType"] as? String == "job" && accelerator["AssociatedRecord"] as? String == gpuRecord.jobID)
        #expect(accelerator["Count"] as? Double == 1 && accelerator["AvailableDuration"] as? Int == gpuRecord.usage?.wallSeconds)
        #expect(accelerator["SiteName"] as? String == "DTE-TEST" && accelerator["Type"] as? String == "GPU")
        #expect(accelerator["FQAN"] as? String == gpuRecord.project && accelerator["GlobalUserName"] as? String == "local")

        // Callers see only their namespaces.
        let floodOnly = try await agent.controller.usage(visibility: PodVisibility(identity: "someone") { $0 == "flood" })
        #expect(floodOnly.map(\.podUID) == [busy.pod.metadata.uid])

        // A restart, and every pod expired: the usage stays, and so do the metrics' totals.
        agent.stop()
        try await Task.sleep(for: .seconds(1))
        let restarted = try TestAgent(dataDir: agent.dataDir) { $0.retentionSeconds = 0 }
        defer { restarted.stop() }
        let expireBy = Date().addingTimeInterval(30)
        while try await restarted.status(records.map(\.podUID)).count > 0, Date() < expireBy {
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(try await restarted.status(records.map(\.podUID)).isEmpty, "all pods expired")
        #expect(try await usage(restarted) == records)
        let metrics = String(decoding: try await restarted.request(.get, "/metrics").body, as: UTF8.self)
        let series = metrics.split(separator: "\n").first { $0.hasPrefix("dte_agent_usage_core_seconds_total{project=\"flood-dt\"} ") }
        #expect(series.flatMap { Double($0.split(separator: " ").last ?? "") } == Double(busyUsage.wallSeconds), "\(metrics)")
    }

    @Test func usageQueriesAreChecked() async throws {
        let agent = try TestAgent(backend: HTCondorCLI(logger: .init(label: "t"), binDir: "/nonexistent"))
        defer { agent.stop() }
        for (query, words) in [("?group=site", "group"), ("?format=xml", "format"), ("?month=2026-13", "month"),
                               ("?month=99999999999999999999-01", "month"), ("?twin=../x", "twin"), ("?colour=red", "colour"),
                               ("?format=apel-job&group=project", "group"), ("?group=pod&group=user", "twice")] {
            let (status, body) = try await agent.request(.get, "/v1/usage" + query)
            #expect(status == 400, "\(query)")
            #expect(String(decoding: body, as: UTF8.self).contains(words), "\(query): \(String(decoding: body, as: UTF8.self))")
        }
        let (status, body) = try await agent.request(.get, "/v1/usage?format=apel-job")
        #expect(status == 422 && String(decoding: body, as: UTF8.self).contains("apel-site"))
        let (accelerator, words) = try await agent.request(.get, "/v1/usage?format=apel-accelerator")
        #expect(accelerator == 422 && String(decoding: words, as: UTF8.self).contains("apel-accelerator"))
        let (ok, empty) = try await agent.request(.get, "/v1/usage?month=2026-12&group=month")
        #expect(ok == 200 && String(decoding: empty, as: UTF8.self) == #"{"group":"month","usage":[]}"#)
    }
}
