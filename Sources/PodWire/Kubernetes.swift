import Foundation

// The subset of Kubernetes' core/v1 objects that reaches an interLink plugin, with the
// JSON keys Kubernetes uses. Unknown keys are ignored; lists and maps that Go sends as
// `null` decode as empty.

/// `metav1.ObjectMeta` (the parts a plugin uses).
public struct ObjectMeta: Codable, Sendable, Hashable {
    public var name: String
    public var namespace: String
    public var uid: String
    public var labels: [String: String]
    public var annotations: [String: String]
    public var creationTimestamp: WireTime?

    public init(name: String, namespace: String = "default", uid: String = "",
                labels: [String: String] = [:], annotations: [String: String] = [:],
                creationTimestamp: WireTime? = nil) {
        self.name = name
        self.namespace = namespace
        self.uid = uid
        self.labels = labels
        self.annotations = annotations
        self.creationTimestamp = creationTimestamp
    }

    enum CodingKeys: String, CodingKey { case name, namespace, uid, labels, annotations, creationTimestamp }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        namespace = try c.decodeIfPresent(String.self, forKey: .namespace) ?? ""
        uid = try c.decodeIfPresent(String.self, forKey: .uid) ?? ""
        labels = try c.map(String.self, forKey: .labels)
        annotations = try c.map(String.self, forKey: .annotations)
        creationTimestamp = try? c.decodeIfPresent(WireTime.self, forKey: .creationTimestamp)
    }
}

/// `v1.Pod`. Only `metadata` and `spec` are read; `status` is never trusted from callers.
public struct Pod: Codable, Sendable, Hashable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta
    public var spec: PodSpec

    public init(metadata: ObjectMeta, spec: PodSpec) {
        self.apiVersion = "v1"
        self.kind = "Pod"
        self.metadata = metadata
        self.spec = spec
    }

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, spec }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try c.decodeIfPresent(String.self, forKey: .apiVersion)
        kind = try c.decodeIfPresent(String.self, forKey: .kind)
        metadata = try c.decodeIfPresent(ObjectMeta.self, forKey: .metadata) ?? ObjectMeta(name: "", namespace: "")
        spec = try c.decodeIfPresent(PodSpec.self, forKey: .spec) ?? PodSpec(containers: [])
    }
}

/// `v1.PodSpec` (the parts a plugin uses).
public struct PodSpec: Codable, Sendable, Hashable {
    public var initContainers: [Container]
    public var containers: [Container]
    public var volumes: [Volume]
    public var restartPolicy: String?
    public var activeDeadlineSeconds: Int?
    public var nodeSelector: [String: String]
    public var securityContext: PodSecurityContext?
    /// The node the scheduler put the pod on (interLink's virtual node); read by the downward API.
    public var nodeName: String?
    public var serviceAccountName: String?

    public init(initContainers: [Container] = [], containers: [Container], volumes: [Volume] = [],
                restartPolicy: String? = nil, activeDeadlineSeconds: Int? = nil) {
        self.initContainers = initContainers
        self.containers = containers
        self.volumes = volumes
        self.restartPolicy = restartPolicy
        self.activeDeadlineSeconds = activeDeadlineSeconds
        self.nodeSelector = [:]
        self.securityContext = nil
    }

    enum CodingKeys: String, CodingKey {
        case initContainers, containers, volumes, restartPolicy, activeDeadlineSeconds, nodeSelector, securityContext
        case nodeName, serviceAccountName
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        initContainers = try c.list(Container.self, forKey: .initContainers)
        containers = try c.list(Container.self, forKey: .containers)
        volumes = try c.list(Volume.self, forKey: .volumes)
        restartPolicy = try c.decodeIfPresent(String.self, forKey: .restartPolicy)
        activeDeadlineSeconds = try c.decodeIfPresent(Int.self, forKey: .activeDeadlineSeconds)
        nodeSelector = try c.map(String.self, forKey: .nodeSelector)
        securityContext = try c.decodeIfPresent(PodSecurityContext.self, forKey: .securityContext)
        nodeName = try c.decodeIfPresent(String.self, forKey: .nodeName)
        serviceAccountName = try c.decodeIfPresent(String.self, forKey: .serviceAccountName)
    }
}

