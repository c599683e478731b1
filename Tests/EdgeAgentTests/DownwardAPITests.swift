import EdgeAgent
import Foundation
import PodWire
import Testing

/// The downward API as a container sees it: its env file and the files of `downwardAPI`
/// volumes (and projections), built from the pod — and every field path or resource a pod may
/// name that the agent cannot serve refused with the field named, never a trap.
@Suite struct DownwardAPITests {
    static func pod(env: [EnvVar] = [], volumes: [Volume] = [], mounts: [VolumeMount] = [], limits: [String: String] = [:],
                    requests: [String: String] = [:], annotations: [String: String] = [:]) -> RetrievedPodData {
        var data = Fixtures.pod("downward", uid: "0e5c3a5e-8f1b-4d7a-9a53-2b6f6b0c9d11", namespace: "flood",
                                containers: [Fixtures.container("main", ["true"], env: env, mounts: mounts, limits: limits, requests: requests),
                                             Fixtures.container("side", ["true"], limits: ["cpu": "2", "memory": "3Gi"])],
                                volumes: volumes, annotations: annotations)
        data.pod.metadata.labels = ["app": "flood-dt", "tier": "say \"hi\"\nbye", "z.example.org/zone": "α-β"]
        data.pod.spec.nodeName = "interlink-vega"
        data.pod.spec.serviceAccountName = "runner"
        return data
    }

