import Foundation
import PodWire
import Testing

@testable import EdgeAgent

/// DTE's status extension: the job's scheduler parameters (time limit, partition, QoS) now and
/// as submitted, under a key interLink's virtual kubelet does not read, bounded both ways.
@Suite struct StatusMappingJobParametersTests {
    func running(minutes: Int?, partition: String? = "batch", qos: String? = "normal") -> BatchJobStatus {
        var job = BatchJobStatus(jobID: "42", phase: .running)
        job.timeLimitMinutes = minutes
        job.partition = partition
        job.qos = qos
        return job
    }

    func json(_ status: PodStatus) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: try JSONEncoder().encode(status)) as? [String: Any])
    }

    @Test func aLiveJobCarriesItsParametersNowAndAsSubmitted() throws {
        let submitted = JobParameters(timeLimitMinutes: 5, partition: "batch", qos: nil)
        let dte = try #require(StatusMapping.dteStatus(job: running(minutes: 20), submitted: submitted))
        #expect(dte.job == JobParameters(timeLimitMinutes: 20, partition: "batch", qos: "normal"))
        #expect(dte.submitted == submitted)
        let status = PodStatus(name: "p", uid: "u", namespace: "n", jobID: "42", containers: [], initContainers: [], dte: dte)
        let object = try json(status)
        // interLink's keys are as they were; the extension is one more key
        #expect(Set(object.keys) == ["name", "UID", "namespace", "JID", "containers", "initContainers", "dte"])
        let job = try #require((object["dte"] as? [String: Any])?["job"] as? [String: Any])
        #expect(job["timeLimitMinutes"] as? Int == 20 && job["partition"] as? String == "batch" && job["qos"] as? String == "normal")
        #expect(try JSONDecoder().decode(PodStatus.self, from: try JSONEncoder().encode(status)) == status)
    }

    @Test func noExtensionWhenNothingCouldHaveChanged() throws {
        var ended = running(minutes: 20)
        ended.phase = .succeeded
        #expect(StatusMapping.dteStatus(job: ended, submitted: JobParameters(timeLimitMinutes: 5, partition: nil, qos: nil)) == nil)
        #expect(StatusMapping.dteStatus(job: nil, submitted: JobParameters(timeLimitMinutes: 5, partition: nil, qos: nil)) == nil)
        #expect(StatusMapping.dteStatus(job: running(minutes: nil, partition: nil, qos: nil), submitted: nil) == nil,
                "a scheduler that reports no parameters (HTCondor) adds nothing")
        let plain = PodStatus(name: "p", uid: "u", namespace: "n", jobID: "42", containers: [], initContainers: [])
        #expect(try json(plain)["dte"] == nil, "no dte key without the extension")
    }

    @Test func slurmTimeLimitsReadAsMinutes() {
        #expect(SlurmState.timeLimitMinutes("30:00") == 30)
        #expect(SlurmState.timeLimitMinutes("1-00:00:00") == 1_440)
        #expect(SlurmState.timeLimitMinutes("0:30") == 1, "seconds round up to a minute")
        #expect(SlurmState.timeLimitMinutes("UNLIMITED") == 0)
        #expect(SlurmState.timeLimitMinutes("INVALID") == nil && SlurmState.timeLimitMinutes("") == nil)
        #expect(SlurmState.timeLimitMinutes(String(repeating: "9", count: 40)) == nil, "too long: not a time")
        #expect(SlurmState.timeLimitMinutes("99999999999999999-00:00:00") == nil, "too large: left out, never a trap")
        #expect(SlurmState.timeLimitMinutes(UInt32(0xffff_ffff)) == 0 && SlurmState.timeLimitMinutes(UInt32(0xffff_fffe)) == nil)
        #expect(SlurmState.timeLimitMinutes(UInt32(90)) == 90)
    }

    /// A hostile or broken agent's extension is left out (or the bad values in it), and never
    /// costs the pod's status.
    @Test(arguments: [
        #"{"dte": {"job": {"timeLimitMinutes": -5, "partition": "batch"}}}"#,
        #"{"dte": {"job": {"timeLimitMinutes": 1e300}}}"#,
        #"{"dte": {"job": {"timeLimitMinutes": 99999999999999, "partition": "\#(String(repeating: "p", count: 200))"}}}"#,
        #"{"dte": {"job": {"partition": "a\u0007b", "qos": 7}}}"#,
        #"{"dte": {"job": "not an object", "submitted": [1, 2]}}"#,
        #"{"dte": 12}"#,
        #"{"dte": null}"#,
    ])
    func hostileExtensionsAreBounded(_ extra: String) throws {
        let body = #"{"name": "p", "UID": "u", "namespace": "n", "JID": "42", "containers": null, "initContainers": [], "#
            + extra.dropFirst()
        let status = try JSONDecoder().decode(PodStatus.self, from: Data(body.utf8))
        #expect(status.uid == "u" && status.jobID == "42")
        let job = status.dte?.job
        #expect(job?.timeLimitMinutes.map(JobParameters.timeLimitRange.contains) ?? true)
        for name in [job?.partition, job?.qos].compactMap({ $0 }) {
            #expect(name.utf8.count <= JobParameters.nameLimit && !name.contains("\u{7}"), "\(name)")
        }
        if extra.contains("batch") { #expect(job?.partition == "batch" && job?.timeLimitMinutes == nil, "the good value stays") }
    }
}
