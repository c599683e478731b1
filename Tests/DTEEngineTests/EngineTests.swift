import DTEApply
import DTECompiler
@testable import DTEEngine
import DTEModel
import DTEPlanner
import DTEState
import Foundation
import Testing

/// A scratch repository with the DTE types and the local site, and one twin file.
struct ScratchRepository {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    let root = NSTemporaryDirectory() + "dte-engine-" + UUID().uuidString

    init(twin: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/templates/dte", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/sites", withIntermediateDirectories: true)
        try "version: 1\n".write(toFile: root + "/dte.yaml", atomically: true, encoding: .utf8)
        try fm.copyItem(atPath: Self.packageRoot + "/templates/dte/types.yaml", toPath: root + "/templates/dte/types.yaml")
        try fm.copyItem(atPath: Self.packageRoot + "/sites/local.yaml", toPath: root + "/sites/local.yaml")
        try twin.write(toFile: root + "/templates/demo.yaml", atomically: true, encoding: .utf8)
    }

    func compile() -> Compilation { Compiler.compile(.repository("."), workingDirectory: root) }
    func cleanUp() { try? FileManager.default.removeItem(atPath: root) }
}

/// `demo` with `prep` and `model`; `model`'s env is `modelEnv`.
func twin(modelEnv: String, prepEnv: String = "{ STEP: one }") -> String {
    """
    tosca_definitions_version: tosca_simple_yaml_1_3
    imports: [dte/types.yaml]
    topology_template:
      node_templates:
        demo: { type: dte.nodes.DigitalTwin, properties: { project: demo, source: https://example.org/demo } }
        prep:
          type: dte.nodes.BatchJob
          properties: { image: docker://debian:12, command: [sleep, "1"], cpus: 1, memory: 32 MB, walltime: 5 m, runtime: bwrap, env: \(prepEnv) }
          requirements: [ { twin: demo } ]
        model:
          type: dte.nodes.BatchJob
          properties: { image: docker://debian:12, command: [sleep, "1"], cpus: 1, memory: 32 MB, walltime: 5 m, runtime: bwrap, env: \(modelEnv) }
          requirements: [ { twin: demo } ]
    """
}

@Suite("Engine")
struct EngineTests {
    func engine(_ store: any StateStore, hooks: [any Hook] = []) -> Engine {
        Engine(store: store, providers: { _ in nil }, clock: FastClock(), hooks: HookPipeline(hooks), repositoryRoot: "/nonexistent",
               settings: ApplySettings(holder: "test"))
    }

    @Test func planRunsThePrePlanHooksAndKeepsTheirResults() async throws {
        let repo = try ScratchRepository(twin: twin(modelEnv: "{ PREP_JOB: { get_attribute: [prep, job_id] } }"))
        defer { repo.cleanUp() }
        let hook = RecordingHook("quality", phases: [.prePlan], verdict: .warn)
        let outcome = try await engine(InMemoryStateStore(), hooks: [hook])
            .plan(repo.compile(), request: PlanRequest(refresh: false), workingDirectory: repo.root)
        guard case .planned(let plan) = outcome else { Issue.record("no plan: \(outcome)"); return }
        #expect(plan.changes.map(\.address) == ["twin.demo.model", "twin.demo.prep"])
        #expect(plan.hooks.map(\.name) == ["quality"])
        #expect(plan.hooks.first?.phase == .prePlan)
        #expect(hook.inputs.first?.plan.changes.count == 2, "the hook saw the diff")
        #expect(plan.sourceHash.hasPrefix("fnv1a64:"))
    }

    @Test func aCycleOfAttributeReferencesIsNotPlannedAndSaysWhere() async throws {
        let repo = try ScratchRepository(twin: twin(modelEnv: "{ PREP_JOB: { get_attribute: [prep, job_id] } }",
                                                    prepEnv: "{ MODEL_JOB: { get_attribute: [model, job_id] } }"))
        defer { repo.cleanUp() }
        let outcome = try await engine(InMemoryStateStore()).plan(repo.compile(), request: PlanRequest(refresh: false), workingDirectory: repo.root)
        guard case .invalid(let diagnostics) = outcome else { Issue.record("a cycle must not plan"); return }
        let cycles = diagnostics.filter { $0.code == "dependency-cycle" }
        #expect(cycles.count == 2, "one at each reference: \(diagnostics)")
        #expect(cycles.allSatisfy { $0.message.contains("model → prep → model") && $0.file == "templates/demo.yaml" && $0.line != nil })
    }