    static func env(_ job: PodJob, container: String = "main") -> [String: String] {
        guard let file = job.files.first(where: { $0.path == "run-\(container).env" }) else { return [:] }
        var out: [String: String] = [:]
        for entry in file.contents.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let eq = text.firstIndex(of: "=") else { continue }
            out[String(text[..<eq])] = String(text[text.index(after: eq)...])
        }
        return out
    }

    static func field(_ name: String, _ path: String) -> EnvVar {
        EnvVar(name: name, valueFrom: EnvVarSource(fieldRef: FieldSelector(fieldPath: path)))
    }

    static func resource(_ name: String, _ resource: String, divisor: String? = nil, container: String? = nil) -> EnvVar {
        EnvVar(name: name, valueFrom: EnvVarSource(resourceFieldRef: ResourceFieldSelector(containerName: container, resource: resource, divisor: divisor)))
    }

    @Test func podFieldsReachTheEnvironment() throws {
        let job = try Fixtures.builder().build(Self.pod(env: [
            Self.field("POD_NAME", "metadata.name"), Self.field("POD_NAMESPACE", "metadata.namespace"),
            Self.field("POD_UID", "metadata.uid"), Self.field("APP", "metadata.labels['app']"),
            Self.field("ZONE", "metadata.labels['z.example.org/zone']"), Self.field("MISSING", "metadata.annotations['absent']"),
            Self.field("NODE_NAME", "spec.nodeName"), Self.field("SA", "spec.serviceAccountName"),
            Self.field("POD_IP", "status.podIP"), Self.field("HOST_IP", "status.hostIP"),
        ], annotations: ["interlink.eu/pod-ip": "10.4.0.17"]))
        let env = Self.env(job)
        #expect(env["POD_NAME"] == "downward")
        #expect(env["POD_NAMESPACE"] == "flood")
        #expect(env["POD_UID"] == "0e5c3a5e-8f1b-4d7a-9a53-2b6f6b0c9d11")
        #expect(env["APP"] == "flood-dt")
        #expect(env["ZONE"] == "α-β")
        #expect(env["MISSING"] == "")
        #expect(env["NODE_NAME"] == "interlink-vega")
        #expect(env["SA"] == "runner")
        #expect(env["POD_IP"] == "10.4.0.17")
        #expect(env["HOST_IP"] == "10.4.0.17")
        // without interLink's pod-ip annotation the job's address is not known before it runs
        let bare = try Fixtures.builder().build(Self.pod(env: [Self.field("POD_IP", "status.podIP")]))
        #expect(Self.env(bare)["POD_IP"] == "")
    }

    @Test func labelMapsAreWrittenInTheKubeletFormat() throws {
        let volume = Volume(name: "podinfo", downwardAPI: DownwardAPIVolumeSource(items: [
            DownwardAPIVolumeFile(path: "labels", fieldRef: FieldSelector(fieldPath: "metadata.labels")),
            DownwardAPIVolumeFile(path: "meta/name", fieldRef: FieldSelector(fieldPath: "metadata.name"), mode: 0o640),
            DownwardAPIVolumeFile(path: "cpu", resourceFieldRef: ResourceFieldSelector(containerName: "side", resource: "limits.cpu", divisor: "1m")),
        ]))
        let job = try Fixtures.builder().build(Self.pod(env: [Self.field("LABELS", "metadata.labels")], volumes: [volume],
                                                        mounts: [VolumeMount(name: "podinfo", mountPath: "/etc/podinfo")]))
        let files = Dictionary(job.files.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        let labels = try #require(files["downwardAPI/podinfo/labels"])
        #expect(String(decoding: labels.contents, as: UTF8.self)
                    == "app=\"flood-dt\"\ntier=\"say \\\"hi\\\"\\nbye\"\nz.example.org/zone=\"α-β\"")
        #expect(labels.mode == 0o644)
        #expect(files["downwardAPI/podinfo/meta/name"].map { String(decoding: $0.contents, as: UTF8.self) } == "downward")
        #expect(files["downwardAPI/podinfo/meta/name"]?.mode == 0o640)
        #expect(files["downwardAPI/podinfo/cpu"].map { String(decoding: $0.contents, as: UTF8.self) } == "2000")
        // the same text through env (interLink's test set asks for it there)
        #expect(Self.env(job)["LABELS"] == String(decoding: labels.contents, as: UTF8.self))
        // mounted read-only, like every volume the agent fills
        #expect(job.runnerScript.contains("/etc/podinfo"))
    }

    @Test func resourcesAreDividedAndRoundedUp() throws {
        let job = try Fixtures.builder().build(Self.pod(env: [
            Self.resource("CPU_LIMIT", "limits.cpu"), Self.resource("CPU_MILLI", "limits.cpu", divisor: "1m"),
            Self.resource("MEM_MI", "limits.memory", divisor: "1Mi"), Self.resource("MEM_REQ", "requests.memory"),
            Self.resource("SIDE_MEM", "limits.memory", divisor: "1Gi", container: "side"),
        ], limits: ["cpu": "500m", "memory": "1536Mi"], requests: ["memory": "1Gi"]))
        let env = Self.env(job)
        #expect(env["CPU_LIMIT"] == "1")  // 0.5 core rounded up, as the kubelet does
        #expect(env["CPU_MILLI"] == "500")
        #expect(env["MEM_MI"] == "1536")
        #expect(env["MEM_REQ"] == "1073741824")
        #expect(env["SIDE_MEM"] == "3")
        // no limit: what the job is given (the kubelet reads the node's allocatable); no request: the limit
        let open = try Fixtures.builder().build(Self.pod(env: [
            Self.resource("MEM", "limits.memory", divisor: "1Mi"), Self.resource("CPU_REQ", "requests.cpu"),
        ]))
        #expect(Self.env(open)["MEM"] == "\(open.request.memoryMiB)")
        #expect(Self.env(open)["CPU_REQ"] == "\(open.request.cpusPerTask)")
    }

    @Test func whatCannotBeServedIsRefusedWithTheFieldNamed() {
        let builder = Fixtures.builder()
        func refusal(_ data: RetrievedPodData) -> AgentError? {
            do { _ = try builder.build(data); return nil } catch { return error }
        }
        func volume(_ items: [DownwardAPIVolumeFile]) -> RetrievedPodData {
            Self.pod(volumes: [Volume(name: "info", downwardAPI: DownwardAPIVolumeSource(items: items))],
                     mounts: [VolumeMount(name: "info", mountPath: "/info")])
        }
        let cases: [(RetrievedPodData, AgentError.Code, String)] = [
            (Self.pod(env: [Self.field("X", "spec.containers[0].image")]), .unsupported, "'spec.containers[0].image'"),
            (Self.pod(env: [Self.field("X", "metadata.labels['bad key!']")]), .invalidPod, "not a label or annotation key"),
            (Self.pod(env: [Self.field("X", "metadata.labels['']")]), .invalidPod, "not a label or annotation key"),
            (Self.pod(env: [Self.resource("X", "limits.nvidia.com/gpu")]), .unsupported, "limits.cpu, requests.cpu"),
            (Self.pod(env: [Self.resource("X", "limits.cpu", divisor: "0")]), .invalidPod, "divisor '0'"),
            (Self.pod(env: [Self.resource("X", "limits.cpu", divisor: "-1")]), .invalidPod, "divisor '-1'"),
            (Self.pod(env: [Self.resource("X", "limits.memory", divisor: "1n")], limits: ["memory": "900Ei"]), .invalidPod, "out of range"),
            (Self.pod(env: [Self.resource("X", "limits.cpu", container: "ghost")]), .invalidPod, "'ghost'"),
            (volume([DownwardAPIVolumeFile(path: "node", fieldRef: FieldSelector(fieldPath: "spec.nodeName"))]), .unsupported, "in files"),
            (volume([DownwardAPIVolumeFile(path: "../escape", fieldRef: FieldSelector(fieldPath: "metadata.name"))]), .invalidPod, "'../escape'"),
            (volume([DownwardAPIVolumeFile(path: "/abs", fieldRef: FieldSelector(fieldPath: "metadata.name"))]), .invalidPod, "'/abs'"),
            (volume([DownwardAPIVolumeFile(path: "a", fieldRef: FieldSelector(fieldPath: "metadata.name")),
                     DownwardAPIVolumeFile(path: "a", fieldRef: FieldSelector(fieldPath: "metadata.uid"))]), .invalidPod, "used twice"),
            (volume([DownwardAPIVolumeFile(path: "a")]), .invalidPod, "exactly one of fieldRef and resourceFieldRef"),
            (volume([DownwardAPIVolumeFile(path: "a", resourceFieldRef: ResourceFieldSelector(resource: "limits.cpu"))]), .invalidPod, "containerName"),
            (volume([DownwardAPIVolumeFile(path: "a", fieldRef: FieldSelector(fieldPath: "metadata.name"), mode: 0o17777)]), .invalidPod, "mode"),
        ]
        for (data, code, words) in cases {
            let error = refusal(data)
            #expect(error?.code == code, "\(words)")
            #expect(error?.message.contains(words) == true, "\(error?.message ?? "accepted") should say \(words)")
        }
    }

    @Test func projectedVolumesServeTheDownwardAPIWhenInterLinkSendsNoContent() throws {
        let volume = Volume(name: "kube-api-access", projected: ProjectedVolumeSource(sources: [
            ProjectedSource(downwardAPI: DownwardAPIVolumeSource(items: [
                DownwardAPIVolumeFile(path: "namespace", fieldRef: FieldSelector(fieldPath: "metadata.namespace")),
            ])),
        ]))
        let job = try Fixtures.builder().build(Self.pod(volumes: [volume], mounts: [VolumeMount(name: "kube-api-access", mountPath: "/var/run/sa")]))
        let file = try #require(job.files.first { $0.path == "projectedVolumeMaps/kube-api-access/namespace" })
        #expect(String(decoding: file.contents, as: UTF8.self) == "flood")
    }

    @Test func wireFormatCarriesTheDownwardAPI() throws {
        let json = """
        {"metadata": {"name": "p", "namespace": "n", "uid": "u-1"},
         "spec": {"nodeName": "vk", "serviceAccountName": "sa",
                  "containers": [{"name": "c", "image": "i", "env": [
                      {"name": "M", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": 1}}}]}],
                  "volumes": [{"name": "d", "downwardAPI": {"defaultMode": 420, "items": [
                      {"path": "l", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}}]}}]}}
        """
        let pod = try JSONDecoder().decode(Pod.self, from: Data(json.utf8))
        #expect(pod.spec.nodeName == "vk")
        #expect(pod.spec.serviceAccountName == "sa")
        #expect(pod.spec.containers[0].env[0].valueFrom?.resourceFieldRef == ResourceFieldSelector(resource: "limits.memory", divisor: "1"))
        #expect(pod.spec.volumes[0].downwardAPI?.items.first?.fieldRef?.fieldPath == "metadata.labels")
        #expect(pod.spec.volumes[0].unsupportedTypes.isEmpty)
        #expect(pod.spec.volumes[0].downwardAPI?.defaultMode == 420)
    }
}
