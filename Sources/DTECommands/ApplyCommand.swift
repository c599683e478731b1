import ArgumentParser
import AsyncHTTPClient
import DTEApply
import DTECompiler
import DTEEngine
import DTEModel
import DTEPlanner
import DTEProviders
import DTEState
import DTEViews
import Foundation

extension DTE {
    public struct ApplyCommand: AsyncParsableCommand {
        public init() {}

        public static let configuration = CommandConfiguration(
            commandName: "apply",
            abstract: "Apply a saved plan (or plan and apply with --auto-approve) through the sites' agents.",
            discussion: """
                A saved plan applies only to the state it was made against: another lineage or a moved serial is refused. \
                Without a saved plan, apply plans first and asks for confirmation on a terminal; in CI pass --auto-approve. \
                A component `after` one on another site is submitted only once that one's job succeeded (apply asks its \
                site every few seconds, up to --wait-timeout); when it failed, the component and its dependents are skipped. \
                Exit status: 0 all applied, 1 failures or refusal, 64 usage error.
                """
        )

        @Argument(help: "A plan saved with `dte plan --out FILE`.") var planFile: String?
        @OptionGroup var location: LocationOptions
        @OptionGroup var stateOptions: StateOptions
        @Flag(name: .customLong("auto-approve"), help: "Plan and apply without asking.") var autoApprove = false
        @Option(help: "Resources applied at once.") var parallelism = 10
        @Option(name: .customLong("site"), help: "With --auto-approve: only resources on this site (repeatable).") var sites: [String] = []
        @Option(name: .customLong("target"), help: "With --auto-approve: only this address (repeatable).") var targets: [String] = []
        @Option(name: .customLong("replace"), help: "With --auto-approve: replace this address (repeatable).") var replace: [String] = []
        @Flag(help: "With --auto-approve: delete everything in scope.") var destroy = false
        @Option(help: "Who applies (recorded in the history; default $USER@host).") var holder: String?
        @OptionGroup var agentOptions: AgentOptions
        @Option(help: "With --auto-approve: refresh from the agents first (--refresh=false skips it).") var refresh = true
        @Option(name: .customLong("wait-timeout"),
                help: ArgumentHelp("How long a component waits for a dependency on another site to finish (e.g. 90s, 30m, 24h, 2d).",
                                   valueName: "duration"))
        var waitTimeout = Duration(seconds: 86_400, text: "24h")

        public func validate() throws {
            if parallelism < 1 { throw ValidationError("--parallelism must be at least 1") }
            if planFile != nil && !(sites.isEmpty && targets.isEmpty && replace.isEmpty) {
                throw ValidationError("--site/--target/--replace shape a new plan; a saved plan already has its scope")
            }
        }

