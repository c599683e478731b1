import Foundation

// interLink's plugin API types (pkg/interlink/types.go), with its exact JSON keys.

/// The body of `POST /create`: one pod and, per container (init containers first, in pod
/// order), the ConfigMaps, Secrets and projected-volume content it uses.
public struct RetrievedPodData: Codable, Sendable, Hashable {
    public var pod: Pod
    public var container: [RetrievedContainer]
    /// interLink's per-plugin job configuration; arrives zero-valued and is not interpreted.
    public var jobConfig: JSONValue?
    /// A pre-built job script; this agent never runs one (it would be shell from the caller).
    public var jobScript: String?

    public init(pod: Pod, container: [RetrievedContainer] = []) {
        self.pod = pod
        self.container = container
        self.jobConfig = nil
        self.jobScript = nil
    }

    enum CodingKeys: String, CodingKey { case pod, container, jobConfig, jobScript }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        pod = try c.decode(Pod.self, forKey: .pod)
        container = try c.list(RetrievedContainer.self, forKey: .container)
        jobConfig = try c.decodeIfPresent(JSONValue.self, forKey: .jobConfig)
        jobScript = try c.decodeIfPresent(String.self, forKey: .jobScript)
    }
}

/// interLink's `RetrievedContainer`.
public struct RetrievedContainer: Codable, Sendable, Hashable {
    public var name: String
    public var configMaps: [ConfigMap]
    /// Projected volumes, resolved: `metadata.name` is the volume name, `data` maps path → content.
    public var projectedVolumeMaps: [ConfigMap]
    public var secrets: [Secret]

    public init(name: String, configMaps: [ConfigMap] = [], projectedVolumeMaps: [ConfigMap] = [],
                secrets: [Secret] = []) {
        self.name = name
        self.configMaps = configMaps
        self.projectedVolumeMaps = projectedVolumeMaps
        self.secrets = secrets
    }

    enum CodingKeys: String, CodingKey {
        case name, configMaps, secrets
        case projectedVolumeMaps = "projectedvolumemaps"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        configMaps = try c.list(ConfigMap.self, forKey: .configMaps)
        projectedVolumeMaps = try c.list(ConfigMap.self, forKey: .projectedVolumeMaps)
        secrets = try c.list(Secret.self, forKey: .secrets)
    }
}

/// The answer to `POST /create`.
public struct CreateResponse: Codable, Sendable, Hashable {
    public var podUID: String
    public var podJID: String
    public init(podUID: String, podJID: String) {
        self.podUID = podUID
        self.podJID = podJID
    }
    enum CodingKeys: String, CodingKey {
        case podUID = "PodUID"
        case podJID = "PodJID"
    }
}

/// interLink's `PodStatus`: one entry of the `/status` answer.
public struct PodStatus: Codable, Sendable, Hashable {
    public var name: String
    public var uid: String
    public var namespace: String
    public var jobID: String
    public var containers: [ContainerStatus]
    public var initContainers: [ContainerStatus]
    /// DTE's extension (key `dte`, absent when empty): interLink's virtual kubelet decodes
    /// with Go's `encoding/json`, which skips keys its struct does not name.
    public var dte: DTEPodStatus?

    public init(name: String, uid: String, namespace: String, jobID: String,
                containers: [ContainerStatus], initContainers: [ContainerStatus], dte: DTEPodStatus? = nil) {
        self.name = name
        self.uid = uid
        self.namespace = namespace
        self.jobID = jobID
        self.containers = containers
        self.initContainers = initContainers
        self.dte = dte
    }

    enum CodingKeys: String, CodingKey {
        case name, namespace, containers, initContainers, dte
        case uid = "UID"
        case jobID = "JID"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        uid = try c.decodeIfPresent(String.self, forKey: .uid) ?? ""
        namespace = try c.decodeIfPresent(String.self, forKey: .namespace) ?? ""
        jobID = try c.decodeIfPresent(String.self, forKey: .jobID) ?? ""
        containers = try c.list(ContainerStatus.self, forKey: .containers)
        initContainers = try c.list(ContainerStatus.self, forKey: .initContainers)
        // an extension that does not read is left out, never a reason to refuse the status
        dte = (try? c.decodeIfPresent(DTEPodStatus.self, forKey: .dte)) ?? nil
    }
}

/// What a DTE agent adds to a pod's status: the batch job's scheduler parameters now (`job`),
/// and as the agent submitted them (`submitted`; absent when the agent no longer knows, e.g.
/// after a restart). A DTE client compares the two to see a job changed at the site
/// (`scontrol update … TimeLimit=…`).
public struct DTEPodStatus: Codable, Sendable, Hashable {
    public var job: JobParameters?
    public var submitted: JobParameters?

