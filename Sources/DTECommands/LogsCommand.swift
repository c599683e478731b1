import ArgumentParser
import AsyncHTTPClient
import DTEApply
import DTECompiler
import DTEModel
import DTEPlanner
import DTEProviders
import DTEState
import Foundation
import PodWire

extension DTE {
    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the output of a component's job, as its site's agent reports it (like kubectl logs).",
            discussion: """
                Finds the resource in the state and asks its site's agent (its descriptor's endpoint, or --agent). \
                Exit status: 0 printed, 1 unknown address or container, unreachable agent or a log the agent does not have, \
                64 usage error.
                """
        )

        @Argument(help: "The address, e.g. twin.demo.hello (`dte state list` shows them).") var address: String
        @OptionGroup var location: LocationOptions
        @OptionGroup var stateOptions: StateOptions
        @OptionGroup var agentOptions: AgentOptions
        @Option(help: "The container (default: the pod's only or first one).") var container: String?
        @Option(help: ArgumentHelp("Only the last N lines.", valueName: "n")) var tail: Int?
        @Option(help: ArgumentHelp("Only lines written in the last DURATION (e.g. 90s, 10m, 2h).", valueName: "duration"))
        var since: Duration?
        @Flag(help: "Prefix each line with the time it was written (RFC 3339).") var timestamps = false
        @Flag(name: [.short, .long], help: "Keep printing new lines until the job ends (or Ctrl-C).") var follow = false
        @Option(help: ArgumentHelp("The run (generation) of a scheduled or triggered component: `dte status` lists them (default: the latest).",
                                   valueName: "n"))
        var run: Int?

        func validate() throws {
            if let tail, tail < 0 { throw ValidationError("--tail must be 0 or more") }
            if let run, run < 1 || run > 1_000_000_000 { throw ValidationError("--run must be a run number from 1 to 1000000000") }
        }

        func run() async throws {
            let store = try openState(location, stateOptions)
            let snapshot = try await store.snapshot()
            guard var record = snapshot.resource(address) else {
                throw CommandFailure(Self.unknownAddressMessage(address, known: snapshot.resources.map(\.address)))
            }
            if let run, run != record.generation {
                let kept = try await store.runs(address: address, limit: 1000)
                guard let r = kept.first(where: { $0.generation == run }), r.generation <= record.generation else {
                    let numbers = (Set(kept.map(\.generation)).union([record.generation])).sorted().map(String.init).joined(separator: ", ")
                    throw CommandFailure("\(address) has no run \(run) kept (runs kept: \(numbers); older ones are pruned by the schedule's history_limit)")
                }
                record.podUID = r.podUID
                record.jobID = r.jobID
                record.site = r.site
            } else if record.podUID == nil, let r = try await store.runs(address: address, limit: 1000).first(where: { $0.generation == record.generation }) {
                // the latest run's pod, kept when a new run was about to start
                record.podUID = r.podUID
                record.jobID = r.jobID
            }
            guard let uid = record.podUID else {
                throw CommandFailure("\(address) has no pod at site \(record.site) yet (its apply did not create one); run dte apply")
            }
            let pod = Self.pod(of: record, uid: uid)
            let choices = Self.containers(of: record)
            let name = container ?? choices.first ?? pod.name
            guard choices.contains(name) else {
                throw CommandFailure("\(address) has no container \"\(name)\"; its containers: \(choices.joined(separator: ", "))")
            }
            var options = LogOptions(timestamps: timestamps, follow: follow)
            options.tail = tail ?? 0
            options.sinceSeconds = since.map { max(1, Int($0.seconds.rounded(.up))) } ?? 0
            let wd = location.workingDirectory
            let c = Compiler.compile(.repository("."), workingDirectory: wd)
            let config = c.config ?? RepositoryConfig.findRoot(from: wd).map { RepositoryConfig.load(root: $0, display: "dte.yaml").0 }
            let agents = try SiteAgents(sites: SiteInfo.all(in: c.model), settings: agentOptions.settings, config: config,
                                        workingDirectory: wd, interactive: true)
            defer { agents.shutdownNow() }
            guard let provider = agents.provider(record.site) else {
                throw CommandFailure("site \(record.site) has no agent endpoint in the repository (site descriptor removed?); pass --agent \(record.site)=URL")
            }
            do {
                try await provider.logs(of: pod, container: name, options: options) { chunk in
                    FileHandle.standardOutput.write(chunk)
                }
            } catch let e as ProviderError {
                switch e.kind {
                case .unreachable, .unauthenticated, .forbidden, .credentials:
                    throw CommandFailure("cannot get the log of \(address) from site \(record.site): \(e.message)")
                case .rejected, .failed:
                    throw CommandFailure("site \(record.site) has no log of \(address) (job \(record.jobID ?? "-")): \(e.message)")
                }
            }
        }

        /// The pod a resource became: namespace = twin, name = component (as apply created it).
        static func pod(of record: ResourceRecord, uid: String) -> PodRef {
            if let spec = try? JSONDecoder().decode(ComponentSpec.self, from: Data(record.spec.utf8)) {
                return PodRef(name: spec.component, namespace: spec.twin, uid: uid)
            }
            let address = record.typedAddress
            return PodRef(name: address?.name ?? record.address, namespace: address?.twin ?? "default", uid: uid)
        }

        /// The containers of a resource's pod: apply sends one per component, named after it.
        static func containers(of record: ResourceRecord) -> [String] {
            let spec = try? JSONDecoder().decode(ComponentSpec.self, from: Data(record.spec.utf8))
            return [spec?.component ?? record.typedAddress?.name ?? record.address]
        }

        /// Says the address is unknown, with the recorded addresses closest to it.
        static func unknownAddressMessage(_ address: String, known: [String]) -> String {
            guard !known.isEmpty else {
                return "no resource \(address) in the state: the state is empty (nothing applied yet, or another --state?)"
            }
            // what was typed may be no address at all (a bare component name): its last dotted part
            let last = String(address.split(separator: ".").last ?? Substring(address)).lowercased()
            var close = known.filter { candidate in
                let tail = (ResourceAddress(candidate)?.name ?? candidate).lowercased()
                return tail == last || candidate.lowercased().contains(last) || closestMatch(to: last, in: [tail]) != nil
            }
            if let best = closestMatch(to: address, in: known), !close.contains(best) { close.insert(best, at: 0) }
            let hint = close.isEmpty ? "`dte state list` shows what there is" : "did you mean " + close.prefix(5).joined(separator: ", ") + "?"
            return "no resource \(address) in the state; \(hint)"
        }
    }
}