/// `v1.PodSecurityContext` / `v1.SecurityContext` (user and group only).
public struct PodSecurityContext: Codable, Sendable, Hashable {
    public var runAsUser: Int?
    public var runAsGroup: Int?
    public init(runAsUser: Int? = nil, runAsGroup: Int? = nil) {
        self.runAsUser = runAsUser
        self.runAsGroup = runAsGroup
    }
}

/// `v1.Container` (the parts a plugin uses).
public struct Container: Codable, Sendable, Hashable {
    public var name: String
    public var image: String
    public var command: [String]
    public var args: [String]
    public var workingDir: String?
    public var env: [EnvVar]
    public var envFrom: [EnvFromSource]
    public var resources: ResourceRequirements
    public var volumeMounts: [VolumeMount]
    public var lifecycle: Lifecycle?
    public var securityContext: PodSecurityContext?
    public var imagePullPolicy: String?
    /// Declared ports (probes may name one).
    public var ports: [ContainerPort] = []
    public var startupProbe: Probe?
    public var livenessProbe: Probe?
    public var readinessProbe: Probe?

    public init(name: String, image: String = "", command: [String] = [], args: [String] = [],
                workingDir: String? = nil, env: [EnvVar] = [], envFrom: [EnvFromSource] = [],
                resources: ResourceRequirements = ResourceRequirements(), volumeMounts: [VolumeMount] = [],
                lifecycle: Lifecycle? = nil) {
        self.name = name
        self.image = image
        self.command = command
        self.args = args
        self.workingDir = workingDir
        self.env = env
        self.envFrom = envFrom
        self.resources = resources
        self.volumeMounts = volumeMounts
        self.lifecycle = lifecycle
        self.securityContext = nil
        self.imagePullPolicy = nil
    }

    enum CodingKeys: String, CodingKey {
        case name, image, command, args, workingDir, env, envFrom, resources, volumeMounts, lifecycle
        case securityContext, imagePullPolicy, ports, startupProbe, livenessProbe, readinessProbe
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        image = try c.decodeIfPresent(String.self, forKey: .image) ?? ""
        command = try c.list(String.self, forKey: .command)
        args = try c.list(String.self, forKey: .args)
        workingDir = try c.decodeIfPresent(String.self, forKey: .workingDir)
        env = try c.list(EnvVar.self, forKey: .env)
        envFrom = try c.list(EnvFromSource.self, forKey: .envFrom)
        resources = try c.decodeIfPresent(ResourceRequirements.self, forKey: .resources) ?? ResourceRequirements()
        volumeMounts = try c.list(VolumeMount.self, forKey: .volumeMounts)
        lifecycle = try c.decodeIfPresent(Lifecycle.self, forKey: .lifecycle)
        securityContext = try c.decodeIfPresent(PodSecurityContext.self, forKey: .securityContext)
        imagePullPolicy = try c.decodeIfPresent(String.self, forKey: .imagePullPolicy)
        ports = try c.list(ContainerPort.self, forKey: .ports)
        startupProbe = try c.decodeIfPresent(Probe.self, forKey: .startupProbe)
        livenessProbe = try c.decodeIfPresent(Probe.self, forKey: .livenessProbe)
        readinessProbe = try c.decodeIfPresent(Probe.self, forKey: .readinessProbe)
    }
}

/// `v1.EnvVar`.
public struct EnvVar: Codable, Sendable, Hashable {
    public var name: String
    public var value: String?
    public var valueFrom: EnvVarSource?
    public init(name: String, value: String? = nil, valueFrom: EnvVarSource? = nil) {
        self.name = name
        self.value = value
        self.valueFrom = valueFrom
    }
}