    public init(job: JobParameters?, submitted: JobParameters? = nil) {
        self.job = job
        self.submitted = submitted
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        job = (try? c.decodeIfPresent(JobParameters.self, forKey: .job)) ?? nil
        submitted = (try? c.decodeIfPresent(JobParameters.self, forKey: .submitted)) ?? nil
    }

    enum CodingKeys: String, CodingKey { case job, submitted }

    /// nil when there is nothing to say (the status then carries no `dte` key).
    public var orNil: DTEPodStatus? { job == nil && submitted == nil ? nil : self }
}

/// A batch job's scheduler parameters: its time limit in minutes (0: none), partition and QoS.
/// Bounded when read: a value out of range or too long is left out.
public struct JobParameters: Codable, Sendable, Hashable {
    public var timeLimitMinutes: Int?
    public var partition: String?
    public var qos: String?

    /// Minutes: up to `UInt32.max` (Slurm's own bound). Names: up to 128 bytes.
    public static let timeLimitRange = 0...Int(UInt32.max)
    public static let nameLimit = 128

    public init(timeLimitMinutes: Int?, partition: String?, qos: String?) {
        self.timeLimitMinutes = timeLimitMinutes.flatMap { Self.timeLimitRange.contains($0) ? $0 : nil }
        self.partition = partition.flatMap(Self.name)
        self.qos = qos.flatMap(Self.name)
    }

    enum CodingKeys: String, CodingKey { case timeLimitMinutes, partition, qos }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(timeLimitMinutes: (try? c.decodeIfPresent(Int.self, forKey: .timeLimitMinutes)) ?? nil,
                  partition: (try? c.decodeIfPresent(String.self, forKey: .partition)) ?? nil,
                  qos: (try? c.decodeIfPresent(String.self, forKey: .qos)) ?? nil)
    }

    /// nil when nothing is known.
    public var orNil: JobParameters? { timeLimitMinutes == nil && partition == nil && qos == nil ? nil : self }

    static func name(_ text: String) -> String? {
        !text.isEmpty && text.utf8.count <= nameLimit && !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) ? text : nil
    }
}

/// Kubernetes `v1.ContainerStatus`.
public struct ContainerStatus: Codable, Sendable, Hashable {
    public var name: String
    public var state: ContainerState
    public var ready: Bool
    public var restartCount: Int
    public var image: String
    public var imageID: String
    public var started: Bool?

    public init(name: String, state: ContainerState, ready: Bool = false, image: String = "") {
        self.name = name
        self.state = state
        self.ready = ready
        self.restartCount = 0
        self.image = image
        self.imageID = ""
        self.started = nil
    }

    enum CodingKeys: String, CodingKey { case name, state, ready, restartCount, image, imageID, started }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        state = try c.decodeIfPresent(ContainerState.self, forKey: .state) ?? ContainerState()
        ready = try c.decodeIfPresent(Bool.self, forKey: .ready) ?? false
        restartCount = try c.decodeIfPresent(Int.self, forKey: .restartCount) ?? 0
        image = try c.decodeIfPresent(String.self, forKey: .image) ?? ""
        imageID = try c.decodeIfPresent(String.self, forKey: .imageID) ?? ""
        started = try c.decodeIfPresent(Bool.self, forKey: .started)
    }
}

/// Kubernetes `v1.ContainerState`: at most one member is set.
public struct ContainerState: Codable, Sendable, Hashable {
    public var waiting: Waiting?
    public var running: Running?
    public var terminated: Terminated?

    public init(waiting: Waiting? = nil, running: Running? = nil, terminated: Terminated? = nil) {
        self.waiting = waiting
        self.running = running
        self.terminated = terminated
    }

    public static func waiting(_ reason: String, _ message: String? = nil) -> ContainerState {
        ContainerState(waiting: Waiting(reason: reason, message: message))
    }

    public struct Waiting: Codable, Sendable, Hashable {
        public var reason: String?
        public var message: String?
        public init(reason: String? = nil, message: String? = nil) {
            self.reason = reason
            self.message = message
        }
    }

    public struct Running: Codable, Sendable, Hashable {
        public var startedAt: WireTime?
        public init(startedAt: WireTime?) { self.startedAt = startedAt }
    }

    public struct Terminated: Codable, Sendable, Hashable {
        public var exitCode: Int
        public var signal: Int?
        public var reason: String?
        public var message: String?
        public var startedAt: WireTime?
        public var finishedAt: WireTime?
        public init(exitCode: Int, signal: Int? = nil, reason: String? = nil, message: String? = nil,
                    startedAt: WireTime? = nil, finishedAt: WireTime? = nil) {
            self.exitCode = exitCode
            self.signal = signal
            self.reason = reason
            self.message = message
            self.startedAt = startedAt
            self.finishedAt = finishedAt
        }
    }
}

