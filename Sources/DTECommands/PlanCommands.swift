import ArgumentParser
import AsyncHTTPClient
import DTEApply
import DTECompiler
import DTEEngine
import DTEHooks
import DTEModel
import DTEPlanner
import DTEProviders
import DTEReconcile
import DTEQuality
import DTEState
import DTEViews
import Foundation

/// Where the state lives: `--state`, else dte.yaml's `state.path`, else `.dte/state.db` in the repository.
struct StateOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The state database (default: dte.yaml's state.path, else .dte/state.db in the repository).", valueName: "path"))
    var state: String?

    func path(config: RepositoryConfig?, workingDirectory: String) -> String {
        if let state { return SourceSet.absolute(state, relativeTo: workingDirectory) }
        let root = config?.root ?? workingDirectory
        return SourceSet.absolute(config?.statePath ?? ".dte/state.db", relativeTo: root)
    }

    func open(config: RepositoryConfig?, workingDirectory: String) throws -> SQLiteStateStore {
        do {
            return try SQLiteStateStore(path: path(config: config, workingDirectory: workingDirectory))
        } catch let e as StateError {
            throw CommandFailure(e.message)
        }
    }
}

/// An operational failure: printed as `error: …` on standard error, exit 1.
struct CommandFailure: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

func printError(_ s: String) {
    FileHandle.standardError.write(Data(("error: " + s + "\n").utf8))
}

extension DTE {
    public struct PlanCommand: AsyncParsableCommand {
        public init() {}

        public static let configuration = CommandConfiguration(
            commandName: "plan",
            abstract: "Show what would change on which site and why (like terraform plan).",
            discussion: """
                Compares the repository with the recorded state. Exit status: 0 (with --detailed-exitcode: 0 no changes, \
                2 changes), 1 error, 64 usage error.
                """
        )

        @OptionGroup var source: SourceOptions
        @OptionGroup var stateOptions: StateOptions

        @Option(name: .customLong("site"), help: "Plan only resources on this site (repeatable).")
        var sites: [String] = []
        @Option(name: .customLong("target"), help: "Plan only this address (repeatable), e.g. twin.demo.hello.")
        var targets: [String] = []
        @Option(name: .customLong("replace"), help: "Replace this address even when unchanged (repeatable).")
        var replace: [String] = []
        @Flag(help: "Plan to delete everything in scope.")
        var destroy = false
        @Flag(help: "Machine-readable plan (JSON, format_version 1.0).")
        var json = false
        @Flag(help: "Markdown for a pull-request comment.")
        var markdown = false
        @Option(help: ArgumentHelp("Save the plan (self-contained) for dte apply.", valueName: "file"))
        var out: String?
        @Flag(name: .customLong("detailed-exitcode"), help: "Exit 2 when there are changes, 0 when none.")
        var detailedExitcode = false
        @Option(help: ArgumentHelp("Also write the hook results (and blocking diagnostics) as JUnit XML to FILE, for CI test reports.", valueName: "file"))
        var junit: String?

        public func validate() throws {
            if json && markdown { throw ValidationError("--json and --markdown cannot be combined") }
            for a in targets + replace where ResourceAddress(a) == nil {
                throw ValidationError("\"\(a)\" is not an address; addresses look like twin.<twin>.<component>")
            }
        }

        @Option(help: "Ask the sites' agents what became of recorded pods first (--refresh=false skips it).")
        var refresh = true
        @Flag(name: .customLong("refresh-only"), help: "Only record what the sites report; plan no other change.")
        var refreshOnly = false
        @OptionGroup var agentOptions: AgentOptions

        var scope: PlanScope {
            PlanScope(sites: sites, targets: targets, replace: replace, destroy: destroy, refresh: refresh, refreshOnly: refreshOnly,
                      agents: agentOptions.settings)
        }

