@testable import EdgeAgent
import Foundation
import Testing

/// Accounting output read into usage: sacct's `--parsable2` lines and HTCondor's
/// `condor_history -json` ads, then hostile output of both (no trap, nothing trusted).
@Suite struct UsageParsingTests {
    /// Fields: JobID|State|ExitCode|Submit|Start|End|ElapsedRaw|TotalCPU|NCPUS|NNodes|MaxRSS|AllocTRES|Account|Partition|NodeList
    static let sacct = """
        101|COMPLETED|0:0|2026-11-30T10:00:00|2026-11-30T10:00:05|2026-11-30T10:01:05|60|01:02.600|2|1||billing=2,cpu=2,mem=200M,node=1|flood|batch|node1
        101.batch|COMPLETED|0:0|2026-11-30T10:00:05|2026-11-30T10:00:05|2026-11-30T10:01:05|60|01:02.600|2|1|204800K|cpu=2,mem=200M,node=1|flood||node1
        101.extern|COMPLETED|0:0|2026-11-30T10:00:05|2026-11-30T10:00:05|2026-11-30T10:01:05|60|00:00:00|2|1|1.5M|billing=2,cpu=2,mem=200M,node=1|flood||node1
        102|CANCELLED by 0|0:15|2026-11-30T11:00:00|2026-11-30T11:00:01|2026-11-30T12:00:02|3601|1-01:00:00|4|1||billing=4,cpu=4,gres/gpu=2,mem=1G,node=1|flood|gpu|node2
        102.batch|CANCELLED|0:15|2026-11-30T11:00:01|2026-11-30T11:00:01|2026-11-30T12:00:02|3601|1-01:00:00|4|1|2G|cpu=4,gres/gpu=2,mem=1G,node=1|flood||node2
        103|FAILED|0:9|2026-11-30T12:00:00|2026-11-30T12:00:01|2026-11-30T12:00:03|2|00:01.200|1|1||billing=1,cpu=1,mem=50M,node=1|flood|batch|node1
        104|RUNNING|0:0|2026-11-30T12:00:00|2026-11-30T12:00:01|Unknown|20|00:00:00|1|1||billing=1,cpu=1,mem=50M,node=1|flood|batch|node1
        105|CANCELLED by 1000|0:0|2026-11-30T12:00:00|None|2026-11-30T12:00:09|0|00:00:00|1|0||billing=1,cpu=1,mem=50M,node=1|flood|batch|None assigned
        """

    @Test func sacctLinesBecomeUsage() throws {
        let jobs = SlurmCLI.parseUsage(Self.sacct)
        #expect(Set(jobs.keys) == ["101", "102", "103", "105"], "a job still running in accounting is asked again later")
        let done = try #require(jobs["101"])
        #expect(done.state == .succeeded && done.exitCode == 0 && done.signal == 0)
        #expect(done.wallSeconds == 60 && done.cpuSeconds == 63 && done.cores == 2 && done.nodes == 1 && done.gpus == 0)
        #expect(done.maxRSSKiB == 204_800, "the largest step's MaxRSS")
        #expect(done.startTime == 1_796_032_805 && done.endTime == 1_796_032_865 && done.submitTime == 1_796_032_800,
                "times read as UTC")
        #expect(done.account == "flood" && done.queue == "batch" && done.nodeList == "node1")
        #expect(done.coreSeconds == 120)

        let cancelled = try #require(jobs["102"])
        #expect(cancelled.state == .cancelled, "'CANCELLED by 0' is matched on its first word")
        #expect(cancelled.cpuSeconds == 90_000, "1-01:00:00 is 25 hours")
        #expect(cancelled.gpus == 2 && cancelled.gpuSeconds == 7_202)
        #expect(cancelled.maxRSSKiB == 2 * 1_048_576)
        #expect(cancelled.signal == 15)