/// The body of `/getLogs`.
public struct LogStruct: Codable, Sendable, Hashable {
    public var namespace: String
    public var podUID: String
    public var podName: String
    public var containerName: String
    public var opts: LogOptions

    public init(namespace: String, podUID: String, podName: String, containerName: String,
                opts: LogOptions = LogOptions()) {
        self.namespace = namespace
        self.podUID = podUID
        self.podName = podName
        self.containerName = containerName
        self.opts = opts
    }

    enum CodingKeys: String, CodingKey {
        case namespace = "Namespace"
        case podUID = "PodUID"
        case podName = "PodName"
        case containerName = "ContainerName"
        case opts = "Opts"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        namespace = try c.decodeIfPresent(String.self, forKey: .namespace) ?? ""
        podUID = try c.decodeIfPresent(String.self, forKey: .podUID) ?? ""
        podName = try c.decodeIfPresent(String.self, forKey: .podName) ?? ""
        containerName = try c.decodeIfPresent(String.self, forKey: .containerName) ?? ""
        opts = try c.decodeIfPresent(LogOptions.self, forKey: .opts) ?? LogOptions()
    }
}

/// interLink's `ContainerLogOpts`. Zero values mean "not set", as Go sends them.
public struct LogOptions: Codable, Sendable, Hashable {
    public var tail: Int
    public var limitBytes: Int
    public var timestamps: Bool
    public var follow: Bool
    public var previous: Bool
    public var sinceSeconds: Int
    public var sinceTime: WireTime?

    public init(tail: Int = 0, limitBytes: Int = 0, timestamps: Bool = false, follow: Bool = false,
                previous: Bool = false, sinceSeconds: Int = 0, sinceTime: WireTime? = nil) {
        self.tail = tail
        self.limitBytes = limitBytes
        self.timestamps = timestamps
        self.follow = follow
        self.previous = previous
        self.sinceSeconds = sinceSeconds
        self.sinceTime = sinceTime
    }

    enum CodingKeys: String, CodingKey {
        case tail = "Tail"
        case limitBytes = "Bytes"
        case timestamps = "Timestamps"
        case follow = "Follow"
        case previous = "Previous"
        case sinceSeconds = "SinceSeconds"
        case sinceTime = "SinceTime"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tail = try c.decodeIfPresent(Int.self, forKey: .tail) ?? 0
        limitBytes = try c.decodeIfPresent(Int.self, forKey: .limitBytes) ?? 0
        timestamps = try c.decodeIfPresent(Bool.self, forKey: .timestamps) ?? false
        follow = try c.decodeIfPresent(Bool.self, forKey: .follow) ?? false
        previous = try c.decodeIfPresent(Bool.self, forKey: .previous) ?? false
        sinceSeconds = try c.decodeIfPresent(Int.self, forKey: .sinceSeconds) ?? 0
        if let text = try c.decodeIfPresent(String.self, forKey: .sinceTime), !text.isEmpty {
            guard let time = WireTime(rfc3339: text) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .sinceTime, in: c, debugDescription: "SinceTime '\(text)' is not an RFC 3339 time")
            }
            sinceTime = time.isZero ? nil : time
        } else {
            sinceTime = nil
        }
    }
}

/// The answer to the ping (`/status` with `[]`), as interLink 0.6 defines it.
public struct PingResponse: Codable, Sendable, Hashable {
    public var status: String
    public var resources: Resources
    public var taints: [Taint]

    public init(status: String, resources: Resources, taints: [Taint] = []) {
        self.status = status
        self.resources = resources
        self.taints = taints
    }

    public struct Resources: Codable, Sendable, Hashable {
        /// Kubernetes quantity strings.
        public var cpu: String
        public var memory: String
        public var pods: String
        public var accelerators: [Accelerator]
        public init(cpu: String, memory: String, pods: String, accelerators: [Accelerator]) {
            self.cpu = cpu
            self.memory = memory
            self.pods = pods
            self.accelerators = accelerators
        }
    }

    public struct Accelerator: Codable, Sendable, Hashable {
        public var resourceType: String
        public var available: String
        public init(resourceType: String, available: String) {
            self.resourceType = resourceType
            self.available = available
        }
    }

    public struct Taint: Codable, Sendable, Hashable {
        public var key: String
        public var value: String
        public var effect: String
        public init(key: String, value: String, effect: String) {
            self.key = key
            self.value = value
            self.effect = effect
        }
    }
}
