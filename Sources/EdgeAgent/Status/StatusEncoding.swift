import Foundation
import NIOCore
import PodWire

/// The JSON the HTTP API writes: one encoder setup for every answer, so that a pod's status
/// encoded ahead of time is byte for byte what encoding the whole answer would give.
public enum WireJSON {
    /// Sorted keys (stable answers), slashes unescaped (image names, paths).
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// A JSON list of already-encoded values: `[a,b,…]`, as the encoder writes a list.
    public static func list(_ items: [[UInt8]]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(items.reduce(2) { $0 + $1.count + 1 })
        buffer.writeInteger(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            buffer.writeBytes(item)
        }
        buffer.writeInteger(UInt8(ascii: "]"))
        return buffer
    }
}

/// Builds a tracked pod's `PodStatus` (interLink's wire type) and its encoded form. The
/// registry keeps every pod's encoded status current with it, so `/status` copies bytes
/// instead of mapping and encoding each pod per request.
struct StatusRenderer: Sendable {
    /// The scheduler's name in messages (`Slurm`, `HTCondor`).
    var scheduler: String
    /// Where the builder puts a pod's folder (`<work-dir>/<namespace>-<uid>`).
    var podDirectory: @Sendable (_ namespace: String, _ uid: String) -> String
    private let encoder = WireJSON.encoder()

    init(scheduler: String, podDirectory: @escaping @Sendable (_ namespace: String, _ uid: String) -> String) {
        self.scheduler = scheduler
        self.podDirectory = podDirectory
    }

    func podDir(_ pod: TrackedPod) -> String {
        pod.customDir ?? podDirectory(pod.namespace, pod.uid)
    }

    func mapping(_ pod: TrackedPod) -> StatusMapping {
        StatusMapping(initContainers: pod.shape.initContainers, containers: pod.shape.containers, podDir: podDir(pod),
                      scheduler: scheduler)
    }

    /// The status of a pod that has not finished: from the poller's last look at its job
    /// and status files, or "submitted" before the first look.
    func currentStatus(_ pod: TrackedPod, now: Double) -> PodStatus {
        let mapping = mapping(pod)
        guard let live = pod.live else { return Self.podStatus(pod, mapping.submitted()) }
        let files = live.files
        return Self.podStatus(pod, mapping.map(job: live.job, now: now, read: { files?[$0] }))
    }

    static func podStatus(_ pod: TrackedPod, _ outcome: StatusMapping.Outcome) -> PodStatus {
        PodStatus(name: pod.name, uid: pod.uid, namespace: pod.namespace, jobID: pod.jobID ?? "",
                  containers: outcome.containers, initContainers: outcome.initContainers,
                  dte: StatusMapping.dteStatus(job: pod.live?.job, submitted: pod.submitted))
    }

    /// One `/status` entry as the API writes it. A status that cannot be encoded (it is made
    /// of strings, numbers and dates: it always can) would be left out of answers.
    func encode(_ status: PodStatus) -> [UInt8] {
        (try? encoder.encode(status)).map { [UInt8]($0) } ?? []
    }
}