        public func run() async throws {
            let wd = location.workingDirectory
            let plan: Plan
            let store: SQLiteStateStore
            let compilation: Compilation
            let config: RepositoryConfig?
            if let planFile {
                plan = try Self.readPlan(planFile, workingDirectory: wd)
                // the repository's hook configuration (the saved plan holds the desired state itself)
                compilation = Compiler.compile(.repository("."), workingDirectory: wd)
                config = compilation.config ?? RepositoryConfig.findRoot(from: wd).map { RepositoryConfig.load(root: $0, display: "dte.yaml").0 }
                store = try stateOptions.open(config: config, workingDirectory: wd)
            } else {
                var source = try SourceOptions.parse([])
                source.chdir = location.chdir
                let made = try await makePlan(source: source, stateOptions: stateOptions,
                                              scope: PlanScope(sites: sites, targets: targets, replace: replace, destroy: destroy, refresh: refresh,
                                                               agents: agentOptions.settings))
                plan = made.0
                store = made.1
                compilation = made.2
                config = compilation.config
                print(PlanView(plan: plan, color: useColor()).text())
                if plan.diagnostics.hasErrors { throw ExitCode(1) }
                if !plan.hasChanges {
                    // Nothing to change, but what the sites reported is recorded: a batch job
                    // that has finished must be known as such once its agent forgets it.
                    let recorded = Dictionary(try await store.snapshot().resources.map { ($0.address, $0.status) },
                                              uniquingKeysWith: { a, _ in a })
                    let reported = plan.observed.filter { address, o in recorded[address].map { $0 != o.phase } ?? false }
                    guard !reported.isEmpty else { return }
                    let engine = Engine(store: store, providers: { _ in nil }, repositoryRoot: config?.root ?? wd,
                                        settings: ApplySettings(holder: holderName))
                    do {
                        _ = try await engine.apply(plan)
                    } catch let e as EngineError {
                        throw CommandFailure(e.message)
                    }
                    print("Recorded what the sites report for \(reported.count) resource\(reported.count == 1 ? "" : "s").")
                    return
                }
                if !autoApprove {
                    guard isatty(STDIN_FILENO) == 1 else {
                        throw CommandFailure("no saved plan and no terminal to confirm on: save a plan with dte plan --out FILE and apply it, or pass --auto-approve")
                    }
                    print("Apply these changes? Only 'yes' is accepted: ", terminator: "")
                    fflush(nil)
                    guard readLine() == "yes" else { throw CommandFailure("apply cancelled") }
                }
            }
            let current = try await store.snapshot()
            do {
                try Engine.checkFresh(plan, against: current)
            } catch {
                throw CommandFailure(error.message)
            }
            let agents = try SiteAgents(sites: plan.desired.sites, settings: agentOptions.settings, config: config,
                                        workingDirectory: wd, interactive: false)
            defer { agents.shutdownNow() }
            let view = ApplyView(color: useColor())
            var settings = ApplySettings(parallelism: parallelism, holder: holderName)
            settings.waitTimeout = waitTimeout.seconds
            let (hooks, _) = try hookPipeline(for: compilation, workingDirectory: wd, agents: agents, store: store)
            let engine = Engine(store: store, providers: { agents.provider($0) }, hooks: hooks,
                                events: { event in
                                    print(view.line(event))
                                    fflush(nil)
                                },
                                repositoryRoot: config?.root ?? wd, settings: settings)
            let report: ApplyReport
            do {
                report = try await engine.apply(plan)
            } catch let e as EngineError {
                throw CommandFailure(e.message)
            }
            print("\n" + view.summary(report.results))
            let outputs = try await store.outputs()
            if !outputs.isEmpty { print("\nOutputs:\n\n" + OutputsView(outputs: outputs).text(), terminator: "") }
            if !(report.failed.isEmpty && report.skipped.isEmpty) { throw ExitCode(1) }
        }

        /// A plan saved with `dte plan --out`, of this dte's plan format.
        static func readPlan(_ planFile: String, workingDirectory wd: String) throws -> Plan {
            let path = SourceSet.absolute(planFile, relativeTo: wd)
            guard let data = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read the plan \(planFile)") }
            let d = JSONDecoder()
            d.dateDecodingStrategy = .iso8601
            let plan: Plan
            do {
                plan = try d.decode(Plan.self, from: data)
            } catch {
                throw CommandFailure("\(planFile) is not a DTE plan (save one with dte plan --out FILE): \(error)")
            }
            guard plan.formatVersion == Plan.formatVersion else {
                throw CommandFailure("\(planFile) has plan format \(plan.formatVersion); this dte reads \(Plan.formatVersion)")
            }
            return plan
        }
    }
}

extension DTE.ApplyCommand {
    /// Who holds the state's lock while this apply runs (`--holder`, else user@host).
    var holderName: String { holder ?? "\(ProcessInfo.processInfo.environment["USER"] ?? "dte")@\(ProcessInfo.processInfo.hostName)" }
}

/// A duration option: a number with a unit (`s`, `m`, `h`, `d`; `90s`, `30 m`, `24h`), or seconds.
struct Duration: ExpressibleByArgument, Sendable {
    var seconds: TimeInterval
    var text: String

    init(seconds: TimeInterval, text: String) {
        self.seconds = seconds
        self.text = text
    }

    init?(argument: String) {
        if let s = TimeInterval(argument), s > 0 {
            self.init(seconds: s, text: argument)
        } else if let u = ScalarUnit.parse(argument, kind: .time), u.base > 0 {
            self.init(seconds: u.base, text: argument)
        } else {
            return nil
        }
    }

    var defaultValueDescription: String { text }
}
