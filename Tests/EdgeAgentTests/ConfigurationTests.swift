import EdgeAgent
import Foundation
import Testing

@Suite struct ConfigurationTests {
    @Test func configFileSetsEverySetting() throws {
        let yaml = """
        # agent.yaml
        listen: unix:///run/dte-agent.sock
        data-dir: /srv/dte
        runtime: bwrap
        slurm-api: cli
        partition: batch
        default-memory: 2Gi
        default-walltime: 2h
        allowed-sbatch-flags: [--constraint, --exclusive]
        allowed-host-paths:
          - /cvmfs
          - /scratch
        retention: 3d
        poll-interval: 1.5
        """
        var configuration = AgentConfiguration()
        try ConfigFile.apply(try ConfigFile.parse(yaml), to: &configuration)
        #expect(configuration.listen == .unix(path: "/run/dte-agent.sock"))
        #expect(configuration.stateDir == "/srv/dte")
        #expect(configuration.workDir == "/srv/dte/pods")
        #expect(configuration.runtime == .bwrap)
        #expect(configuration.slurmAccess == .cli)
        #expect(configuration.defaultMemoryMiB == 2048)
        #expect(configuration.defaultWalltimeSeconds == 7200)
        #expect(configuration.allowedSbatchFlags == ["--constraint", "--exclusive"])
        #expect(configuration.allowedHostPaths == ["/cvmfs", "/scratch"])
        #expect(configuration.retentionSeconds == 3 * 86_400)
        #expect(configuration.pollIntervalSeconds == 1.5)
    }

    @Test func unknownSettingIsNamed() throws {
        var configuration = AgentConfiguration()
        let error = #expect(throws: AgentError.self) {
            try ConfigFile.apply(try ConfigFile.parse("runtme: bwrap\n"), to: &configuration)
        }
        #expect(error?.message.contains("unknown setting 'runtme'") == true)
    }

    @Test func listenAddressesParse() {
        #expect(ListenAddress("127.0.0.1:4555") == .tcp(host: "127.0.0.1", port: 4555))
        #expect(ListenAddress("[::1]:80") == .tcp(host: "::1", port: 80))
        #expect(ListenAddress("unix:///tmp/a.sock") == .unix(path: "/tmp/a.sock"))
        #expect(ListenAddress("localhost") == nil)
    }
}