/// `v1.EnvVarSource`: a ConfigMap or Secret key, or the downward API (a field of the pod, a
/// resource of a container).
public struct EnvVarSource: Codable, Sendable, Hashable {
    public var configMapKeyRef: KeySelector?
    public var secretKeyRef: KeySelector?
    public var fieldRef: FieldSelector?
    public var resourceFieldRef: ResourceFieldSelector?
    public init(configMapKeyRef: KeySelector? = nil, secretKeyRef: KeySelector? = nil, fieldRef: FieldSelector? = nil,
                resourceFieldRef: ResourceFieldSelector? = nil) {
        self.configMapKeyRef = configMapKeyRef
        self.secretKeyRef = secretKeyRef
        self.fieldRef = fieldRef
        self.resourceFieldRef = resourceFieldRef
    }
}

/// `v1.ObjectFieldSelector`.
public struct FieldSelector: Codable, Sendable, Hashable {
    public var fieldPath: String
    public init(fieldPath: String) { self.fieldPath = fieldPath }
}

/// `v1.ResourceFieldSelector`: `limits.cpu`, `requests.memory`, … of a container, divided by
/// `divisor` (a quantity, `1` when absent).
public struct ResourceFieldSelector: Codable, Sendable, Hashable {
    public var containerName: String?
    public var resource: String
    public var divisor: String?
    public init(containerName: String? = nil, resource: String, divisor: String? = nil) {
        self.containerName = containerName
        self.resource = resource
        self.divisor = divisor
    }
    enum CodingKeys: String, CodingKey { case containerName, resource, divisor }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        containerName = try c.decodeIfPresent(String.self, forKey: .containerName)
        resource = try c.decodeIfPresent(String.self, forKey: .resource) ?? ""
        divisor = try c.decodeIfPresent(QuantityText.self, forKey: .divisor)?.text
    }
}

/// `v1.DownwardAPIVolumeFile`: one file of a `downwardAPI` volume (or projection).
public struct DownwardAPIVolumeFile: Codable, Sendable, Hashable {
    public var path: String
    public var fieldRef: FieldSelector?
    public var resourceFieldRef: ResourceFieldSelector?
    public var mode: Int?
    public init(path: String, fieldRef: FieldSelector? = nil, resourceFieldRef: ResourceFieldSelector? = nil, mode: Int? = nil) {
        self.path = path
        self.fieldRef = fieldRef
        self.resourceFieldRef = resourceFieldRef
        self.mode = mode
    }
}

/// `v1.DownwardAPIVolumeSource` / `v1.DownwardAPIProjection`.
public struct DownwardAPIVolumeSource: Codable, Sendable, Hashable {
    public var items: [DownwardAPIVolumeFile]
    public var defaultMode: Int?
    public init(items: [DownwardAPIVolumeFile] = [], defaultMode: Int? = nil) {
        self.items = items
        self.defaultMode = defaultMode
    }
    enum CodingKeys: String, CodingKey { case items, defaultMode }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        items = try c.list(DownwardAPIVolumeFile.self, forKey: .items)
        defaultMode = try c.decodeIfPresent(Int.self, forKey: .defaultMode)
    }
}

/// `v1.ConfigMapKeySelector` / `v1.SecretKeySelector`.
public struct KeySelector: Codable, Sendable, Hashable {
    public var name: String
    public var key: String
    public var optional: Bool?
    public init(name: String, key: String, optional: Bool? = nil) {
        self.name = name
        self.key = key
        self.optional = optional
    }
}

/// `v1.EnvFromSource`.
public struct EnvFromSource: Codable, Sendable, Hashable {
    public var prefix: String?
    public var configMapRef: NameReference?
    public var secretRef: NameReference?
    public init(prefix: String? = nil, configMapRef: NameReference? = nil, secretRef: NameReference? = nil) {
        self.prefix = prefix
        self.configMapRef = configMapRef
        self.secretRef = secretRef
    }
}

/// A reference by name (`v1.ConfigMapEnvSource`, `v1.SecretEnvSource`, `v1.LocalObjectReference`).
public struct NameReference: Codable, Sendable, Hashable {
    public var name: String
    public var optional: Bool?
    public init(name: String, optional: Bool? = nil) {
        self.name = name
        self.optional = optional
    }
}

