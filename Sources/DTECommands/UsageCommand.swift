import ArgumentParser
import DTEApply
import DTECompiler
import DTEHooks
import DTEPlanner
import DTEProviders
import Foundation

extension DTE {
    /// `dte usage`: what finished jobs used, per site, project and twin, from the sites' agents.
    struct Usage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what finished jobs used per site, project and twin (jobs, core-h, GPU-h, CPU-h, share of the allocation).",
            discussion: """
                Asks each site's agent (GET /v1/usage with the site's token): jobs accounting has collected, that the token \
                may see. Core-h are cores × wall time, GPU-h GPUs × wall time, CPU-h the CPU time used (user + system). \
                The allocation and share used are the project's on the site when its descriptor declares one; the plan's \
                allocation line shows the same figures. --csv: one row per site, project and twin with a header row; \
                --json: see docs/usage.md. Exit status: 0, 1 when an agent cannot be reached or refuses the token (the \
                site is named), 64 usage error.
                """
        )

        @OptionGroup var location: LocationOptions
        @OptionGroup var agentOptions: AgentOptions
        @Option(name: .customLong("site"), help: "Only this site (repeatable).") var sites: [String] = []
        @Option(help: "Only this twin.") var twin: String?
        @Option(help: ArgumentHelp("Only jobs that ended in this month (UTC).", valueName: "YYYY-MM")) var month: String?
        @Flag(help: "JSON (docs/usage.md).") var json = false
        @Flag(help: "CSV with a header row.") var csv = false

        func validate() throws {
            if json && csv { throw ValidationError("--json and --csv cannot be combined") }
            if let month, !UsageQuery.isMonth(month) { throw ValidationError("--month takes YYYY-MM (years 1970 to 2499), got \"\(month.prefix(40))\"") }
            if let twin, !UsageQuery.isTwinName(twin) { throw ValidationError("--twin takes a twin's name (a DNS label), got \"\(twin.prefix(70))\"") }
        }

        func run() async throws {
            let wd = location.workingDirectory
            let c = Compiler.compile(.repository("."), workingDirectory: wd)
            let known = SiteInfo.all(in: c.model)
            let settings = agentOptions.settings
            let names = Set(known.map(\.name)).union(settings.overrides.keys)
            for s in sites where !names.contains(s) {
                throw CommandFailure("no site \(s) (sites: \(names.sorted().joined(separator: ", ")))")
            }
            let agents = try SiteAgents(sites: known, settings: settings, config: c.config, workingDirectory: wd, interactive: true)
            let asked = (sites.isEmpty ? names.filter { agents.provider($0) != nil } : Set(sites)).sorted()
            var report = UsageReport(month: month, twin: twin, sites: [])
            var failures: [String] = []
            let query = UsageQuery(month: month, twin: twin)
            for site in asked {
                guard let provider = agents.provider(site) else {
                    failures.append("site \(site) declares no agent endpoint (give one with --agent \(site)=URL)")
                    continue
                }
                do {
                    let jobs = try await provider.usage(query)
                    report.sites.append(UsageReport.site(site, jobs: jobs, allocations: known.first { $0.name == site }?.allocations ?? []))
                } catch let e as ProviderError {
                    failures.append("site \(site): \(e.message)")
                } catch {
                    failures.append("site \(site): \(error)")
                }
            }
            await agents.shutdown()
            if !failures.isEmpty { throw CommandFailure("cannot read the usage of every site: " + failures.joined(separator: "; ")) }
            print(json ? report.json() : (csv ? report.csv() : report.text()), terminator: "")
        }
    }
}

/// What `dte usage` prints: per site, per project (with its allocation there), per twin.
struct UsageReport: Encodable {
    var month: String?
    var twin: String?
    var sites: [Site]

    struct Figures: Encodable {
        var jobs = 0
        var coreSeconds = 0
        var gpuSeconds = 0
        var cpuSeconds = 0
        var coreHours: Double { Double(coreSeconds) / 3600 }
        var gpuHours: Double { Double(gpuSeconds) / 3600 }
        var cpuHours: Double { Double(cpuSeconds) / 3600 }

        mutating func add(_ j: AccountedJob) {
            jobs += 1
            coreSeconds = Self.sum(coreSeconds, j.coreSeconds)
            gpuSeconds = Self.sum(gpuSeconds, j.gpuSeconds)
            cpuSeconds = Self.sum(cpuSeconds, j.cpuSeconds)
        }

        static func sum(_ a: Int, _ b: Int) -> Int {
            let (s, o) = a.addingReportingOverflow(b)
            return o ? Int.max : s
        }

