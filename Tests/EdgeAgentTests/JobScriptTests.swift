import EdgeAgent
import Foundation
import PodWire
import Testing

@Suite struct JobScriptTests {
    @Test func quotingKeepsEveryByte() {
        #expect(Shell.quote("plain-word_1.0") == "plain-word_1.0")
        #expect(Shell.quote("it's") == #"'it'\''s'"#)
        #expect(Shell.quote("$(id) `id` ; \n") == "'$(id) `id` ; \n'")
        #expect(Shell.quote("") == "''")
        #expect(Shell.quote("A=B") == "'A=B'")
    }

    @Test func memoryIsAlwaysSetAndResourcesAreSummed() throws {
        let builder = Fixtures.builder()
        let bare = try builder.build(Fixtures.pod("p", containers: [Fixtures.container("c", ["true"])]))
        #expect(bare.request.memoryMiB == 100)
        #expect(bare.batchScript.contains("#SBATCH --mem=100M"))
        #expect(bare.request.cpusPerTask == 1)

        let pod = Fixtures.pod(
            "p",
            initContainers: [Fixtures.container("setup", ["true"], limits: ["cpu": "3", "memory": "1Gi"])],
            containers: [
                Fixtures.container("a", ["true"], limits: ["memory": "256Mi", "nvidia.com/gpu": "1"], requests: ["cpu": "500m"]),
                Fixtures.container("b", ["true"], limits: ["cpu": "1", "memory": "512Mi", "nvidia.com/gpu": "1"]),
            ])
        let job = try builder.build(pod)
        // Regular containers run together (1.5 cpu, 768Mi, 2 GPUs); the init container alone needs more cpu and memory.
        #expect(job.request.cpusPerTask == 3)
        #expect(job.request.memoryMiB == 1024)
        #expect(job.request.gres == "gpu:2")
        #expect(job.batchScript.contains("#SBATCH --gres=gpu:2"))
    }

    @Test func eachSchedulerGetsTheHeaderItReads() throws {
        let pod = Fixtures.pod("p", containers: [Fixtures.container("c", ["echo", "hi"], limits: ["cpu": "2"])])
        let slurm = try Fixtures.builder().build(pod)
        var configuration = Fixtures.configuration()
        configuration.backend = .htcondor
        let condor = try Fixtures.builder(configuration).build(pod)
        #expect(slurm.batchScript.contains("#SBATCH --cpus-per-task=2\n"))
        // HTCondor takes the request from its submit description: the same runner, no #SBATCH lines
        #expect(!condor.batchScript.contains("#SBATCH"))
        #expect(condor.batchScript.hasPrefix("#!/bin/bash\n"))
        #expect(condor.runnerScript == slurm.runnerScript)
        #expect(condor.batchScript.hasSuffix(String(slurm.runnerScript.drop { $0 != "\n" })))
    }

    @Test func annotationsBecomeDirectives() throws {
        let pod = Fixtures.pod("p", containers: [Fixtures.container("c", ["true"], limits: ["nvidia.com/gpu": "1"])],
                               annotations: ["dte.io/partition": "gpu", "dte.io/account": "proj1", "dte.io/qos": "high",
                                             "dte.io/gpu-model": "a100", "dte.io/walltime": "01:30:00"])
        let job = try Fixtures.builder().build(pod, afterOK: ["17", "18"])
        let options = job.request.sbatchOptions
        for expected in ["--partition=gpu", "--account=proj1", "--qos=high", "--gres=gpu:a100:1", "--time=90",
                         "--dependency=afterok:17:18"] {
            #expect(options.contains(expected), "missing \(expected)")
        }
        let bad = Fixtures.pod("p", containers: [Fixtures.container("c", ["true"])],
                               annotations: ["dte.io/partition": "gpu\n#SBATCH --uid=0"])
        #expect(throws: AgentError.self) { try Fixtures.builder().build(bad) }
    }

    @Test func sbatchFlagsOnlyFromTheAllowList() throws {
        let pod = Fixtures.pod("p", containers: [Fixtures.container("c", ["true"])],
                               annotations: ["slurm-job.vk.io/flags": "--constraint=haswell --exclusive"])
        let refused = #expect(throws: AgentError.self) { try Fixtures.builder().build(pod) }
        #expect(refused?.status.code == 400)
        var configuration = Fixtures.configuration()
        configuration.allowedSbatchFlags = ["--constraint"]
        let partly = #expect(throws: AgentError.self) { try Fixtures.builder(configuration).build(pod) }
        #expect(partly?.message.contains("--exclusive (--exclusive) is not an allowed sbatch option") == true)
        configuration.allowedSbatchFlags = ["--constraint", "--exclusive"]
        let job = try Fixtures.builder(configuration).build(pod)
        #expect(job.request.extraFlags == ["--constraint=haswell", "--exclusive"])
        let shell = Fixtures.pod("p", containers: [Fixtures.container("c", ["true"])],
                                 annotations: ["slurm-job.vk.io/pre-exec": "curl evil | sh"])
        #expect(throws: AgentError.self) { try Fixtures.builder(configuration).build(shell) }
    }