/// `v1.ResourceRequirements`; values are Kubernetes quantity strings.
public struct ResourceRequirements: Codable, Sendable, Hashable {
    public var limits: [String: String]
    public var requests: [String: String]
    public init(limits: [String: String] = [:], requests: [String: String] = [:]) {
        self.limits = limits
        self.requests = requests
    }

    enum CodingKeys: String, CodingKey { case limits, requests }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        limits = try c.map(QuantityText.self, forKey: .limits).mapValues(\.text)
        requests = try c.map(QuantityText.self, forKey: .requests).mapValues(\.text)
    }
}

/// A quantity that may arrive as a JSON string (`"500m"`) or a number (`2`).
struct QuantityText: Decodable {
    var text: String
    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let string = try? c.decode(String.self) {
            text = string
        } else if let int = try? c.decode(Int.self) {
            text = String(int)
        } else {
            text = String(try c.decode(Double.self))
        }
    }
}

/// `v1.VolumeMount`.
public struct VolumeMount: Codable, Sendable, Hashable {
    public var name: String
    public var mountPath: String
    public var readOnly: Bool?
    public var subPath: String?
    public init(name: String, mountPath: String, readOnly: Bool? = nil, subPath: String? = nil) {
        self.name = name
        self.mountPath = mountPath
        self.readOnly = readOnly
        self.subPath = subPath
    }
}

/// `v1.Lifecycle` (exec handlers only; HTTP and TCP handlers are rejected).
public struct Lifecycle: Codable, Sendable, Hashable {
    public var postStart: LifecycleHandler?
    public var preStop: LifecycleHandler?
    public init(postStart: LifecycleHandler? = nil, preStop: LifecycleHandler? = nil) {
        self.postStart = postStart
        self.preStop = preStop
    }
}

/// `v1.LifecycleHandler`.
public struct LifecycleHandler: Codable, Sendable, Hashable {
    public var exec: ExecAction?
    public var httpGet: JSONValue?
    public var tcpSocket: JSONValue?
    public var sleep: JSONValue?
    public init(exec: ExecAction?) {
        self.exec = exec
        self.httpGet = nil
        self.tcpSocket = nil
        self.sleep = nil
    }
}

/// `v1.ExecAction`.
public struct ExecAction: Codable, Sendable, Hashable {
    public var command: [String]
    public init(command: [String]) { self.command = command }
    enum CodingKeys: String, CodingKey { case command }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        command = try c.list(String.self, forKey: .command)
    }
}

/// `v1.KeyToPath`.
public struct KeyToPath: Codable, Sendable, Hashable {
    public var key: String
    public var path: String
    public var mode: Int?
    public init(key: String, path: String, mode: Int? = nil) {
        self.key = key
        self.path = path
        self.mode = mode
    }
}

/// `v1.Volume`. The volume types a plugin can serve are typed; any other type is kept by
/// name in `unsupportedTypes` so it can be rejected with a clear message instead of dropped.
public struct Volume: Codable, Sendable, Hashable {
    public var name: String
    public var configMap: ConfigMapVolumeSource?
    public var secret: SecretVolumeSource?
    public var emptyDir: EmptyDirVolumeSource?
    public var hostPath: HostPathVolumeSource?
    public var projected: ProjectedVolumeSource?
    public var downwardAPI: DownwardAPIVolumeSource?
    /// Keys of volume types this agent does not know (e.g. `persistentVolumeClaim`, `nfs`).
    public var unsupportedTypes: [String]

