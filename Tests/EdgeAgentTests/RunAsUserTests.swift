import EdgeAgent
import Foundation
import PodWire
import Testing

/// `allow-run-as-user`: which accounts pods may run as. The site lists uids/gids (ranges or
/// names); uid and gid 0 never; a pod without `runAsUser` runs as the site's default account
/// or is refused; a group must be one the user belongs to. Bad settings stop the agent at
/// start, naming the setting.
@Suite struct RunAsUserTests {
    static func configuration(_ edit: (inout AgentConfiguration) -> Void = { _ in }) -> AgentConfiguration {
        var configuration = Fixtures.configuration()
        configuration.allowRunAsUser = true
        configuration.runAsUsers = [65534...65534]
        edit(&configuration)
        return configuration
    }

    static func pod(user: Int? = nil, group: Int? = nil) -> RetrievedPodData {
        var data = Fixtures.pod("as-user", containers: [Fixtures.container("main", ["id"])])
        if user != nil || group != nil { data.pod.spec.securityContext = PodSecurityContext(runAsUser: user, runAsGroup: group) }
        return data
    }

    static func refusal(_ configuration: AgentConfiguration, _ pod: RetrievedPodData) -> AgentError? {
        #expect(throws: AgentError.self) { try Fixtures.builder(configuration).build(pod) }
    }

    @Test func settingsTakeRangesUidsAndNamesAndNeverRoot() throws {
        var c = AgentConfiguration()
        try ConfigSetting.apply(key: "allow-run-as-user", value: .scalar("true"), to: &c)
        try ConfigSetting.apply(key: "run-as-users", value: .list(["1000-1999", "nobody", "4242"]), to: &c)
        try ConfigSetting.apply(key: "run-as-groups", value: .scalar("100-200, nogroup"), to: &c)
        try ConfigSetting.apply(key: "run-as-default-user", value: .scalar("nobody"), to: &c)
        try c.validate()
        #expect(c.runAsUsers == [1000...1999, 65534...65534, 4242...4242])
        #expect(c.runAsGroups == [100...200, 65534...65534])
        #expect(c.runAsDefaultUser == 65534)

        let bad: [(String, ConfigValue, String)] = [
            ("run-as-users", .list(["0-100"]), "out of range"),
            ("run-as-users", .list(["root"]), "out of range"),
            ("run-as-users", .list(["no-such-user-here"]), "nor a name known"),
            ("run-as-users", .list(["2000-1000"]), "ends before it starts"),
            ("run-as-users", .list(["1-99999999999999999999"]), "out of range"),
            ("run-as-groups", .list(["0"]), "out of range"),
            ("run-as-groups", .list(["root"]), "out of range"),
            ("run-as-default-user", .scalar("root"), "out of range"),
            ("run-as-default-user", .scalar("0"), "out of range"),
        ]
        for (key, value, text) in bad {
            var configuration = c
            let error = #expect(throws: AgentError.self, "\(key) \(value)") {
                try ConfigSetting.apply(key: key, value: value, to: &configuration)
            }
            #expect(error?.message.contains("'\(key)'") == true && error?.message.contains(text) == true,
                    "\(key): \(error?.message ?? "")")
        }
        // The flag without any account, and accounts without the flag: start-up errors.
        var flagOnly = AgentConfiguration()
        flagOnly.allowRunAsUser = true
        #expect((#expect(throws: AgentError.self) { try flagOnly.validate() })?.message.contains("run-as-users") == true)
        var listOnly = AgentConfiguration()
        listOnly.runAsUsers = [1000...1999]
        #expect((#expect(throws: AgentError.self) { try listOnly.validate() })?.message.contains("allow-run-as-user") == true)
    }

    @Test func podsRunOnlyAsListedAccountsAndTheirGroups() throws {
        try #require(geteuid() == 0, "the agent must be root to submit for another account")
        let configuration = Self.configuration()
        // Listed uid, its primary group: honoured.
        let job = try Fixtures.builder(configuration).build(Self.pod(user: 65534))
        #expect(job.request.userID == 65534 && job.request.groupID == 65534)
        #expect(job.batchScript.contains("#SBATCH --uid=65534\n#SBATCH --gid=65534\n"))

        let cases: [(RetrievedPodData, String)] = [
            (Self.pod(user: 1000), "runAsUser 1000 is not one this site allows (run-as-users: 65534)"),
            (Self.pod(user: 0), "0 (root) is never honoured"),
            (Self.pod(user: 65534, group: 0), "0 (root) is never honoured"),
            (Self.pod(user: 65534, group: 100), "runAsGroup 100 is not a group of user nobody"),
            (Self.pod(user: Int.max), "runAsUser"),
            (Self.pod(), "sets no runAsUser and this site has no run-as-default-user"),
        ]
        for (pod, text) in cases {
            let error = Self.refusal(configuration, pod)
            #expect(error?.status.code == 422 || error?.status.code == 400)
            #expect(error?.message.contains(text) == true, "\(error?.message ?? "")")
        }
        // A site's run-as-groups narrows the user's groups further.
        let narrowed = Self.configuration { $0.runAsGroups = [100...100] }
        #expect(Self.refusal(narrowed, Self.pod(user: 65534))?.message.contains("group 65534 is not one this site allows") == true)
    }

    @Test func aPodWithoutRunAsUserRunsAsTheDefaultAccountNeverAsTheAgent() throws {
        try #require(geteuid() == 0)
        let configuration = Self.configuration {
            $0.runAsUsers = [1000...1999]
            $0.runAsDefaultUser = 65534
        }
        let job = try Fixtures.builder(configuration).build(Self.pod())
        #expect(job.request.userID == 65534 && job.request.groupID == 65534)
        // Without the flag, jobs run as the agent's own account (as before).
        let plain = try Fixtures.builder().build(Self.pod())
        #expect(plain.request.userID == nil)
        let refused = Self.refusal(Fixtures.configuration(), Self.pod(user: 65534))
        #expect(refused?.message.contains("allow-run-as-user is off") == true)
    }
}
