import EdgeAgent
import Foundation
import PodWire
import Testing

/// interLink's own end-to-end test set (`interlink-hq/vk-test-set`, templates 000–120), replayed
/// against the agent on real Slurm the way interLink's virtual kubelet drives a plugin: each pod
/// goes to POST /create as a `RetrievedPodData` (the pod as the API server hands it to the virtual
/// kubelet — with the service-account volume Kubernetes adds to every pod — and, per container,
/// the ConfigMaps, Secrets and projected volumes it uses), then GET /status until the pod ends,
/// GET /getLogs for the template's log checks, and POST /delete.
///
/// The fixtures (`Fixtures/vk-test-set/*.json`) restate each template's pods and validation; each
/// names its template and commit. Templates that cannot run here are listed in docs/agent.md.
@Suite struct VKTestSetTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/vk-test-set")
    static let templates: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted()
    }()

    @Test func everyTemplateThatCanRunHereHasAFixture() {
        // 060 (git clone from the internet) is listed in docs/agent.md with the reason, as are
        // the parts of 095 and 115 that are not replayed.
        #expect(Self.templates.map { String($0.prefix(while: { $0 != "." })) } == [
            "065-multi-init-containers", "080-configmap-secret-env", "080-downward-api-env-volumes", "085-secret-envfrom", "086-secretkeyref-env",
            "090-probes",
            "095-default-entrypoint", "100-failing-containers", "105-env-quotes", "110-failed-jobs",
            "115-lifecycle-hooks", "120-failing-init-container", "120-projected-volumes",
        ])
    }

    @Test(arguments: templates)
    func template(_ file: String) async throws {
        let fixture = try Fixture(file: Self.folder.appendingPathComponent(file))
        let agent = try agent()
        let timeout = max(3 * fixture.timeoutSeconds, 120)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, testCase) in fixture.cases.enumerated() {
                group.addTask {
                    // a Job with retries: its pods come one after another, each after the previous failed
                    for attempt in 0..<testCase.attempts {
                        let replay = VirtualKubelet(agent: agent, fixture: fixture, testCase: testCase,
                                                    suffix: "\(index)\(attempt)\(UUID().uuidString.prefix(3).lowercased())")
                        try await replay.run(timeout: timeout)
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

/// One fixture file: a template's Kubernetes objects and what its validation checks.
struct Fixture: Sendable {
    struct Check: Sendable { var container: String; var regex: String }
    struct Case: Sendable {
        var pod: Data
        var phase: String
        var logs: [Check]
        /// container → (exit code, reason), where the template's intent is that precise
        var reasons: [String: (Int, String)]
        var attempts: Int
        /// Containers that must be ready (their readiness probe passed) by the end of the checks.
        var ready: [String]
    }
    var template: String
    var timeoutSeconds: Double
    var configMaps: Data
    var secrets: Data
    var cases: [Case]

    init(file: URL) throws {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any], "\(file.path)")
        template = try #require(object["template"] as? String)
        timeoutSeconds = (object["timeoutSeconds"] as? Double) ?? 60
        configMaps = try JSONSerialization.data(withJSONObject: object["configMaps"] ?? [Any]())
        // the API server hands Secrets out with `data` in base64 (stringData is write-only)
        let secretObjects = (object["secrets"] as? [[String: Any]] ?? []).map { secret -> [String: Any] in
            var out = secret
            let text = secret["stringData"] as? [String: String] ?? [:]
            out["data"] = text.mapValues { Data($0.utf8).base64EncodedString() }
            out["stringData"] = nil
            return out
        }
        secrets = try JSONSerialization.data(withJSONObject: secretObjects)
        cases = try (try #require(object["cases"] as? [[String: Any]])).map { item in
            let logs = (item["logs"] as? [[String: String]] ?? []).map { Check(container: $0["container"] ?? "", regex: $0["regex"] ?? "") }
            var reasons: [String: (Int, String)] = [:]
            for (name, value) in item["reasons"] as? [String: [Any]] ?? [:] {
                reasons[name] = (value[0] as? Int ?? -1, value[1] as? String ?? "")
            }
            return Case(pod: try JSONSerialization.data(withJSONObject: try #require(item["pod"])),
                        phase: try #require(item["phase"] as? String), logs: logs, reasons: reasons,
                        attempts: item["attempts"] as? Int ?? 1, ready: item["ready"] as? [String] ?? [])
        }
    }
}

/// What interLink's virtual kubelet sends for one pod, and the checks of the test set's
/// ValidationProcedure (CheckPod: the pod's phase; CheckLogs: a regular expression found in a
/// container's log).
struct VirtualKubelet {
    let agent: TestAgent
    let fixture: Fixture
    let testCase: Fixture.Case
    let suffix: String
    let namespace = "vk-test-set"
    let uid = UUID().uuidString.lowercased()

    static let serviceAccountMount = "/var/run/secrets/kubernetes.io/serviceaccount"
    /// Stands in for the cluster's kube-root-ca.crt (multi-line PEM).
    static let rootCA = "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIUVKTestSetReplayCAAAAAAAAAAAAAAwCgYIKoZIzj0EAwIw\nFDESMBAGA1UEAwwJa3ViZS1yb290MB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAw\n-----END CERTIFICATE-----\n"

    /// `{{uuid}}`, `{{namespace}}`, `{{uid}}`, `{{suffix}}` filled in, as the test set's templating does.
    func fill(_ data: Data) -> Data {
        let text = String(decoding: data, as: UTF8.self)
            .replacingOccurrences(of: "{{uuid}}", with: String(uid.prefix(8)))
            .replacingOccurrences(of: "{{namespace}}", with: namespace)
            .replacingOccurrences(of: "{{uid}}", with: uid)
            .replacingOccurrences(of: "{{suffix}}", with: suffix)
        return Data(text.utf8)
    }

    /// The pod as the API server gives it to the virtual kubelet: the ServiceAccount admission
    /// adds a projected volume (token, the cluster's CA, the namespace) mounted read-only in
    /// every container; the scheduler sets the node.
    func admittedPod() throws -> [String: Any] {
        var pod = try #require(try JSONSerialization.jsonObject(with: fill(testCase.pod)) as? [String: Any])
        var spec = try #require(pod["spec"] as? [String: Any])
        let volume = "kube-api-access-\(suffix.suffix(5))"
        var volumes = spec["volumes"] as? [[String: Any]] ?? []
        let token: [String: Any] = ["serviceAccountToken": ["expirationSeconds": 3607, "path": "token"] as [String: Any]]
        let rootCA: [String: Any] = ["configMap": ["name": "kube-root-ca.crt", "items": [["key": "ca.crt", "path": "ca.crt"]]] as [String: Any]]
        let field: [String: Any] = ["path": "namespace", "fieldRef": ["apiVersion": "v1", "fieldPath": "metadata.namespace"]]
        let namespaceItem: [String: Any] = ["downwardAPI": ["items": [field]]]
        let projected: [String: Any] = ["defaultMode": 420, "sources": [token, rootCA, namespaceItem]]
        volumes.append(["name": volume, "projected": projected])
        spec["volumes"] = volumes
        for key in ["initContainers", "containers"] {
            guard var containers = spec[key] as? [[String: Any]] else { continue }
            for index in containers.indices {
                var mounts = containers[index]["volumeMounts"] as? [[String: Any]] ?? []
                let mount: [String: Any] = ["name": volume, "readOnly": true, "mountPath": Self.serviceAccountMount]
                mounts.append(mount)
                containers[index]["volumeMounts"] = mounts
            }
            spec[key] = containers
        }
        spec["nodeName"] = "interlink-vk"
        spec["serviceAccountName"] = "default"
        pod["spec"] = spec
        var metadata = try #require(pod["metadata"] as? [String: Any])
        metadata["creationTimestamp"] = ISO8601DateFormatter().string(from: Date())
        pod["metadata"] = metadata
        return pod
    }

    /// The `/create` body: the pod and, for each init container then each container, the
    /// ConfigMaps and Secrets it uses (by volume, env or envFrom) and its projected volumes
    /// resolved to path → content (interLink's `projectedvolumemaps`).
    func createBody(_ pod: [String: Any]) throws -> Data {
        let configMaps = try #require(try JSONSerialization.jsonObject(with: fill(fixture.configMaps)) as? [[String: Any]])
        let secrets = try #require(try JSONSerialization.jsonObject(with: fill(fixture.secrets)) as? [[String: Any]])
        func named(_ list: [[String: Any]], _ name: String) -> [String: Any]? {
            list.first { ($0["metadata"] as? [String: Any])?["name"] as? String == name }
        }
        let spec = try #require(pod["spec"] as? [String: Any])
        let volumes = spec["volumes"] as? [[String: Any]] ?? []
        var entries: [[String: Any]] = []
        for container in (spec["initContainers"] as? [[String: Any]] ?? []) + (spec["containers"] as? [[String: Any]] ?? []) {
            var mapNames: [String] = []
            var secretNames: [String] = []
            var projected: [[String: Any]] = []
            for mount in container["volumeMounts"] as? [[String: Any]] ?? [] {
                guard let volume = volumes.first(where: { $0["name"] as? String == mount["name"] as? String }) else { continue }
                if let source = volume["configMap"] as? [String: Any], let name = source["name"] as? String { mapNames.append(name) }
                if let source = volume["secret"] as? [String: Any], let name = source["secretName"] as? String { secretNames.append(name) }
                if let source = volume["projected"] as? [String: Any] {
                    var data: [String: String] = [:]
                    for item in source["sources"] as? [[String: Any]] ?? [] {
                        if item["serviceAccountToken"] != nil { data["token"] = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBsYXkifQ.c2lnbmF0dXJl" }
                        if item["downwardAPI"] != nil { data["namespace"] = namespace }
                        if let map = item["configMap"] as? [String: Any], let name = map["name"] as? String {
                            if name == "kube-root-ca.crt" { data["ca.crt"] = Self.rootCA }
                            else if let found = named(configMaps, name) {
                                for (key, value) in found["data"] as? [String: String] ?? [:] { data[key] = value }
                            }
                        }
                    }
                    let map: [String: Any] = ["metadata": ["name": volume["name"] as? String ?? ""], "data": data]
                    projected.append(map)
                }
            }
            for variable in container["env"] as? [[String: Any]] ?? [] {
                let from = variable["valueFrom"] as? [String: Any]
                if let ref = from?["configMapKeyRef"] as? [String: Any], let name = ref["name"] as? String { mapNames.append(name) }
                if let ref = from?["secretKeyRef"] as? [String: Any], let name = ref["name"] as? String { secretNames.append(name) }
            }
            for source in container["envFrom"] as? [[String: Any]] ?? [] {
                if let ref = source["configMapRef"] as? [String: Any], let name = ref["name"] as? String { mapNames.append(name) }
                if let ref = source["secretRef"] as? [String: Any], let name = ref["name"] as? String { secretNames.append(name) }
            }
            let entry: [String: Any] = [
                "name": container["name"] as? String ?? "",
                "configMaps": Array(Set(mapNames)).sorted().compactMap { named(configMaps, $0) },
                "secrets": Array(Set(secretNames)).sorted().compactMap { named(secrets, $0) },
                "projectedvolumemaps": projected,
                "emptyDirs": NSNull(),
            ]
            entries.append(entry)
        }
        let body: [String: Any] = ["pod": pod, "container": entries, "jobConfig": [String: Any]()]
        return try JSONSerialization.data(withJSONObject: body)
    }

    /// The pod's phase as Kubernetes derives it from the container statuses (restartPolicy Never).
    static func phase(_ status: PodStatus) -> String {
        let inits = status.initContainers.map(\.state)
        let regular = status.containers.map(\.state)
        if inits.contains(where: { ($0.terminated?.exitCode ?? 0) != 0 }) { return "Failed" }
        if !regular.isEmpty, regular.allSatisfy({ $0.terminated != nil }) {
            return regular.allSatisfy { $0.terminated?.exitCode == 0 } ? "Succeeded" : "Failed"
        }
        if regular.contains(where: { $0.running != nil }) { return "Running" }
        return "Pending"
    }

    func run(timeout: Double) async throws {
        let pod = try admittedPod()
        let name = try #require((pod["metadata"] as? [String: Any])?["name"] as? String)
        let where_ = "\(fixture.template) pod \(name)"
        let created = try await agent.request(.post, "/create", body: try createBody(pod))
        try #require(created.status == 200, "\(where_): /create answered \(created.status): \(String(decoding: created.body, as: UTF8.self))")
        let answer = try JSONDecoder().decode(CreateResponse.self, from: created.body)
        #expect(answer.podUID == uid && !answer.podJID.isEmpty, "\(where_)")

        // CheckPod: wait for the expected phase; a pod that fails when it should not is a failure at once
        let podList = try JSONSerialization.data(withJSONObject: [pod])
        let deadline = Date().addingTimeInterval(timeout)
        var last: PodStatus?
        var phase = "Pending"
        // (a container's exit is known from its status file before Slurm has ended the job: the
        // reason it was killed for, such as OOMKilled, follows with the job's end, as the virtual
        // kubelet sees on its next polls)
        func settled(_ status: PodStatus) -> Bool {
            testCase.reasons.allSatisfy { status.exitCode($0.key) == $0.value.0 && status.reason($0.key) == $0.value.1 }
        }
        while Date() < deadline {
            let polled = try await agent.request(.get, "/status", body: podList)
            try #require(polled.status == 200, "\(where_): /status answered \(polled.status)")
            last = try JSONDecoder().decode([PodStatus].self, from: polled.body).first
            phase = last.map(Self.phase) ?? "Pending"
            if phase == testCase.phase, let last, settled(last) { break }
            if phase != testCase.phase, phase == "Failed" || phase == "Succeeded" { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        try #require(phase == testCase.phase, "\(where_): phase \(phase), expected \(testCase.phase): \(String(describing: last))")
        let status = try #require(last)
        for (container, (code, reason)) in testCase.reasons {
            #expect(status.exitCode(container) == code && status.reason(container) == reason,
                    "\(where_): \(container) ended \(String(describing: status.exitCode(container))) \(status.reason(container) ?? "-"), expected \(code) \(reason)")
        }

        // CheckLogs: each regular expression must be found in its container's log — by the
        // template's timeout, for a pod that is still running (what it logs comes as it runs)
        let checksEnd = testCase.phase == "Running" ? Date().addingTimeInterval(fixture.timeoutSeconds * 2) : Date()
        for check in testCase.logs {
            // the template's placeholders are filled in its regular expressions too (names, UIDs: no regex syntax)
            let pattern = String(decoding: fill(Data(check.regex.utf8)), as: UTF8.self)
            let regex = try NSRegularExpression(pattern: pattern)
            let query = LogStruct(namespace: namespace, podUID: uid, podName: name, containerName: check.container, opts: LogOptions())
            var text = ""
            var found = false
            repeat {
                let logs = try await agent.request(.get, "/getLogs", body: try JSONEncoder().encode(query))
                #expect(logs.status == 200, "\(where_): /getLogs \(check.container) answered \(logs.status)")
                text = String(decoding: logs.body, as: UTF8.self)
                found = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
                if !found { try await Task.sleep(for: .milliseconds(500)) }
            } while !found && Date() < checksEnd
            #expect(found, "\(where_): '\(pattern)' not in the log of \(check.container):\n\(text)")
        }
        if !testCase.ready.isEmpty {
            // the agent reads the readiness the job recorded on its next poll of the pod folder
            let readyBy = Date().addingTimeInterval(fixture.timeoutSeconds)
            var now: PodStatus?
            repeat {
                let polled = try await agent.request(.get, "/status", body: podList)
                now = try JSONDecoder().decode([PodStatus].self, from: polled.body).first
                if testCase.ready.allSatisfy({ now?.container($0)?.ready == true }) { break }
                try await Task.sleep(for: .milliseconds(500))
            } while Date() < readyBy
            for container in testCase.ready {
                #expect(now?.container(container)?.ready == true, "\(where_): \(container) is not ready: \(String(describing: now))")
            }
        }
        for (container, (_, reason)) in testCase.reasons where reason == "NotStarted" {
            let query = LogStruct(namespace: namespace, podUID: uid, podName: name, containerName: container, opts: LogOptions())
            let logs = try await agent.request(.get, "/getLogs", body: try JSONEncoder().encode(query))
            #expect(logs.body.isEmpty, "\(where_): \(container) never ran, yet logged \(String(decoding: logs.body, as: UTF8.self))")
        }

        // clean_configs: the pod is deleted
        let deleted = try await agent.request(.post, "/delete", body: try JSONSerialization.data(withJSONObject: pod))
        #expect(deleted.status == 200, "\(where_): /delete answered \(deleted.status)")
    }
}