        public func run() async throws {
            let wd = source.workingDirectory
            let (plan, _, compilation) = try await makePlan(source: source, stateOptions: stateOptions, scope: scope)
            let view = PlanView(plan: plan, color: !json && !markdown && useColor())
            print(json ? view.json() : (markdown ? view.markdown() : view.text()), terminator: "")
            if let out {
                let e = JSONEncoder()
                e.outputFormatting = [.sortedKeys]
                e.dateEncodingStrategy = .iso8601
                let path = SourceSet.absolute(out, relativeTo: wd)
                do {
                    try e.encode(plan).write(to: URL(fileURLWithPath: path), options: .atomic)
                } catch {
                    throw CommandFailure("cannot write the plan to \(out): \(error.localizedDescription)")
                }
                if !json && !markdown { print("\nSaved the plan to \(out); apply exactly this plan with: dte apply \(out)") }
            }
            if let junit {
                do {
                    try Data(JUnitView(plan: plan).render().utf8).write(to: URL(fileURLWithPath: SourceSet.absolute(junit, relativeTo: wd)), options: .atomic)
                } catch {
                    throw CommandFailure("cannot write the JUnit report to \(junit): \(error.localizedDescription)")
                }
            }
            // The model and the plan of a large repository take a while to free; the process is
            // done with them (the state was only read).
            withExtendedLifetime((plan, compilation)) {
                finish(plan.diagnostics.hasErrors ? 1 : detailedExitcode && plan.hasChanges ? 2 : 0)
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show each managed resource with what its site reports now (asks the agents)."
        )
        @OptionGroup var source: SourceOptions
        @OptionGroup var stateOptions: StateOptions
        @OptionGroup var agentOptions: AgentOptions
        @Option(name: .customLong("site"), help: "Only this site (repeatable).") var sites: [String] = []

        func run() async throws {
            let c = source.compile()
            let store = try stateOptions.open(config: c.config, workingDirectory: source.workingDirectory)
            let snapshot = try await store.snapshot()
            let agents = try SiteAgents(sites: SiteInfo.all(in: c.model), settings: agentOptions.settings, config: c.config,
                                        workingDirectory: source.workingDirectory, interactive: true)
            let engine = Engine(store: store, providers: { agents.provider($0) }, repositoryRoot: c.config?.root ?? source.workingDirectory,
                                settings: ApplySettings(holder: "status"))
            // what the newest apply's monitoring hook found of each site (shown even when a site cannot be asked now)
            let history = try await store.history(limit: 50).map { h in
                (finishedAt: h.finishedAt, hooks: (try? JSONDecoder().decode([HookResult].self, from: Data(h.hooks.utf8))) ?? [])
            }
            let unhealthy = RecordedSiteHealth.latest(history).filter { $0.verdict != .pass && (sites.isEmpty || sites.contains($0.site)) }
            let observed: [String: ObservedPod]
            do {
                observed = try await engine.refresh(snapshot, sites: Set(sites))
                await agents.shutdown()
            } catch {
                await agents.shutdown()
                print(StatusView.siteLines(unhealthy.map { ($0.site, $0.summary, $0.probedAt) }), terminator: "")
                throw CommandFailure("\(error)")
            }
            let rows = snapshot.resources.filter { sites.isEmpty || sites.contains($0.site) }
            if rows.isEmpty { print("no managed resources\(sites.isEmpty ? "" : " on \(sites.joined(separator: ", "))")") }
            let width = rows.map(\.address.count).max() ?? 0
            for r in rows {
                let o = observed[r.address]
                let phase = o.map { $0.phase + ($0.exitCode.map { " (exit \($0))" } ?? "") } ?? "absent at the site"
                print("\(r.address.padding(toLength: width, withPad: " ", startingAt: 0))  \(r.site)  job \(o?.jobID ?? r.jobID ?? "-")  \(phase)")
            }
            if !unhealthy.isEmpty { print("\n" + StatusView.siteLines(unhealthy.map { ($0.site, $0.summary, $0.probedAt) }), terminator: "") }
            // the GitOps loop's conditions, once `dte reconcile` has run on this state (docs/reconcile.md)
            let loop = try await ReconcileView.load(from: store, records: 0)
            if loop.status.lastTick != nil || loop.status.pinnedRevision != nil { print("\n" + loop.text(), terminator: "") }
        }
    }

    struct StateCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "state",
            abstract: "Inspect the recorded state: resources, history and locks.",
            subcommands: [List.self, Show.self, History.self, Lock.self]
        )

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the managed resources.")
            @OptionGroup var location: LocationOptions
            @OptionGroup var stateOptions: StateOptions