        enum Key: String, CodingKey { case jobs, coreSeconds, gpuSeconds, cpuSeconds, coreHours, gpuHours, cpuHours }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(jobs, forKey: .jobs)
            try c.encode(coreSeconds, forKey: .coreSeconds)
            try c.encode(gpuSeconds, forKey: .gpuSeconds)
            try c.encode(cpuSeconds, forKey: .cpuSeconds)
            try c.encode(coreHours, forKey: .coreHours)
            try c.encode(gpuHours, forKey: .gpuHours)
            try c.encode(cpuHours, forKey: .cpuHours)
        }
    }

    struct Allocation: Encodable {
        var coreHours: Double
        var gpuHours: Double
        /// Used ÷ granted (nil when nothing is granted).
        var coreShareUsed: Double?
        var gpuShareUsed: Double?
    }

    struct Twin: Encodable {
        var twin: String
        var usage: Figures
    }

    struct Project: Encodable {
        var project: String
        var usage: Figures
        var allocation: Allocation?
        var twins: [Twin]
    }

    struct Site: Encodable {
        var site: String
        var projects: [Project]
    }

    static func site(_ name: String, jobs: [AccountedJob], allocations: [AllocationInfo]) -> Site {
        var projects: [String: (Figures, [String: Figures])] = [:]
        for j in jobs {
            var p = projects[j.project] ?? (Figures(), [:])
            p.0.add(j)
            p.1[j.twin, default: Figures()].add(j)
            projects[j.project] = p
        }
        return Site(site: name, projects: projects.keys.sorted().compactMap { key in
            guard let entry = projects[key] else { return nil }
            let (total, twins) = entry
            let allocation = allocations.first { $0.project == key }.map { a in
                Allocation(coreHours: a.coreHours, gpuHours: a.gpuHours,
                           coreShareUsed: a.coreHours > 0 ? total.coreHours / a.coreHours : nil,
                           gpuShareUsed: a.gpuHours > 0 ? total.gpuHours / a.gpuHours : nil)
            }
            return Project(project: key, usage: total, allocation: allocation,
                           twins: twins.keys.sorted().compactMap { t in twins[t].map { Twin(twin: t, usage: $0) } })
        })
    }

    func json() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return ((try? e.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}") + "\n"
    }

    static func share(_ s: Double?) -> String { s.map { String(format: "%.1f %%", $0 * 100) } ?? "-" }

    /// One row per project (twin `*`, with the allocation) and one per twin under it.
    func text() -> String {
        var rows = [["SITE", "PROJECT", "TWIN", "JOBS", "CORE-H", "GPU-H", "CPU-H", "ALLOCATION", "USED"]]
        for s in sites {
            for p in s.projects {
                let granted = p.allocation.map { "\(AllocationHook.hours($0.coreHours)) core-h / \(AllocationHook.hours($0.gpuHours)) GPU-h" } ?? "-"
                let used = p.allocation.map { "\(Self.share($0.coreShareUsed)) / \(Self.share($0.gpuShareUsed))" } ?? "-"
                rows.append([s.site, p.project, "*", String(p.usage.jobs), AllocationHook.hours(p.usage.coreHours), AllocationHook.hours(p.usage.gpuHours),
                             AllocationHook.hours(p.usage.cpuHours), granted, used])
                for t in p.twins {
                    rows.append([s.site, p.project, t.twin, String(t.usage.jobs), AllocationHook.hours(t.usage.coreHours),
                                 AllocationHook.hours(t.usage.gpuHours), AllocationHook.hours(t.usage.cpuHours), "", ""])
                }
            }
        }
        var out = ""
        let scope = [month.map { "month \($0)" }, twin.map { "twin \($0)" }].compactMap { $0 }
        if rows.count == 1 {
            return "no finished jobs accounted\(scope.isEmpty ? "" : " (" + scope.joined(separator: ", ") + ")")\n"
        }
        let widths = (0..<rows[0].count).map { i in rows.map { $0[i].count }.max() ?? 0 }
        for r in rows {
            out += zip(r, widths).enumerated().map { i, cell in
                i >= 3 && i <= 6 ? String(repeating: " ", count: cell.1 - cell.0.count) + cell.0 : cell.0.padding(toLength: cell.1, withPad: " ", startingAt: 0)
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) + "\n"
        }
        if !scope.isEmpty { out += "(" + scope.joined(separator: ", ") + ")\n" }
        return out
    }

    /// `site,project,twin,jobs,core_hours,gpu_hours,cpu_hours,allocation_core_hours,allocation_gpu_hours,core_share_used,gpu_share_used`:
    /// one row per site, project and twin; the allocation columns are the project's (empty without one), the shares the twin's part of it.
    func csv() -> String {
        var out = "site,project,twin,jobs,core_hours,gpu_hours,cpu_hours,allocation_core_hours,allocation_gpu_hours,core_share_used,gpu_share_used\n"
        func number(_ x: Double?) -> String { x.map { String(format: "%.6f", $0) } ?? "" }
        for s in sites {
            for p in s.projects {
                for t in p.twins {
                    let a = p.allocation
                    let cells = [s.site, p.project, t.twin, String(t.usage.jobs), number(t.usage.coreHours), number(t.usage.gpuHours), number(t.usage.cpuHours),
                                 number(a?.coreHours), number(a?.gpuHours),
                                 number(a.flatMap { $0.coreHours > 0 ? t.usage.coreHours / $0.coreHours : nil }),
                                 number(a.flatMap { $0.gpuHours > 0 ? t.usage.gpuHours / $0.gpuHours : nil })]
                    out += cells.map(Self.csvField).joined(separator: ",") + "\n"
                }
            }
        }
        return out
    }

    /// RFC 4180: quoted when it holds a comma, quote or line break; a leading `=+-@` is prefixed
    /// with `'` so a spreadsheet does not take a name for a formula.
    static func csvField(_ s: String) -> String {
        var t = s
        if let f = t.first, "=+-@".contains(f), Double(t) == nil { t = "'" + t }
        guard t.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return t }
        return "\"" + t.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

extension SiteAgents {
    /// The allocation gate's reader: the site's finished jobs through its agent (`GET /v1/usage`),
    /// within 10 s (a site that does not answer by then is reported as such, not waited for).
    var accountingReader: AccountingReader {
        let agents = self
        return { site in
            guard let provider = agents.provider(site) else { return .unavailable("site \(site) declares no agent endpoint") }
            do {
                let jobs = try await provider.usage(within: 10)
                return .accounted(jobs.map { AccountedUse(project: $0.project, jobID: $0.jobID, use: AllocationUse(core: Double($0.coreSeconds) / 3600,
                                                                                                                   gpu: Double($0.gpuSeconds) / 3600)) })
            } catch let e as ProviderError {
                return .unavailable(e.message)
            } catch {
                return .unavailable("\(error)")
            }
        }
    }
}