    public init(name: String, configMap: ConfigMapVolumeSource? = nil, secret: SecretVolumeSource? = nil,
                emptyDir: EmptyDirVolumeSource? = nil, hostPath: HostPathVolumeSource? = nil,
                projected: ProjectedVolumeSource? = nil, downwardAPI: DownwardAPIVolumeSource? = nil) {
        self.name = name
        self.configMap = configMap
        self.secret = secret
        self.emptyDir = emptyDir
        self.hostPath = hostPath
        self.projected = projected
        self.downwardAPI = downwardAPI
        self.unsupportedTypes = []
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case name, configMap, secret, emptyDir, hostPath, projected, downwardAPI }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        configMap = try c.decodeIfPresent(ConfigMapVolumeSource.self, forKey: .configMap)
        secret = try c.decodeIfPresent(SecretVolumeSource.self, forKey: .secret)
        emptyDir = try c.decodeIfPresent(EmptyDirVolumeSource.self, forKey: .emptyDir)
        hostPath = try c.decodeIfPresent(HostPathVolumeSource.self, forKey: .hostPath)
        projected = try c.decodeIfPresent(ProjectedVolumeSource.self, forKey: .projected)
        downwardAPI = try c.decodeIfPresent(DownwardAPIVolumeSource.self, forKey: .downwardAPI)
        let all = try decoder.container(keyedBy: AnyKey.self)
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        var others: [String] = []
        for key in all.allKeys where !known.contains(key.stringValue) {
            if try all.decodeNil(forKey: key) { continue }
            others.append(key.stringValue)
        }
        unsupportedTypes = others.sorted()
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encodeIfPresent(configMap, forKey: .configMap)
        try c.encodeIfPresent(secret, forKey: .secret)
        try c.encodeIfPresent(emptyDir, forKey: .emptyDir)
        try c.encodeIfPresent(hostPath, forKey: .hostPath)
        try c.encodeIfPresent(projected, forKey: .projected)
        try c.encodeIfPresent(downwardAPI, forKey: .downwardAPI)
        var all = encoder.container(keyedBy: AnyKey.self)
        for other in unsupportedTypes {
            try all.encode([String: String](), forKey: AnyKey(stringValue: other))
        }
    }
}

/// `v1.ConfigMapVolumeSource`.
public struct ConfigMapVolumeSource: Codable, Sendable, Hashable {
    public var name: String
    public var items: [KeyToPath]
    public var defaultMode: Int?
    public var optional: Bool?
    public init(name: String, items: [KeyToPath] = [], defaultMode: Int? = nil, optional: Bool? = nil) {
        self.name = name
        self.items = items
        self.defaultMode = defaultMode
        self.optional = optional
    }
    enum CodingKeys: String, CodingKey { case name, items, defaultMode, optional }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        items = try c.list(KeyToPath.self, forKey: .items)
        defaultMode = try c.decodeIfPresent(Int.self, forKey: .defaultMode)
        optional = try c.decodeIfPresent(Bool.self, forKey: .optional)
    }
}

/// `v1.SecretVolumeSource`.
public struct SecretVolumeSource: Codable, Sendable, Hashable {
    public var secretName: String
    public var items: [KeyToPath]
    public var defaultMode: Int?
    public var optional: Bool?
    public init(secretName: String, items: [KeyToPath] = [], defaultMode: Int? = nil, optional: Bool? = nil) {
        self.secretName = secretName
        self.items = items
        self.defaultMode = defaultMode
        self.optional = optional
    }
    enum CodingKeys: String, CodingKey { case secretName, items, defaultMode, optional }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        secretName = try c.decodeIfPresent(String.self, forKey: .secretName) ?? ""
        items = try c.list(KeyToPath.self, forKey: .items)
        defaultMode = try c.decodeIfPresent(Int.self, forKey: .defaultMode)
        optional = try c.decodeIfPresent(Bool.self, forKey: .optional)
    }
}

/// `v1.EmptyDirVolumeSource`.
public struct EmptyDirVolumeSource: Codable, Sendable, Hashable {
    public var medium: String?
    public var sizeLimit: String?
    public init(medium: String? = nil, sizeLimit: String? = nil) {
        self.medium = medium
        self.sizeLimit = sizeLimit
    }
}

/// `v1.HostPathVolumeSource`.
public struct HostPathVolumeSource: Codable, Sendable, Hashable {
    public var path: String
    public var type: String?
    public init(path: String, type: String? = nil) {
        self.path = path
        self.type = type
    }
}

