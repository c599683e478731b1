import EdgeAgent
import Foundation
import PodWire

/// Small builders for pods in tests.
enum Fixtures {
    static func uid() -> String { UUID().uuidString.lowercased() }

    static func pod(_ name: String, uid: String = Fixtures.uid(), namespace: String = "tests",
                    initContainers: [Container] = [], containers: [Container], volumes: [Volume] = [],
                    annotations: [String: String] = [:], configMaps: [ConfigMap] = [], secrets: [Secret] = [],
                    projected: [ConfigMap] = []) -> RetrievedPodData {
        let pod = Pod(metadata: ObjectMeta(name: name, namespace: namespace, uid: uid, annotations: annotations),
                      spec: PodSpec(initContainers: initContainers, containers: containers, volumes: volumes))
        var retrieved = (initContainers + containers).map { RetrievedContainer(name: $0.name) }
        if !retrieved.isEmpty {
            let last = retrieved.count - 1
            retrieved[last].configMaps = configMaps
            retrieved[last].secrets = secrets
            retrieved[last].projectedVolumeMaps = projected
        }
        return RetrievedPodData(pod: pod, container: retrieved)
    }

    static func container(_ name: String, _ command: [String], args: [String] = [], env: [EnvVar] = [],
                          mounts: [VolumeMount] = [], limits: [String: String] = [:],
                          requests: [String: String] = [:], image: String = "docker.io/library/python:3.11") -> Container {
        Container(name: name, image: image, command: command, args: args, env: env,
                  resources: ResourceRequirements(limits: limits, requests: requests), volumeMounts: mounts)
    }

    static func configuration(runtime: ContainerRuntimeKind = .bwrap, dir: String = "/srv/dte") -> AgentConfiguration {
        var configuration = AgentConfiguration()
        configuration.setDataDir(dir)
        configuration.runtime = runtime
        configuration.defaultMemoryMiB = 100
        return configuration
    }

    static func builder(_ configuration: AgentConfiguration = configuration()) -> PodJobBuilder {
        PodJobBuilder(configuration: configuration, instanceID: "test")
    }

    static func secret(_ name: String, _ values: [String: String]) -> Secret {
        Secret(metadata: ObjectMeta(name: name), data: values.mapValues { Data($0.utf8).base64EncodedString() })
    }
}