            func run() async throws {
                let store = try openState(location, stateOptions)
                let s = try await store.snapshot()
                print("# state \(s.lineage), serial \(s.serial), \(s.resources.count) resource\(s.resources.count == 1 ? "" : "s")")
                for r in s.resources {
                    print("\(r.address)\t\(r.site)\t\(r.status ?? "-")\tjob \(r.jobID ?? "-")\(r.protected ? "\tprotected" : "")")
                }
            }
        }

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Show one resource as recorded.")
            @OptionGroup var location: LocationOptions
            @OptionGroup var stateOptions: StateOptions
            @Argument(help: "The address, e.g. twin.demo.hello.") var address: String

            func run() async throws {
                let store = try openState(location, stateOptions)
                guard let r = try await store.snapshot().resource(address) else {
                    throw CommandFailure("no resource \(address) in the state; `dte state list` shows what there is")
                }
                let e = JSONEncoder()
                e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try e.encode(ShownResource(r)), as: UTF8.self))
            }
        }

        struct History: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Show past applies, newest first.")
            @OptionGroup var location: LocationOptions
            @OptionGroup var stateOptions: StateOptions
            @Option(help: "How many entries.") var limit = 20

            func run() async throws {
                let store = try openState(location, stateOptions)
                let f = ISO8601DateFormatter()
                for h in try await store.history(limit: limit) {
                    let hooks = (try? JSONDecoder().decode([HookResult].self, from: Data(h.hooks.utf8))) ?? []
                    let shown = hooks.isEmpty ? "" : "\thooks " + hooks.map { "\($0.name)(\($0.phase.rawValue))=\($0.verdict.rawValue)" }.joined(separator: " ")
                    print("\(f.string(from: h.finishedAt))\t\(h.operation)\t\(h.result)\t\(h.who)\t\(h.gitCommit ?? "-")\tserial \(h.serialBefore)→\(h.serialAfter)\t\(h.summary)\(shown)")
                }
            }
        }

        struct Lock: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Show or break the state lock.", subcommands: [LockList.self, LockBreak.self])
        }

        struct LockList: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "Show the current lock lease.")
            @OptionGroup var location: LocationOptions
            @OptionGroup var stateOptions: StateOptions

            func run() async throws {
                let store = try openState(location, stateOptions)
                let f = ISO8601DateFormatter()
                let locks = try await store.locks()
                if locks.isEmpty { print("no lock") }
                for l in locks {
                    print("\(l.id)\t\(l.holder)\t\(l.operation)\tsince \(f.string(from: l.createdAt))\theartbeat \(f.string(from: l.heartbeatAt))\texpires \(f.string(from: l.expiresAt))")
                }
            }
        }

        struct LockBreak: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "break", abstract: "Remove a lock lease by id (when its holder is dead).")
            @OptionGroup var location: LocationOptions
            @OptionGroup var stateOptions: StateOptions
            @Argument(help: "The lock id from `dte state lock list`.") var id: String

            func run() async throws {
                let store = try openState(location, stateOptions)
                do {
                    try await store.breakLock(id: id)
                } catch let e as StateError {
                    throw CommandFailure(e.message)
                }
                print("broke lock \(id)")
            }
        }
    }
}

/// A resource as `dte state show` prints it: the record, with its attributes as an object.
struct ShownResource: Encodable {
    var record: ResourceRecord
    init(_ record: ResourceRecord) { self.record = record }

    enum Key: String, CodingKey { case address, site, specHash, spec, generation, podUID, jobID, attributes, status, protected }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(record.address, forKey: .address)
        try c.encode(record.site, forKey: .site)
        try c.encode(record.specHash, forKey: .specHash)
        try c.encode(record.spec, forKey: .spec)
        try c.encode(record.generation, forKey: .generation)
        try c.encodeIfPresent(record.podUID, forKey: .podUID)
        try c.encodeIfPresent(record.jobID, forKey: .jobID)
        try c.encode(ResourceAttributes.decode(record.outputs), forKey: .attributes)
        try c.encodeIfPresent(record.status, forKey: .status)
        try c.encode(record.protected, forKey: .protected)
    }
}

/// `-C DIR` alone, for commands that take no files.
struct LocationOptions: ParsableArguments {
    @Option(name: [.customShort("C"), .long], help: "Run as if started in this folder.")
    var chdir: String?

    var workingDirectory: String {
        let cwd = FileManager.default.currentDirectoryPath
        return chdir.map { SourceSet.absolute($0, relativeTo: cwd) } ?? cwd
    }
}

/// What a plan covers.
struct PlanScope {
    var sites: [String] = []
    var targets: [String] = []
    var replace: [String] = []
    var destroy = false
    var refresh = true
    var refreshOnly = false
    var agents = AgentSettings()
}