/// `v1.ProjectedVolumeSource`. interLink's virtual kubelet sends the resolved content of a
/// projected volume separately (`projectedvolumemaps`); the sources here are resolved against
/// the ConfigMaps and Secrets sent with the pod when that content is missing.
public struct ProjectedVolumeSource: Codable, Sendable, Hashable {
    public var sources: [ProjectedSource]
    public var defaultMode: Int?
    public init(sources: [ProjectedSource] = [], defaultMode: Int? = nil) {
        self.sources = sources
        self.defaultMode = defaultMode
    }
    enum CodingKeys: String, CodingKey { case sources, defaultMode }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sources = try c.list(ProjectedSource.self, forKey: .sources)
        defaultMode = try c.decodeIfPresent(Int.self, forKey: .defaultMode)
    }
}

/// `v1.VolumeProjection` (ConfigMap, Secret and downward API projections; a service-account
/// token is served from `projectedvolumemaps` only).
public struct ProjectedSource: Codable, Sendable, Hashable {
    public var configMap: ConfigMapVolumeSource?
    public var secret: ProjectedSecret?
    public var downwardAPI: DownwardAPIVolumeSource?
    public init(configMap: ConfigMapVolumeSource? = nil, secret: ProjectedSecret? = nil, downwardAPI: DownwardAPIVolumeSource? = nil) {
        self.configMap = configMap
        self.secret = secret
        self.downwardAPI = downwardAPI
    }
}

/// `v1.SecretProjection`.
public struct ProjectedSecret: Codable, Sendable, Hashable {
    public var name: String
    public var items: [KeyToPath]
    public var optional: Bool?
    enum CodingKeys: String, CodingKey { case name, items, optional }
    public init(name: String, items: [KeyToPath] = [], optional: Bool? = nil) {
        self.name = name
        self.items = items
        self.optional = optional
    }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        items = try c.list(KeyToPath.self, forKey: .items)
        optional = try c.decodeIfPresent(Bool.self, forKey: .optional)
    }
}

/// `v1.ConfigMap`: `data` is text, `binaryData` base64.
public struct ConfigMap: Codable, Sendable, Hashable {
    public var metadata: ObjectMeta
    public var data: [String: String]
    public var binaryData: [String: String]
    public init(metadata: ObjectMeta, data: [String: String] = [:], binaryData: [String: String] = [:]) {
        self.metadata = metadata
        self.data = data
        self.binaryData = binaryData
    }
    enum CodingKeys: String, CodingKey { case metadata, data, binaryData }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try c.decodeIfPresent(ObjectMeta.self, forKey: .metadata) ?? ObjectMeta(name: "", namespace: "")
        data = try c.map(String.self, forKey: .data)
        binaryData = try c.map(String.self, forKey: .binaryData)
    }
}

/// `v1.Secret`: `data` values are base64; `stringData` (write-only in Kubernetes) is accepted as text.
public struct Secret: Codable, Sendable, Hashable {
    public var metadata: ObjectMeta
    public var data: [String: String]
    public var stringData: [String: String]
    public var type: String?
    public init(metadata: ObjectMeta, data: [String: String] = [:], stringData: [String: String] = [:]) {
        self.metadata = metadata
        self.data = data
        self.stringData = stringData
        self.type = nil
    }
    enum CodingKeys: String, CodingKey { case metadata, data, stringData, type }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try c.decodeIfPresent(ObjectMeta.self, forKey: .metadata) ?? ObjectMeta(name: "", namespace: "")
        data = try c.map(String.self, forKey: .data)
        stringData = try c.map(String.self, forKey: .stringData)
        type = try c.decodeIfPresent(String.self, forKey: .type)
    }

    /// The decoded bytes of every key (`stringData` wins over `data`, as in Kubernetes).
    /// Returns nil for the first key whose base64 is invalid, with that key.
    public func decodedValues() -> Result<[String: Data], InvalidBase64> {
        var values: [String: Data] = [:]
        for (key, encoded) in data {
            guard let bytes = Data(base64Encoded: encoded, options: .ignoreUnknownCharacters) else {
                return .failure(InvalidBase64(secret: metadata.name, key: key))
            }
            values[key] = bytes
        }
        for (key, text) in stringData { values[key] = Data(text.utf8) }
        return .success(values)
    }

    /// A secret key whose value is not valid base64.
    public struct InvalidBase64: Error, Sendable, Hashable {
        public var secret: String
        public var key: String
    }
}