        #expect(jobs["103"]?.state == .failed && jobs["103"]?.signal == 9 && jobs["103"]?.cpuSeconds == 1)
        #expect(jobs["105"]?.startTime == nil && jobs["105"]?.nodeList == nil, "never started: no start, no node")
    }

    @Test func hostileSacctOutputNeverTraps() {
        let huge = "99999999999999999999999999999"
        func line(_ fields: [String]) -> String {
            var all = fields + Array(repeating: "", count: max(0, SlurmCLI.usageFields.count - fields.count))
            if fields.count <= 13, !fields.isEmpty, !fields[0].contains(".") { all[13] = "batch" }
            return all.joined(separator: "|")
        }
        let lines = [
            line(["201", "COMPLETED", "\(huge):-1", "garbage", "2026-99-99T99:99:99", "9999-12-31T23:59:59", huge,
                  "\(huge)-99:99:99", "-4", huge, "", "gres/gpu=\(huge),cpu=\(huge)", "\u{1}evil",
                  String(repeating: "p", count: 10_000), "n"]),
            line(["201.batch", "COMPLETED", "0:0", "", "", "", "", "99999999999:59.999", "1", "1", "1e308K"]),
            line(["201.0", "COMPLETED", "0:0", "", "", "", "", "00:00", "1", "1", "\(huge)P"]),
            line(["202", "COMPLETED", "0:0", "", "", "", "nan", "nan:nan", "nan", "inf", "", "gres/gpu=-1"]),
            line(["203", "COMPLETED", "0:0", "", "", "", "1", "-1:-1.-1", "1", "1", "-5K", "cpu=1"]),
            line([huge, "COMPLETED", "0:0"]),
            "204|COMPLETED",
            line([]),
            String(repeating: "|", count: 100_000),
            line(["205", "COMPLETED", "0:0", "", "", "", "", "::::::", "1", "1", "K"]),
        ].joined(separator: "\n")
        let jobs = SlurmCLI.parseUsage(lines)
        let first = jobs["201"]
        #expect(first?.exitCode == nil && first?.signal == nil && first?.wallSeconds == 0 && first?.cpuSeconds == 0)
        #expect(first?.cores == 0 && first?.nodes == 0 && first?.gpus == 0 && first?.maxRSSKiB == 0)
        #expect(first?.startTime == nil && first?.endTime == nil && first?.submitTime == nil)
        #expect(first?.account == nil && first?.queue == nil, "control characters and 10 kB names are not taken")
        #expect(jobs["203"]?.maxRSSKiB == 0 && jobs["203"]?.cpuSeconds == 0)
        #expect(jobs["205"]?.cpuSeconds == 0)
        #expect(jobs.count == 4)
        #expect(SlurmCLI.parseUsage("301|COMPLETED|0:0|||||00:01|1|1||cpu=1|acct||node1").isEmpty,
                "a record without its partition yet is asked again later")
    }

    /// Recorded with the attributes the agent asks for (`condor_history -json -attributes …`):
    /// HTCondor writes one JSON array of ads; numbers as JSON numbers, RemoteWallClockTime and
    /// the CPU times as reals.
    static let condorHistory = """
        [
        {
          "AccountingGroup": "group_flood.alice",
          "ClusterId": 4711,
          "CompletionDate": 1764500460,
          "EnteredCurrentStatus": 1764500460,
          "ExitBySignal": false,
          "ExitCode": 0,
          "JobCurrentStartDate": 1764500400,
          "JobStatus": 4,
          "LastRemoteHost": "slot1_1@wn-12.example.org",
          "QDate": 1764500390,
          "RemoteSysCpu": 2.0,
          "RemoteUserCpu": 110.0,
          "RemoteWallClockTime": 60.0,
          "RequestCpus": 2,
          "RequestGpus": 1,
          "ResidentSetSize_RAW": 524288
        }
        ,
        {
          "ClusterId": 4712,
          "CompletionDate": 0,
          "EnteredCurrentStatus": 1764500500,
          "JobStatus": 3,
          "QDate": 1764500390,
          "RemoteSysCpu": 0.0,
          "RemoteUserCpu": 0.0,
          "RemoteWallClockTime": 0.0,
          "RequestCpus": 1
        }
        ,
        {
          "ClusterId": 4713,
          "JobStatus": 2,
          "RemoteWallClockTime": 5.0
        }
        ]
        """

    @Test func condorHistoryAdsBecomeUsage() throws {
        let jobs = try HTCondorCLI.parseUsage(Self.condorHistory)
        #expect(Set(jobs.keys) == ["4711", "4712"], "a running job has no final usage yet")
        let done = try #require(jobs["4711"])
        #expect(done.state == .succeeded && done.exitCode == 0)
        #expect(done.wallSeconds == 60 && done.cpuSeconds == 112, "RemoteUserCpu + RemoteSysCpu")
        #expect(done.cores == 2 && done.gpus == 1 && done.maxRSSKiB == 524_288, "ResidentSetSize_RAW is KiB")
        #expect(done.startTime == 1_764_500_400 && done.endTime == 1_764_500_460 && done.submitTime == 1_764_500_390)
        #expect(done.account == "group_flood.alice" && done.nodeList == "wn-12.example.org")
        let removed = try #require(jobs["4712"])
        #expect(removed.state == .cancelled && removed.endTime == 1_764_500_500 && removed.cores == 1)
    }

    @Test func hostileCondorHistoryNeverTraps() throws {
        let ads = """
            [{"ClusterId": 1, "JobStatus": 4, "ExitCode": 1e300, "RemoteWallClockTime": 1e308, "RemoteUserCpu": 3e18,
              "RemoteSysCpu": 3e18, "RequestCpus": -7, "RequestGpus": "two", "ResidentSetSize_RAW": 1e308,
              "CompletionDate": -1, "JobCurrentStartDate": 9e99, "AccountingGroup": {"x": 1}, "LastRemoteHost": 5},
             {"ClusterId": 2, "JobStatus": 4, "RemoteUserCpu": 3153600000000000000, "RemoteSysCpu": 3153600000000000000}]
            """
        let jobs = try HTCondorCLI.parseUsage(ads)
        let one = try #require(jobs["1"])
        #expect(one.wallSeconds == 0 && one.cpuSeconds == 0 && one.cores == 0 && one.gpus == 0 && one.maxRSSKiB == 0)
        #expect(one.startTime == nil && one.endTime == nil && one.account == nil && one.nodeList == nil)
        #expect(jobs["2"]?.cpuSeconds == 0, "a sum past the bound is unknown, not a trap")
        #expect(throws: AgentError.self) { try HTCondorCLI.parseUsage("[{\"ClusterId\": ") }
        #expect(try HTCondorCLI.parseUsage("").isEmpty)
    }

    @Test func totalCPUFormats() {
        #expect(SlurmCLI.duration("00:00.004") == 0)
        #expect(SlurmCLI.duration("00:00.500") == 1)
        #expect(SlurmCLI.duration("12:34") == 754)
        #expect(SlurmCLI.duration("01:02:03") == 3_723)
        #expect(SlurmCLI.duration("2-00:00:01") == 172_801)
        #expect(SlurmCLI.duration("") == nil && SlurmCLI.duration("x") == nil && SlurmCLI.duration("1:2:3:4") == nil)
    }
}