/// The reconciliation hooks a run of plan or apply uses, from the repository's policies and
/// dte.yaml (docs/hooks.md), with what the configuration says about them (a policy nothing can
/// enforce is a warning). The one place commands get them from. Bad `quality:` settings in
/// dte.yaml stop the command. With `agents`, the allocation gate reads each site's usage through
/// its agent, and (with `store`) the monitoring hook probes every site an apply touched.
func hookPipeline(for compilation: Compilation, workingDirectory: String, agents: SiteAgents? = nil,
                  store: (any StateStore)? = nil) throws -> (HookPipeline, [Diagnostic]) {
    let root = compilation.config?.root ?? workingDirectory
    let model = compilation.model
    let quality: HookConfiguration.QualityFactory?
    if model.policies.contains(where: { $0.type == "dte.policies.Quality" }) {
        let settings: QualitySettings
        do { settings = try QualitySettings.load(repositoryRoot: root) } catch {
            throw CommandFailure("the quality: section of dte.yaml: \(error.message)")
        }
        quality = { demands in
            QualityHook(requirements: demands.map { QualityRequirement(twin: $0.twin, source: $0.source, level: $0.level, blocking: $0.blocking) },
                        repositoryRoot: root, settings: settings)
        }
    } else {
        quality = nil
    }
    var (pipeline, diagnostics) = HookConfiguration.pipeline(model: model, config: compilation.config, root: root, quality: quality,
                                                             accounting: agents?.accountingReader)
    if let agents, let store { pipeline.hooks.append(MonitoringHook(probe: agents.healthProbe(store: store))) }
    return (pipeline, diagnostics)
}

/// Compiles the repository and has the engine plan it (refreshing from the sites' agents unless
/// `--refresh=false`). Invalid files, unplaceable components or an order that is a cycle print
/// their diagnostics and exit 1.
func makePlan(source: SourceOptions, stateOptions: StateOptions, scope: PlanScope) async throws -> (Plan, SQLiteStateStore, Compilation) {
    let wd = source.workingDirectory
    let c = source.compile()
    func fail(_ diagnostics: [Diagnostic]) -> ExitCode {
        let lines = SourceLines(base: wd)
        let view = DiagnosticView(diagnostics: diagnostics, filesChecked: c.files.count, color: useColor(), sourceLine: { lines.line($0, $1) })
        FileHandle.standardError.write(Data(view.text().utf8))
        return ExitCode(1)
    }
    if !c.isValid { throw fail(c.diagnostics) }
    let store = try stateOptions.open(config: c.config, workingDirectory: wd)
    let refreshes = scope.refresh || scope.refreshOnly
    // A site whose agent refuses the connection is reported at once, not retried until the timeout.
    let agents = try refreshes
        ? SiteAgents(sites: SiteInfo.all(in: c.model), settings: scope.agents, config: c.config, workingDirectory: wd, interactive: true)
        : nil
    let (hooks, hookDiagnostics) = try hookPipeline(for: c, workingDirectory: wd, agents: agents)
    let engine = Engine(store: store, providers: { agents?.provider($0) }, hooks: hooks,
                        repositoryRoot: c.config?.root ?? wd, settings: ApplySettings(holder: "plan"))
    let request = PlanRequest(sites: Set(scope.sites), targets: Set(scope.targets), replace: Set(scope.replace), destroy: scope.destroy,
                              refresh: scope.refresh, refreshOnly: scope.refreshOnly)
    let outcome: PlanOutcome
    do {
        outcome = try await engine.plan(c, request: request, workingDirectory: wd)
    } catch let e as EngineError {
        await agents?.shutdown()
        throw CommandFailure(e.message)
    } catch {
        await agents?.shutdown()
        throw error
    }
    switch outcome {
    case .invalid(let diagnostics):
        await agents?.shutdown()
        throw fail(diagnostics)
    case .planned(var plan):
        // What apply's own gates would say (pre-apply hooks that do not also run before the
        // plan): previewed here so the review shows it; apply asks them again (the allocation
        // gate reads the sites' usage through their agents, so they are shut down after it).
        let preview = HookPipeline(hooks.hooks.filter { $0.phases.contains(.preApply) && !$0.phases.contains(.prePlan) })
        plan.hooks += await preview.run(HookInput(phase: .preApply, plan: plan, repositoryRoot: c.config?.root ?? wd))
        await agents?.shutdown()
        // Warnings of the repository (declarations DTE does not act on, hooks' configuration) belong in the review too.
        plan.diagnostics += c.diagnostics.filter { $0.severity == .warning } + hookDiagnostics
        return (plan, store, c)
    }
}

func openState(_ location: LocationOptions, _ options: StateOptions) throws -> SQLiteStateStore {
    let wd = location.workingDirectory
    var config: RepositoryConfig?
    if let root = RepositoryConfig.findRoot(from: wd) { config = RepositoryConfig.load(root: root, display: "dte.yaml").0 }
    return try options.open(config: config, workingDirectory: wd)
}
