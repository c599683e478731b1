import EdgeAgent
import Foundation
import PodWire
import Testing

/// interLink's Slurm plugin's annotations, each validated (no Slurm needed: the job the pod
/// would get is checked). The same annotations run on real Slurm in InterLinkCompatTests.
@Suite struct InterLinkAnnotationTests {
    static func pod(_ annotations: [String: String], limits: [String: String] = [:]) -> RetrievedPodData {
        Fixtures.pod("p", containers: [Fixtures.container("main", ["true"], limits: limits)], annotations: annotations)
    }

    static func refusal(_ configuration: AgentConfiguration, _ pod: RetrievedPodData) -> AgentError? {
        #expect(throws: AgentError.self) { try Fixtures.builder(configuration).build(pod) }
    }

    @Test func sbatchOptionsParseInEveryForm() throws {
        let options = try SbatchFlags.parse("-N 2 -N2 --nodes=2 --nodes 2 -C haswell --exclusive --mem=4G -t 10",
                                            field: "flags")
        #expect(options.map(\.description) == ["--nodes=2", "--nodes=2", "--nodes=2", "--nodes=2", "--constraint=haswell",
                                                "--exclusive", "--mem=4G", "--time=10"])
        #expect(options.map(\.written) == ["-N 2", "-N2", "--nodes=2", "--nodes 2", "-C haswell", "--exclusive", "--mem=4G", "-t 10"])
        for (text, named) in [("--bogus=1", "'--bogus'"), ("-Z 3", "'-Z'"), ("haswell", "'haswell'"), ("--mem", "--mem needs a value"),
                              ("--constraint='a'", "--constraint"), ("--nice=$(id)", "--nice"), ("-Hk", "-Hk")] {
            let error = #expect(throws: AgentError.self) { try SbatchFlags.parse(text, field: "flags") }
            #expect(error?.status.code == 400)
            #expect(error?.message.contains(named) == true, "\(text): \(error?.message ?? "")")
        }
    }

    /// Values that would trap a careless conversion are 400s naming the option, never a crash.
    @Test func hostileOptionValuesAreRefusedNotTrapped() throws {
        for text in ["--mem=\u{1E9E}", "--mem=1e400", "--mem=99999999999999999999G", "--mem=-5", "--cpus-per-task=-1",
                     "--cpus-per-task=99999999999999999999", "--gres=gpu:99999999999999999999", "--gres=gpu:a:b:c",
                     "--gres=fpga:1", "--gpus=x:y:z", "--time=99999999999:00:00", "--partition=a\u{0}b",
                     String(repeating: "--exclusive ", count: 100)] {
            let error = #expect(throws: AgentError.self) {
                _ = try SbatchRequestOptions(try SbatchFlags.parse(text, field: "flags"), field: "flags")
            }
            #expect(error?.status.code == 400, "\(text.prefix(40)): \(error?.message ?? "")")
        }
        #expect(try SbatchRequestOptions(try SbatchFlags.parse("--mem=16g --gres=gpu:a100:2", field: "f"), field: "f")
            == { var o = SbatchRequestOptions(); o.memoryMiB = 16_384; o.gpus = 2; o.gpuModel = "a100"; return o }())
    }

    @Test func flagsPassOnlyThroughTheSiteAllowList() throws {
        let pod = Self.pod(["slurm-job.vk.io/flags": "-C haswell --nice 10 --partition=gpu -t 30"])
        let none = Self.refusal(Fixtures.configuration(), pod)
        #expect(none?.status.code == 400)
        #expect(none?.message.contains("-C haswell (--constraint) is not an allowed sbatch option") == true, "\(none?.message ?? "")")
        var configuration = Fixtures.configuration()
        configuration.allowedSbatchFlags = ["--constraint", "--nice"]
        let partly = Self.refusal(configuration, pod)
        #expect(partly?.message.contains("--partition=gpu (--partition)") == true, "\(partly?.message ?? "")")
        configuration.allowedSbatchFlags = ["--constraint", "--nice", "--partition", "--time"]
        let job = try Fixtures.builder(configuration).build(pod)
        #expect(job.request.extraFlags == ["--constraint=haswell", "--nice=10"])
        #expect(job.request.partition == "gpu")
        #expect(job.request.timeLimitMinutes == 30)
        #expect(job.batchScript.contains("#SBATCH --constraint=haswell\n"))
        // options the agent sets itself can never be allowed
        configuration.allowedSbatchFlags = ["--output"]
        #expect(throws: AgentError.self) { try configuration.validate() }
        configuration.allowedSbatchFlags = ["-C"]
        #expect(throws: AgentError.self) { try configuration.validate() }
    }

    @Test func preExecIsShellAndNeedsTheSite() throws {
        let pod = Self.pod(["slurm-job.vk.io/pre-exec": "module load cuda"])
        let refused = Self.refusal(Fixtures.configuration(), pod)
        #expect(refused?.status.code == 422)
        #expect(refused?.message.contains("allow-pre-exec") == true)
        var configuration = Fixtures.configuration()
        configuration.allowPreExec = true
        let job = try Fixtures.builder(configuration).build(pod)
        #expect(job.runnerScript.contains("# slurm-job.vk.io/pre-exec\nmodule load cuda\n"))
        #expect(Self.refusal(configuration, Self.pod(["slurm-job.vk.io/pre-exec": "a\u{0}b"]))?.status.code == 400)
    }

    @Test func runtimeMountsAreCheckedLikeHostPaths() throws {
        var configuration = Fixtures.configuration(runtime: .apptainer)
        configuration.allowedHostPaths = ["/cvmfs"]
        let job = try Fixtures.builder(configuration).build(
            Self.pod(["slurm-job.vk.io/singularity-mounts": "--bind /cvmfs/sw:/sw:ro,/cvmfs/data -B /cvmfs/b:/b"]))
        #expect(job.runnerScript.contains("dte_pin dte_m0 /cvmfs /cvmfs/sw || exit 1"))
        #expect(job.runnerScript.contains(#"--bind "$dte_m0_path":/sw:ro"#), "\(job.runnerScript)")
        #expect(job.runnerScript.contains(#"--bind "$dte_m1_path":/cvmfs/data "#))
        #expect(job.runnerScript.contains(#"--bind "$dte_m2_path":/b "#))
        let outside = Self.refusal(configuration, Self.pod(["slurm-job.vk.io/singularity-mounts": "--bind /etc:/host-etc"]))
        #expect(outside?.status.code == 422)
        #expect(outside?.message.contains("allowed-host-paths: /cvmfs") == true)
        for bad in ["--bind /cvmfs/../etc:/x", "--bind /cvmfs/a:/x:rw,exec", "--bind :/x", "--bind /cvmfs/a:/x:ro:z", "--volume /cvmfs", "--bind relative:/x"] {
            let error = Self.refusal(configuration, Self.pod(["slurm-job.vk.io/singularity-mounts": bad]))
            #expect(error?.status.code == 400, "\(bad): \(error?.message ?? "")")
        }
        // another runtime's annotation: a warning, not an error
        let enroot = try Fixtures.builder(configuration).build(Self.pod(["slurm-job.vk.io/enroot-mounts": "--mount /cvmfs:/cvmfs"]))
        #expect(enroot.warnings.contains { $0.contains("slurm-job.vk.io/enroot-mounts applies to enroot") })
    }

    @Test func runtimeOptionsComeFromTheSiteList() throws {
        let configuration = Fixtures.configuration(runtime: .singularity)
        let job = try Fixtures.builder(configuration).build(Self.pod(["slurm-job.vk.io/singularity-options": "--cleanenv --writable-tmpfs"]))
        #expect(job.runnerScript.contains("exec singularity exec --nv --no-eval --containall --cleanenv --writable-tmpfs --env-file"))
        for bad in ["--bind=/etc:/etc", "--fakeroot", "--cleanenv;id", "--nv$(id)"] {
            let error = Self.refusal(configuration, Self.pod(["slurm-job.vk.io/singularity-options": bad]))
            #expect(error?.status.code == 400, "\(bad)")
        }
        var enroot = Fixtures.configuration(runtime: .enroot)
        enroot.allowedEnrootOptions = ["--rw", "--root"]
        let enrootJob = try Fixtures.builder(enroot).build(Self.pod(["slurm-job.vk.io/enroot-options": "--root"]))
        #expect(enrootJob.runnerScript.contains("local -a a=(start --rw --root)"))
    }

    @Test func imageRootPrefixesImagesAndIsValidated() throws {
        let configuration = Fixtures.configuration(runtime: .apptainer)
        let job = try Fixtures.builder(configuration).build(Self.pod(["slurm-job.vk.io/image-root": "oras://registry.example/"]))
        #expect(job.runnerScript.contains("oras://registry.example/docker.io/library/python:3.11"))
        let cvmfs = try Fixtures.builder(configuration).build(Self.pod(["slurm-job.vk.io/image-root": "/cvmfs/unpacked.cern.ch/"]))
        #expect(cvmfs.runnerScript.contains("/cvmfs/unpacked.cern.ch/docker.io/library/python:3.11"))
        for bad in ["$(id)/", "docker://a b", "../x", "docker://x/../../"] {
            #expect(Self.refusal(configuration, Self.pod(["slurm-job.vk.io/image-root": bad]))?.status.code == 400, "\(bad)")
        }
    }

    @Test func flavorsGiveDefaultsAndUnknownOnesAreNamed() throws {
        var configuration = Fixtures.configuration()
        var gpu = Flavor(name: "gpu-nvidia", cpus: 8, memoryMiB: 64 * 1024)
        gpu.options = try SbatchRequestOptions(try SbatchFlags.parse("--gres=gpu:a100:1 --partition=gpu --constraint=nvlink", field: "f"),
                                               field: "f")
        configuration.flavors = [Flavor(name: "small", cpus: 2, memoryMiB: 4096), gpu]
        configuration.defaultFlavor = "small"
        try configuration.validate()
        let small = try Fixtures.builder(configuration).build(Self.pod([:]))
        #expect(small.request.cpusPerTask == 2 && small.request.memoryMiB == 4096)
        let named = try Fixtures.builder(configuration).build(Self.pod(["slurm-job.vk.io/flavor": "gpu-nvidia"]))
        #expect(named.request.gres == "gpu:a100:1")
        #expect(named.request.partition == "gpu")
        #expect(named.request.extraFlags == ["--constraint=nvlink"])
        // a pod asking for GPUs gets the GPU flavor, its own count and the flavor's model
        let asks = try Fixtures.builder(configuration).build(Self.pod([:], limits: ["nvidia.com/gpu": "2", "cpu": "1"]))
        #expect(asks.request.gres == "gpu:a100:2")
        #expect(asks.request.cpusPerTask == 1)
        let unknown = Self.refusal(configuration, Self.pod(["slurm-job.vk.io/flavor": "huge"]))
        #expect(unknown?.status.code == 400)
        #expect(unknown?.message.contains("no flavor 'huge' (known: small, gpu-nvidia)") == true, "\(unknown?.message ?? "")")
        configuration.defaultFlavor = "medium"
        #expect(throws: AgentError.self) { try configuration.validate() }
    }

    @Test func mpiFlagsAreSrunOptions() throws {
        let job = try Fixtures.builder().build(Self.pod(["slurm-job.vk.io/mpi-flags": "--mpi=pmix --cpu-bind=cores"]))
        #expect(job.runnerScript.contains(#"exec srun --overlap --nodes="${SLURM_JOB_NUM_NODES:-1}" --ntasks="${SLURM_NTASKS:-1}" "#
                                          + #"'--mpi=pmix' '--cpu-bind=cores' -- /bin/bash -c "#), "\(job.runnerScript)")
        #expect(job.runnerScript.contains(#"dte-task bwrap "${#a[@]}" "${a[@]}" true"#), "\(job.runnerScript)")
        for bad in ["--mpi=$(id)", "--export=ALL", "pmix", "--mpi=pmix;id"] {
            #expect(Self.refusal(Fixtures.configuration(), Self.pod(["slurm-job.vk.io/mpi-flags": bad]))?.status.code == 400, "\(bad)")
        }
    }

    @Test func podIPBecomesAnEnvironmentValue() throws {
        let job = try Fixtures.builder().build(Self.pod(["interlink.eu/pod-ip": "10.1.2.3"]))
        let env = job.files.first { $0.path == "run-main.env" }.map { String(decoding: $0.contents, as: UTF8.self) }
        #expect(env?.hasPrefix("POD_IP=10.1.2.3\u{0}") == true)
        #expect(try Fixtures.builder().build(Self.pod(["interlink.eu/pod-ip": "fd00::1"])).files.contains {
            String(decoding: $0.contents, as: UTF8.self).contains("POD_IP=fd00::1")
        })
        for bad in ["10.1.2.3; id", "999.1.1.1", "$(id)"] {
            #expect(Self.refusal(Fixtures.configuration(), Self.pod(["interlink.eu/pod-ip": bad]))?.status.code == 400, "\(bad)")
        }
    }

    @Test func unknownPluginAnnotationsAreWarningsInTheLog() throws {
        let job = try Fixtures.builder().build(Self.pod(["slurm-job.vk.io/no-such-thing": "1", "other.io/x": "y"]))
        #expect(job.warnings == ["annotation slurm-job.vk.io/no-such-thing is not known to dte-agent and was ignored"])
        #expect(job.runnerScript.contains("'dte-agent: warning: annotation slurm-job.vk.io/no-such-thing is not known to dte-agent "
                                          + "and was ignored' | dte_stamp >> run-main.out"))
    }

    @Test func gpuResourcesMapToGRES() throws {
        var configuration = Fixtures.configuration()
        configuration.gpuResources = [GPUResource(resource: "nvidia.com/gpu"), GPUResource(resource: "amd.com/gpu", model: "mi250"),
                                      GPUResource(resource: "gpu.intel.com/i915", model: "max1550")]
        #expect(try Fixtures.builder(configuration).build(Self.pod([:], limits: ["amd.com/gpu": "2"])).request.gres == "gpu:mi250:2")
        #expect(try Fixtures.builder(configuration).build(Self.pod([:], limits: ["gpu.intel.com/i915": "1"])).request.gres == "gpu:max1550:1")
        #expect(try Fixtures.builder(configuration).build(Self.pod(["dte.io/gpu-model": "a100"], limits: ["nvidia.com/gpu": "1"]))
            .request.gres == "gpu:a100:1")
        let unmapped = Self.refusal(Fixtures.configuration(), Self.pod([:], limits: ["amd.com/gpu": "1"]))
        #expect(unmapped?.status.code == 422)
        #expect(unmapped?.message.contains("amd.com/gpu is not a GPU this site offers") == true)
        let mixed = Self.refusal(configuration, Fixtures.pod("p", containers: [
            Fixtures.container("a", ["true"], limits: ["amd.com/gpu": "1"]), Fixtures.container("b", ["true"], limits: ["nvidia.com/gpu": "1"]),
        ]))
        #expect(mixed?.status.code == 400)
        #expect(GPUResource(setting: "amd.com/gpu=mi 250") == nil)
        #expect(GPUResource(setting: "amd.com/gpu=mi250") == GPUResource(resource: "amd.com/gpu", model: "mi250"))
    }

    @Test func interLinkLayoutAddsThePluginsFiles() throws {
        var configuration = Fixtures.configuration()
        configuration.layout = .interlink
        let job = try Fixtures.builder(configuration).build(Self.pod([:]))
        let files = Dictionary(uniqueKeysWithValues: job.files.map { ($0.path, String(decoding: $0.contents, as: UTF8.self)) })
        #expect(files["job.sh"] == job.runnerScript)
        #expect(files["PodUID.uid"] == job.uid)
        #expect(files["PodNamespace.ns"] == "tests")
        #expect(try Fixtures.builder().build(Self.pod([:])).files.allSatisfy { $0.path != "job.sh" })
    }
}