    @Test func pathsThatEscapeAreRejected() throws {
        let builder = Fixtures.builder()
        let traversalKey = Fixtures.pod(
            "p", containers: [Fixtures.container("c", ["true"], mounts: [VolumeMount(name: "cfg", mountPath: "/cfg")])],
            volumes: [Volume(name: "cfg", configMap: ConfigMapVolumeSource(name: "cm"))],
            configMaps: [ConfigMap(metadata: ObjectMeta(name: "cm"), data: ["../../evil": "x"])])
        #expect(throws: AgentError.self) { try builder.build(traversalKey) }
        let traversalItem = Fixtures.pod(
            "p", containers: [Fixtures.container("c", ["true"])],
            volumes: [Volume(name: "cfg", configMap: ConfigMapVolumeSource(name: "cm", items: [KeyToPath(key: "a", path: "x/../../b")]))],
            configMaps: [ConfigMap(metadata: ObjectMeta(name: "cm"), data: ["a": "x"])])
        #expect(throws: AgentError.self) { try builder.build(traversalItem) }
        let slashName = Fixtures.pod("p", containers: [Fixtures.container("a/b", ["true"])])
        #expect(throws: AgentError.self) { try builder.build(slashName) }
        let badNamespace = Fixtures.pod("p", namespace: "../etc", containers: [Fixtures.container("c", ["true"])])
        #expect(throws: AgentError.self) { try builder.build(badNamespace) }
        let badMount = Fixtures.pod(
            "p", containers: [Fixtures.container("c", ["true"], mounts: [VolumeMount(name: "w", mountPath: "/a/../../etc")])],
            volumes: [Volume(name: "w", emptyDir: EmptyDirVolumeSource())])
        #expect(throws: AgentError.self) { try builder.build(badMount) }
    }

    @Test func unsupportedVolumeIsAClearError() throws {
        var pod = Fixtures.pod("p", containers: [Fixtures.container("c", ["true"])])
        var volume = Volume(name: "data")
        volume.unsupportedTypes = ["persistentVolumeClaim"]
        pod.pod.spec.volumes = [volume]
        let error = #expect(throws: AgentError.self) { try Fixtures.builder().build(pod) }
        #expect(error?.status.code == 422)
        #expect(error?.message.contains("persistentVolumeClaim") == true)
    }

    @Test func hostPathOnlyUnderAllowedFolders() throws {
        let pod = Fixtures.pod("p", containers: [Fixtures.container("c", ["true"], mounts: [VolumeMount(name: "h", mountPath: "/data")])],
                               volumes: [Volume(name: "h", hostPath: HostPathVolumeSource(path: "/scratch/project"))])
        #expect(throws: AgentError.self) { try Fixtures.builder().build(pod) }
        var configuration = Fixtures.configuration()
        configuration.allowedHostPaths = ["/scratchy", "/scratch"]
        let job = try Fixtures.builder(configuration).build(pod)
        // Bound as found when the container starts, and only while it stays inside /scratch.
        // The folder is opened and checked, and bwrap binds the descriptor that was checked.
        #expect(job.runnerScript.contains("dte_pin dte_m0 /scratch /scratch/project keep || exit 1\n"))
        #expect(job.runnerScript.contains("a+=(--bind-fd \"$dte_m0\" /data)"))
        configuration.allowedHostPaths = ["/scratchy"]
        #expect(throws: AgentError.self) { try Fixtures.builder(configuration).build(pod) }
    }

