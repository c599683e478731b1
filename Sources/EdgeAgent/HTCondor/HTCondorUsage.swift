import Foundation

/// Usage of finished jobs from HTCondor's history: one `condor_history -json` call for many jobs.
extension HTCondorCLI {
    static let usageAttributes = ["ClusterId", "JobStatus", "ExitCode", "ExitBySignal", "ExitSignal", "HoldReasonCode",
                                  "QDate", "JobCurrentStartDate", "JobStartDate", "CompletionDate", "EnteredCurrentStatus",
                                  "RemoteWallClockTime", "RemoteUserCpu", "RemoteSysCpu", "ResidentSetSize_RAW",
                                  "RequestCpus", "RequestGpus", "AccountingGroup", "LastRemoteHost"]

    public func usage(jobIDs: [String]) async throws(AgentError) -> [String: JobUsage] {
        let ids = jobIDs.filter(BatchJobStatus.isJobID)
        guard !ids.isEmpty else { return [:] }
        let constraint = ids.map { "ClusterId == \($0)" }.joined(separator: " || ")
        let result = try await run("condor_history", ["-json", "-attributes", Self.usageAttributes.joined(separator: ","),
                                                      "-constraint", constraint])
        guard result.status == 0 else { throw Self.failure("condor_history", result) }
        return try Self.parseUsage(result.stdout)
    }

    /// Parses `condor_history -json` ads: wall time `RemoteWallClockTime`, CPU time
    /// `RemoteUserCpu` + `RemoteSysCpu`, peak memory `ResidentSetSize_RAW` (KiB), cores
    /// `RequestCpus`, GPUs `RequestGpus`. Numbers outside their bounds count as unknown (zero).
    static func parseUsage(_ text: String) throws(AgentError) -> [String: JobUsage] {
        var jobs: [String: JobUsage] = [:]
        for ad in try parseAds(text, what: "condor_history") {
            guard let info = jobStatus(ad), info.phase.isTerminal else { continue }
            func number(_ key: String, _ range: ClosedRange<Int>) -> Int? {
                guard case .number(let value) = ad[key] else { return nil }
                return Checked.reported(value, range)
            }
            func time(_ key: String) -> Double? {
                guard let seconds = number(key, 1...Int(UsageLimits.time.upperBound)) else { return nil }
                return Double(seconds)
            }
            let user = number("RemoteUserCpu", UsageLimits.seconds) ?? 0
            let system = number("RemoteSysCpu", UsageLimits.seconds) ?? 0
            let (cpu, overflow) = user.addingReportingOverflow(system)
            let host = ad["LastRemoteHost"]?.string.flatMap(Checked.reportedText)
            jobs[info.jobID] = JobUsage(
                state: info.phase, exitCode: info.exitCode.flatMap { UsageLimits.exitCode.contains($0) ? $0 : nil },
                signal: info.signal.flatMap { UsageLimits.exitCode.contains($0) ? $0 : nil },
                submitTime: time("QDate"), startTime: time("JobCurrentStartDate") ?? time("JobStartDate"),
                endTime: time("CompletionDate") ?? time("EnteredCurrentStatus"),
                wallSeconds: number("RemoteWallClockTime", UsageLimits.seconds) ?? 0,
                cpuSeconds: !overflow && UsageLimits.seconds.contains(cpu) ? cpu : 0,
                cores: number("RequestCpus", UsageLimits.count) ?? 0, nodes: 1,
                maxRSSKiB: number("ResidentSetSize_RAW", UsageLimits.memoryKiB) ?? 0,
                gpus: number("RequestGpus", UsageLimits.count) ?? 0,
                account: ad["AccountingGroup"]?.string.flatMap(Checked.reportedText),
                nodeList: host.map { String($0.split(separator: "@").last ?? Substring($0)) })
        }
        return jobs
    }
}
