import Foundation

/// Usage of finished jobs from Slurm's accounting: one `sacct` call for many jobs.
extension SlurmCLI {
    /// The fields asked of `sacct`, in this order.
    static let usageFields = ["JobID", "State", "ExitCode", "Submit", "Start", "End", "ElapsedRaw", "TotalCPU", "NCPUS",
                              "NNodes", "MaxRSS", "AllocTRES", "Account", "Partition", "NodeList"]

    /// What the finished jobs among `jobIDs` used; jobs accounting does not hold yet, or
    /// holds as not ended, are left out (asked again later).
    public func usage(jobIDs: [String]) async throws(AgentError) -> [String: JobUsage] {
        let ids = jobIDs.filter(BatchJobStatus.isJobID)
        guard !ids.isEmpty else { return [:] }
        var env = environment
        // Times in UTC, whatever the host's zone (and no daylight-saving ambiguity).
        env["TZ"] = "UTC"
        let result = try await CommandRunner.run(
            "sacct", ["--noheader", "--parsable2", "-j", ids.joined(separator: ","), "-o", Self.usageFields.joined(separator: ",")],
            environment: env, timeout: timeouts.poll)
        guard result.status == 0 else { throw Self.failure("sacct", result) }
        return Self.parseUsage(result.stdout)
    }

    /// Parses `sacct --parsable2 --noheader -o <usageFields>` lines: one line per job, then its
    /// steps (`<id>.batch`, `<id>.extern`, `<id>.0`), whose peak memory is the job's. Every
    /// number is range-checked: garbage gives an unknown (zero) value, never a trap.
    static func parseUsage(_ text: String) -> [String: JobUsage] {
        var jobs: [String: JobUsage] = [:]
        var stepRSS: [String: Int] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let f = line.split(separator: "|", omittingEmptySubsequences: false)
            guard f.count == usageFields.count else { continue }
            let id = f[0]
            let jobPart = id.split(separator: ".", maxSplits: 1).first ?? id
            let jobID = String(jobPart)
            guard BatchJobStatus.isJobID(jobID) else { continue }
            if id.contains(".") {
                if let rss = memoryKiB(f[10]) { stepRSS[jobID] = max(stepRSS[jobID] ?? 0, rss) }
                continue
            }
            // slurmdbd can hold a job's end before the rest of its record (its partition is then
            // still empty): such a job is asked again on a later poll.
            guard !f[13].isEmpty else { continue }
            let state = SlurmState(slurm: String(f[1].prefix(64))).phase
            let codes = f[2].split(separator: ":", maxSplits: 1)
            let tres = f[11]
            var usage = JobUsage(
                state: state,
                exitCode: codes.first.flatMap { Checked.reported($0, UsageLimits.exitCode) },
                signal: codes.count > 1 ? Checked.reported(codes[1], UsageLimits.exitCode) : nil,
                submitTime: utcTime(f[3]), startTime: utcTime(f[4]), endTime: utcTime(f[5]),
                wallSeconds: Checked.reported(f[6], UsageLimits.seconds) ?? 0,
                cpuSeconds: duration(f[7]) ?? 0,
                cores: Checked.reported(f[8], UsageLimits.count) ?? 0,
                nodes: Checked.reported(f[9], UsageLimits.count) ?? 0,
                maxRSSKiB: memoryKiB(f[10]) ?? 0,
                gpus: tresCount(tres, "gres/gpu") ?? 0,
                account: Checked.reportedText(f[12]), queue: Checked.reportedText(f[13]),
                nodeList: Checked.reportedText(f[14]).flatMap { $0 == "None assigned" ? nil : $0 })
            if usage.cores == 0 { usage.cores = tresCount(tres, "cpu") ?? 0 }
            jobs[jobID] = usage
        }
        for (id, rss) in stepRSS {
            guard var job = jobs[id] else { continue }
            job.maxRSSKiB = max(job.maxRSSKiB, rss)
            jobs[id] = job
        }
        return jobs.filter { $0.value.state.isTerminal }
    }

    /// `YYYY-MM-DDTHH:MM:SS` in UTC (`TZ=UTC` for the call); nil for `Unknown`, `None`, garbage.
    static func utcTime(_ text: some StringProtocol) -> Double? {
        guard text.utf8.count == 19 else { return nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        guard let seconds = formatter.date(from: String(text))?.timeIntervalSince1970,
              UsageLimits.time.contains(seconds) else { return nil }
        return seconds
    }

    /// Slurm's `[DD-][HH:]MM:SS[.mmm]` (TotalCPU) in whole seconds (rounded); nil when not one.
    static func duration(_ text: some StringProtocol) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 32 else { return nil }
        var days = 0
        var rest = Substring(text)
        if let dash = rest.firstIndex(of: "-") {
            guard let d = Checked.reported(rest[..<dash], 0...100_000_000) else { return nil }
            days = d
            rest = rest[rest.index(after: dash)...]
        }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count), let last = parts.last else { return nil }
        let secondsPart = last.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = secondsPart.first, let s = Checked.reported(whole, 0...59) else { return nil }
        var millis = 0
        if secondsPart.count > 1 {
            guard let m = Checked.reported(secondsPart[1].prefix(3), 0...999) else { return nil }
            millis = m
        }
        let numbers = parts.dropLast().map { Checked.reported($0, 0...1_000_000) }
        guard numbers.allSatisfy({ $0 != nil }) else { return nil }
        let minutes = numbers.last.flatMap { $0 } ?? 0
        let hours = numbers.count == 2 ? numbers[0] ?? 0 : 0
        let (dayHours, o1) = days.multipliedReportingOverflow(by: 24)
        let (allHours, o2) = dayHours.addingReportingOverflow(hours)
        let (allMinutes, o3) = allHours.multipliedReportingOverflow(by: 60)
        let (minutesSum, o4) = allMinutes.addingReportingOverflow(minutes)
        let (secondsAll, o5) = minutesSum.multipliedReportingOverflow(by: 60)
        let (total, o6) = secondsAll.addingReportingOverflow(s + (millis >= 500 ? 1 : 0))
        guard !(o1 || o2 || o3 || o4 || o5 || o6), UsageLimits.seconds.contains(total) else { return nil }
        return total
    }

    /// Memory as sacct prints it (`1234K`, `12.5M`, `3G`, `0`; base 1024) in KiB; nil when not one.
    static func memoryKiB(_ text: some StringProtocol) -> Int? {
        guard let unit = text.last, text.utf8.count <= 32 else { return nil }
        let factors: [Character: Double] = ["K": 1, "M": 1024, "G": 1_048_576, "T": 1_073_741_824, "P": 1_099_511_627_776]
        let number = unit.isNumber ? Double(String(text)) : Double(String(text.dropLast()))
        guard let value = number, let factor = unit.isNumber ? 1.0 / 1024 : factors[unit] else { return nil }
        return Checked.reported(value * factor, UsageLimits.memoryKiB)
    }

    /// The count of `key` in TRES text (`billing=1,cpu=2,gres/gpu=1,mem=100M,node=1`).
    static func tresCount(_ text: some StringProtocol, _ key: String) -> Int? {
        for item in text.split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0] == key { return Checked.reported(pair[1], UsageLimits.count) }
        }
        return nil
    }
}