    @Test func aBlockingFailingPreApplyHookStopsApplyBeforeAnyProviderCall() async throws {
        let store = InMemoryStateStore(), site = FakeSite()
        let gate = RecordingHook("quality", phases: [.preApply], verdict: .fail)
        let after = RecordingHook("accounting", phases: [.postApply, .onFailure])
        let error = await #expect(throws: EngineError.self) {
            try await Demo.engine(store, site: site, hooks: [gate, after]).apply(try await Demo.plan([Demo.spec("prep")], against: store))
        }
        #expect(error?.code == .blocked)
        #expect(error?.message.contains("hook quality (pre-apply) for twin.flood: twin flood reaches bronze; silver required") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("add CONTRIBUTING.md and a SemVer tag") == true)
        #expect(error?.message.contains("nothing was submitted") == true)
        #expect(await site.calls.isEmpty, "no provider call")
        #expect(after.inputs.isEmpty, "neither post-apply nor on-failure runs")
        #expect(try await store.snapshot().resources.isEmpty)
        let entry = try #require(try await store.history(limit: 1).first)
        #expect(entry.result == "blocked")
        let recorded = try JSONDecoder().decode([HookResult].self, from: Data(entry.hooks.utf8))
        #expect(recorded.map(\.name) == ["quality"])
        #expect(recorded.first?.verdict == .fail)
        #expect(try await store.locks().isEmpty)
    }

    @Test func aFailingNonBlockingHookOnlyWarns() async throws {
        let store = InMemoryStateStore(), site = FakeSite()
        let advice = RecordingHook("quality", phases: [.preApply], blocking: false, verdict: .fail)
        let report = try await Demo.engine(store, site: site, hooks: [advice]).apply(try await Demo.plan([Demo.spec("prep")], against: store))
        #expect(report.results.map(\.outcome) == [.created])
        #expect(report.hooks.map(\.verdict) == [.fail])
    }

    @Test func onFailureRunsWhenAResourceFailedAndPostApplyWhenAllSucceeded() async throws {
        let store = InMemoryStateStore(), site = FakeSite()
        let hook = RecordingHook("accounting", phases: [.postApply, .onFailure])
        await site.failCreate("twin.demo.bad", with: [ProviderError(.rejected, site: "hpc", "no such partition")])
        let engine = Demo.engine(store, site: site, hooks: [hook])
        let failed = try await engine.apply(try await Demo.plan([Demo.spec("bad"), Demo.spec("good")], against: store))
        #expect(failed.failed.map(\.address) == ["twin.demo.bad"])
        #expect(hook.inputs.map(\.phase) == [.onFailure])
        #expect(hook.inputs.first?.results?.count == 2, "the hook sees what apply did")
        let entry = try #require(try await store.history(limit: 1).first)
        #expect(try JSONDecoder().decode([HookResult].self, from: Data(entry.hooks.utf8)).map(\.phase) == [.onFailure])

        let fixed = try await engine.apply(try await Demo.plan([Demo.spec("bad", after: []), Demo.spec("good")], against: store))
        #expect(fixed.failed.isEmpty)
        #expect(hook.inputs.map(\.phase) == [.onFailure, .postApply])
    }

    @Test func refreshNamesASiteWithoutAnAgent() async throws {
        let store = InMemoryStateStore()
        try await store.commit(ResourceRecord(address: "twin.demo.prep", site: "gone", specHash: "h", spec: "{}", podUID: "u1"))
        let error = await #expect(throws: EngineError.self) { try await engine(store).refresh(try await store.snapshot()) }
        #expect(error?.code == .refresh)
        #expect(error?.message.hasPrefix("cannot refresh site gone: no agent endpoint") == true)
    }

    @Test func refreshReportsWhatTheSiteSaysByAddress() async throws {
        let store = InMemoryStateStore(), site = FakeSite()
        await site.seed(uid: "u1", jobID: "77")
        try await store.commit(ResourceRecord(address: "twin.demo.prep", site: "hpc", specHash: "h", spec: "{}", podUID: "u1"))
        try await store.commit(ResourceRecord(address: "twin.demo.gone", site: "hpc", specHash: "h", spec: "{}", podUID: "u2"))
        let observed = try await Demo.engine(store, site: site).refresh(try await store.snapshot())
        #expect(observed.keys.sorted() == ["twin.demo.prep"])
        #expect(observed["twin.demo.prep"]?.jobID == "77")
        #expect(observed["twin.demo.prep"]?.phase == "running")
        #expect(await site.calls == ["status demo.gone,demo.prep"])
    }
}

@Suite("DependencyGraph")
struct DependencyGraphTests {
    @Test func edgesComeFromAfterAndFromAttributeReferences() {
        let g = DependencyGraph(specs: [Demo.spec("a"), Demo.spec("b", after: ["a"]), Demo.spec("c", reads: ["B": "b", "A": "a"])])
        #expect(g.dependencies(of: "c") == ["a", "b"])
        #expect(g.dependencies(of: "b") == ["a"])
        #expect(g.cycles().isEmpty)
    }

    @Test func aLongChainHasNoCycleAndDoesNotExhaustTheStack() {
        let specs = (0..<20_000).map { Demo.spec("c\($0)", after: $0 == 0 ? [] : ["c\($0 - 1)"]) }
        #expect(DependencyGraph(specs: specs).cycles().isEmpty)
    }

    @Test func everyCycleIsFoundOnce() {
        let g = DependencyGraph(specs: [Demo.spec("a", after: ["b"]), Demo.spec("b", after: ["a"]), Demo.spec("s", reads: ["S": "s"]),
                                        Demo.spec("x")])
        let cycles = g.cycles().map { $0.map(\.from) }
        #expect(cycles == [["a", "b"], ["s"]])
        #expect(g.cycleDiagnostics(in: nil).map(\.message) == [
            "\"a\" runs after \"b\", but the order is a cycle: a → b → a",
            "\"b\" runs after \"a\", but the order is a cycle: a → b → a",
            "\"s\" reads its own attribute in env.S, so it can never start",
        ])
    }
}