/// Any JSON value, kept to notice (and reject) handlers this agent cannot run.
public enum JSONValue: Codable, Sendable, Hashable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}


/// `v1.ContainerPort` (what a probe may name).
public struct ContainerPort: Codable, Sendable, Hashable {
    public var name: String?
    public var containerPort: Int
    public var `protocol`: String?
    public init(name: String? = nil, containerPort: Int, protocol: String? = nil) {
        self.name = name
        self.containerPort = containerPort
        self.protocol = `protocol`
    }
    enum CodingKeys: String, CodingKey { case name, containerPort, `protocol` }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name)
        containerPort = try c.decodeIfPresent(Int.self, forKey: .containerPort) ?? 0
        `protocol` = try c.decodeIfPresent(String.self, forKey: .protocol)
    }
}

/// A port given as a number or as the name of a container port (`IntOrString`).
public enum PortReference: Codable, Sendable, Hashable {
    case number(Int)
    case name(String)
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int.self) { self = .number(n) } else { self = .name(try c.decode(String.self)) }
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .number(let n): try c.encode(n)
        case .name(let s): try c.encode(s)
        }
    }
}

/// `v1.HTTPHeader`.
public struct HTTPHeaderValue: Codable, Sendable, Hashable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// `v1.HTTPGetAction`.
public struct HTTPGetAction: Codable, Sendable, Hashable {
    public var path: String?
    public var port: PortReference
    public var host: String?
    public var scheme: String?
    public var httpHeaders: [HTTPHeaderValue]
    public init(path: String? = nil, port: PortReference, host: String? = nil, scheme: String? = nil, httpHeaders: [HTTPHeaderValue] = []) {
        self.path = path
        self.port = port
        self.host = host
        self.scheme = scheme
        self.httpHeaders = httpHeaders
    }
    enum CodingKeys: String, CodingKey { case path, port, host, scheme, httpHeaders }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        path = try c.decodeIfPresent(String.self, forKey: .path)
        port = try c.decodeIfPresent(PortReference.self, forKey: .port) ?? .number(0)
        host = try c.decodeIfPresent(String.self, forKey: .host)
        scheme = try c.decodeIfPresent(String.self, forKey: .scheme)
        httpHeaders = try c.list(HTTPHeaderValue.self, forKey: .httpHeaders)
    }
}

/// `v1.TCPSocketAction`.
public struct TCPSocketAction: Codable, Sendable, Hashable {
    public var port: PortReference
    public var host: String?
    public init(port: PortReference, host: String? = nil) {
        self.port = port
        self.host = host
    }
}

/// `v1.Probe`: a check of a running container (startup, liveness, readiness).
public struct Probe: Codable, Sendable, Hashable {
    public var exec: ExecAction?
    public var httpGet: HTTPGetAction?
    public var tcpSocket: TCPSocketAction?
    public var grpc: JSONValue?
    public var initialDelaySeconds: Int?
    public var periodSeconds: Int?
    public var timeoutSeconds: Int?
    public var successThreshold: Int?
    public var failureThreshold: Int?
    public var terminationGracePeriodSeconds: Int?
    public init(exec: ExecAction? = nil, httpGet: HTTPGetAction? = nil, tcpSocket: TCPSocketAction? = nil,
                initialDelaySeconds: Int? = nil, periodSeconds: Int? = nil, timeoutSeconds: Int? = nil,
                successThreshold: Int? = nil, failureThreshold: Int? = nil) {
        self.exec = exec
        self.httpGet = httpGet
        self.tcpSocket = tcpSocket
        self.grpc = nil
        self.initialDelaySeconds = initialDelaySeconds
        self.periodSeconds = periodSeconds
        self.timeoutSeconds = timeoutSeconds
        self.successThreshold = successThreshold
        self.failureThreshold = failureThreshold
        self.terminationGracePeriodSeconds = nil
    }
}
