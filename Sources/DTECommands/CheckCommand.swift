import ArgumentParser
import DTEApply
import DTECompiler
import DTEHooks
import DTEPlanner
import DTEProviders
import DTEState
import Foundation

extension DTE {
    /// `dte check site NAME`: probes for Nagios/ARGO.
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Monitoring probes (Nagios/ARGO plugins).",
            subcommands: [Site.self]
        )

        struct Site: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Probe a site's agent: reachable, token accepted, backend up, free cpus/gpus, pods failing.",
                discussion: """
                    Prints one Nagios status line with perfdata, e.g. `DTE SITE vega OK - agent reachable, backend up, \
                    12 cpus / 2 gpus free, 0 pods failing | cpus_free=12;; gpus_free=2;; pods_failing=0;; response_time=0.012s;;`. \
                    Pods failing: the state's pods on the site that its agent reports failed. \
                    Exit status: 0 OK, 1 WARNING (the agent is starting, or --warning-failing pods failing), \
                    2 CRITICAL (agent unreachable or no answer within --timeout, token refused, backend down, \
                    --critical-failing pods failing), 3 UNKNOWN (no such site, no endpoint, the agent's state unreadable), \
                    64 usage error.
                    """
            )

            @OptionGroup var location: LocationOptions
            @OptionGroup var stateOptions: StateOptions
            @OptionGroup var agentOptions: AgentOptions
            @Argument(help: "The site, as its descriptor names it.") var name: String
            @Option(name: .customLong("warning-failing"), help: "WARNING at this many failing pods or more.") var warningFailing = 1
            @Option(name: .customLong("critical-failing"), help: "CRITICAL at this many failing pods or more.") var criticalFailing = 5
            @Option(help: ArgumentHelp("Give up after this many seconds (0.1 to 3600).", valueName: "seconds")) var timeout = 10.0

            func validate() throws {
                guard (0.1...3600).contains(timeout) else { throw ValidationError("--timeout must be between 0.1 and 3600 seconds, got \(timeout)") }
                guard (1...1_000_000).contains(warningFailing), (1...1_000_000).contains(criticalFailing) else {
                    throw ValidationError("--warning-failing and --critical-failing take 1 to 1000000")
                }
                guard warningFailing <= criticalFailing else {
                    throw ValidationError("--warning-failing (\(warningFailing)) must not be above --critical-failing (\(criticalFailing))")
                }
            }

            func run() async throws {
                let thresholds = SiteProbe.Thresholds(warningFailing: warningFailing, criticalFailing: criticalFailing)
                func unknown(_ message: String) -> Never {
                    print("DTE SITE \(AgentProviderText.oneLine(name)) UNKNOWN - \(message)")
                    finish(ProbeState.unknown.rawValue)
                }
                let wd = location.workingDirectory
                let c = Compiler.compile(.repository("."), workingDirectory: wd)
                let sites = SiteInfo.all(in: c.model)
                let settings = agentOptions.settings
                guard sites.contains(where: { $0.name == name }) || settings.overrides[name] != nil else {
                    unknown("no site \(AgentProviderText.oneLine(name)) in the repository (sites: \(sites.map(\.name).joined(separator: ", ")))")
                }
                let agents: SiteAgents
                do {
                    agents = try SiteAgents(sites: sites, settings: settings, config: c.config, workingDirectory: wd, interactive: true)
                } catch {
                    unknown("\(error)")
                }
                guard agents.provider(name) != nil else {
                    await agents.shutdown()
                    unknown("site \(name) declares no agent endpoint (give one with --agent \(name)=URL)")
                }
                var pods: [PodRef] = []
                if let store = try? stateOptions.open(config: c.config, workingDirectory: wd), let snapshot = try? await store.snapshot() {
                    pods = SiteAgents.pods(of: snapshot, site: name)
                }
                let result = await agents.check(name, pods: pods, thresholds: thresholds, timeout: timeout)
                await agents.shutdown()
                print(result.statusLine)
                finish(result.state.rawValue)
            }
        }
    }
}

enum AgentProviderText {
    /// A name typed by the user, on one line, shortened for a status line.
    static func oneLine(_ s: String) -> String {
        let t = String(s.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) }.map(Character.init))
        return t.count > 80 ? String(t.prefix(80)) + "…" : t
    }
}

extension SiteAgents {
    /// The state's pods on `site` (resources with a pod UID).
    static func pods(of snapshot: StateSnapshot, site: String) -> [PodRef] {
        snapshot.resources.filter { $0.site == site }.compactMap { r in
            guard let uid = r.podUID, case .component(let twin, let component)? = ResourceAddress(r.address) else { return nil }
            return PodRef(name: component, namespace: twin, uid: uid)
        }
    }

    /// Probes `site`'s agent and judges it (`dte check site` and the monitoring hook).
    func check(_ site: String, pods: [PodRef], thresholds: SiteProbe.Thresholds, timeout: Double) async -> SiteProbe.Result {
        guard let provider = provider(site) else {
            return SiteProbe.Result(site: site, state: .unknown, message: "site \(site) declares no agent endpoint", perfdata: "")
        }
        return SiteProbe.judge(await SiteProbe.read(provider, pods: pods, timeout: timeout), thresholds: thresholds)
    }

    /// The monitoring hook's probe: each site with the default thresholds, its pods from `store`.
    func healthProbe(store: any StateStore, timeout: Double = 10) -> SiteHealthProbe {
        let agents = self
        return { site in
            let pods = (try? await store.snapshot()).map { SiteAgents.pods(of: $0, site: site) } ?? []
            let r = await agents.check(site, pods: pods, thresholds: SiteProbe.Thresholds(), timeout: timeout)
            return SiteHealthCheck(state: r.state.word, summary: r.summary, statusLine: r.statusLine)
        }
    }
}