    @Test func secretsStayOutOfScriptsAndAreOwnerOnly() throws {
        let pod = Fixtures.pod(
            "p",
            containers: [Fixtures.container("c", ["sh"], env: [EnvVar(name: "TOKEN", valueFrom: EnvVarSource(secretKeyRef: KeySelector(name: "s", key: "token")))],
                                            mounts: [VolumeMount(name: "sec", mountPath: "/sec")])],
            volumes: [Volume(name: "sec", secret: SecretVolumeSource(secretName: "s"))],
            secrets: [Fixtures.secret("s", ["token": "hunter2-secret"])])
        for runtime in ContainerRuntimeKind.allCases {
            let job = try Fixtures.builder(Fixtures.configuration(runtime: runtime)).build(pod)
            #expect(!job.runnerScript.contains("hunter2-secret") && !job.batchScript.contains("hunter2-secret"))
            let secretFiles = job.files.filter { String(decoding: $0.contents, as: UTF8.self).contains("hunter2-secret") }
            #expect(!secretFiles.isEmpty)
            #expect(secretFiles.allSatisfy { $0.mode == 0o600 }, "\(secretFiles.map(\.path))")
        }
    }

    @Test func apptainerCommandLine() throws {
        let pod = Fixtures.pod(
            "p",
            containers: [
                Fixtures.container("with-command", ["python3", "-c"], args: ["print('hi')"],
                                   mounts: [VolumeMount(name: "w", mountPath: "/work")]),
                Fixtures.container("entrypoint", [], args: ["--flag"], image: "/cvmfs/unpacked/img.sif"),
            ],
            volumes: [Volume(name: "w", emptyDir: EmptyDirVolumeSource())])
        let job = try Fixtures.builder(Fixtures.configuration(runtime: .apptainer)).build(pod)
        let dir = job.podDir
        #expect(job.runnerScript.contains(
            "exec apptainer exec --nv --no-eval --containall --env-file \(dir)/run-with-command.apptainer-env "
                + "--bind \(dir)/emptyDirs/w:/work docker://docker.io/library/python:3.11 python3 -c 'print('\\''hi'\\'')'"))
        #expect(job.runnerScript.contains(
            "exec apptainer run --nv --no-eval --containall --env-file \(dir)/run-entrypoint.apptainer-env /cvmfs/unpacked/img.sif --flag"))
        let singularity = try Fixtures.builder(Fixtures.configuration(runtime: .singularity)).build(pod)
        #expect(singularity.runnerScript.contains("exec singularity exec --nv"))
    }

    @Test func podmanAndEnrootCommandLines() throws {
        let pod = Fixtures.pod(
            "p", uid: "u1",
            containers: [Fixtures.container("c", ["python3", "-c"], args: ["print(1)"],
                                            mounts: [VolumeMount(name: "w", mountPath: "/work", readOnly: true)],
                                            image: "nvcr.io/nvidia/pytorch:24.01")],
            volumes: [Volume(name: "w", emptyDir: EmptyDirVolumeSource())])
        let podman = try Fixtures.builder(Fixtures.configuration(runtime: .podman)).build(pod)
        let dir = podman.podDir
        #expect(podman.runnerScript.contains(
            #"exec podman run --rm --name dte-u1-c -v \#(dir)/emptyDirs/w:/work:ro --entrypoint '["python3"]' "${a[@]}" nvcr.io/nvidia/pytorch:24.01 -c 'print(1)'"#))
        let enroot = try Fixtures.builder(Fixtures.configuration(runtime: .enroot)).build(pod)
        #expect(enroot.runnerScript.contains("enroot import -o \(dir)/images/run-c.sqsh 'docker://nvcr.io#nvidia/pytorch:24.01'"))
        #expect(enroot.runnerScript.contains("a+=(--mount \(dir)/emptyDirs/w:/work)"))
        #expect(enroot.runnerScript.contains(#"enroot "${a[@]}" dte-u1-c python3 -c 'print(1)'"#))
    }

    @Test func kubernetesVariableExpansionIsTextNotShell() throws {
        let pod = Fixtures.pod("p", containers: [Fixtures.container(
            "c", ["echo"], args: ["$(NAME)", "$$(NAME)", "$(id)", "$(UNSET)"],
            env: [EnvVar(name: "NAME", value: "world")])])
        let job = try Fixtures.builder().build(pod)
        #expect(job.runnerScript.contains("-- echo world '$(NAME)' '$(id)' '$(UNSET)'"))
    }

    @Test func bwrapRebuildsSystemFoldersForMountsInside() throws {
        let pod = Fixtures.pod("p", containers: [Fixtures.container("c", ["cat"], mounts: [VolumeMount(name: "cfg", mountPath: "/etc/app")])],
                               volumes: [Volume(name: "cfg", emptyDir: EmptyDirVolumeSource())])
        let job = try Fixtures.builder().build(pod)
        #expect(job.runnerScript.contains("dte_bwrap_rebuild a /etc app"))
    }
}
