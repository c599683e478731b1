import DTEApply
import DTECompiler
import DTEHooks
import DTEModel
import DTEPlanner
import Foundation
import XCTest

/// Which hooks run, in which phases, blocking or not: from dte.yaml's `hooks:` and from policies.
final class HookConfigurationTests: XCTestCase {
    /// A stand-in for the quality hook that records what the configuration asked of it.
    struct RecordingQuality: Hook {
        var name = "quality"
        var phases: Set<HookPhase> = [.prePlan, .preApply]
        var blocking = true
        var demands: [QualityDemand]
        func run(_ input: HookInput) async -> [HookResult] {
            demands.map { HookResult(name: name, phase: input.phase, verdict: .fail, blocking: $0.blocking, summary: "\($0.twin) is below \($0.level)") }
        }
    }

    func testDTEYamlNamesBuiltInAndExternalHooksWithPhasesBlockingAndTimeout() throws {
        let config = """
        version: 1
        hooks:
          allocation: { blocking: false }
          site-policy:
            command: [ scripts/check-plan, --strict, "$(touch pwned)" ]
            phases: [ pre-plan, pre-apply ]
            timeout: 30 s
          notify:
            command: [ /usr/bin/true ]
            phases: post-apply
            blocking: false
            timeout: 2 m
        """
        let repo = try Repo(["sites/vega.yaml": siteFile(core: 1000, gpu: 100), "templates/flood.yaml": twinFile()], config: config)
        defer { repo.remove() }
        let c = repo.compile()
        XCTAssertFalse(c.diagnostics.hasErrors, describe(c.diagnostics))
        let hooks = try XCTUnwrap(c.config?.hooks)
        XCTAssertEqual(hooks.map(\.name), ["allocation", "site-policy", "notify"])
        XCTAssertEqual(hooks[1].command, ["scripts/check-plan", "--strict", "$(touch pwned)"])
        XCTAssertEqual(hooks[1].timeout, 30)
        XCTAssertEqual(hooks[2].timeout, 120)

        let (pipeline, diags) = HookConfiguration.pipeline(model: c.model, config: c.config, root: repo.root)
        XCTAssertEqual(diags, [])
        XCTAssertEqual(pipeline.hooks.map(\.name), ["allocation", "site-policy", "notify"])
        XCTAssertEqual(pipeline.hooks.map(\.blocking), [false, true, false])
        XCTAssertEqual(pipeline.hooks.map(\.phases), [[.preApply], [.prePlan, .preApply], [.postApply]])
        let external = try XCTUnwrap(pipeline.hooks[1] as? ExternalHook)
        XCTAssertEqual(external.timeout, 30)
        XCTAssertEqual(external.command.last, "$(touch pwned)")
    }

    func testBadHookSettingsAreLocatedErrorsThatSayWhatIsAllowed() throws {
        let config = """
        version: 1
        hooks:
          allocation: { blocking: maybe }
          qualty: { blocking: true }
          check:
            command: "scripts/check --all"
          slow:
            command: [ scripts/slow ]
            timeout: 0
          phased:
            command: [ scripts/x ]
            phases: [ pre-aply ]
          quality: { command: [ scripts/q ] }
          Bad_Name: { command: [ x ] }
          extra: { command: [ x ], colour: red }
        """
        let repo = try Repo([:], config: config)
        defer { repo.remove() }
        let (loaded, diags) = RepositoryConfig.load(root: repo.root, display: "dte.yaml")
        let found = diags.map { "\($0.location) \($0.code)" }
        XCTAssertEqual(found, [
            "dte.yaml:3:27 expected-boolean",
            "dte.yaml:4:3 unknown-hook",
            "dte.yaml:6:14 expected-command",
            "dte.yaml:9:14 invalid-timeout",
            "dte.yaml:12:15 unknown-phase",
            "dte.yaml:13:3 builtin-hook-command",
            "dte.yaml:14:3 invalid-hook-name",
            "dte.yaml:15:28 unknown-key",
        ], describe(diags))
        XCTAssertTrue(diags.allSatisfy { $0.severity == .error })
        XCTAssertEqual(diags[1].hint?.hasPrefix("did you mean \"quality\"?"), true, diags[1].hint ?? "")
        XCTAssertEqual(diags[4].hint?.hasPrefix("did you mean \"pre-apply\"?"), true, diags[4].hint ?? "")
        XCTAssertTrue(diags[3].message.contains("from 1 s to 3600 s"), diags[3].message)
        XCTAssertEqual(diags[2].path, "hooks.check.command")
        XCTAssertEqual(loaded.hooks.map(\.name), [], "no entry with a problem is kept")
    }

    func testAHugeTimeoutOrANumberThatDoesNotFitIsRefusedNotTrapped() throws {
        for value in ["3601", "99999999999999999999999", "-5", "1.5e9 s", "10 days"] {
            let repo = try Repo([:], config: "version: 1\nhooks:\n  slow: { command: [ x ], timeout: \(value) }\n")
            defer { repo.remove() }
            let (_, diags) = RepositoryConfig.load(root: repo.root, display: "dte.yaml")
            XCTAssertEqual(diags.map(\.code), ["invalid-timeout"], value)
        }
    }

    func testPoliciesTurnOnTheQualityAndAllocationHooks() throws {
        let policies = """
            - flood-quality:
                type: dte.policies.Quality
                properties: { level: silver, enforce: false }
                targets: [ flood ]
            - flood-budget:
                type: dte.policies.Allocation
                properties: { core_hours: 20000, gpu_hours: 800, warn_at: 90 }
                targets: [ flood ]

        """
        let repo = try Repo(["sites/vega.yaml": siteFile(core: 1000, gpu: 100), "templates/flood.yaml": twinFile(policies: policies)])
        defer { repo.remove() }
        let c = repo.compile()
        XCTAssertFalse(c.diagnostics.hasErrors, describe(c.diagnostics))
        let asked = DemandBox()
        let (pipeline, diags) = HookConfiguration.pipeline(model: c.model, config: c.config, root: repo.root, quality: { demands in
            asked.set(demands)
            return RecordingQuality(demands: demands)
        })
        XCTAssertEqual(diags, [])
        XCTAssertEqual(asked.get(), [QualityDemand(twin: "flood", source: "https://github.com/example/flood-twin", level: "silver", blocking: false,
                                                   policy: "flood-quality")])
        XCTAssertEqual(pipeline.hooks.map(\.name), ["quality", "allocation"])
        XCTAssertEqual(pipeline.hooks.map(\.phases), [[.prePlan, .preApply], [.preApply]])
        let allocation = try XCTUnwrap(pipeline.hooks[1] as? AllocationHook)
        XCTAssertEqual(allocation.caps, [AllocationHook.Cap(policy: "flood-budget", members: ["flood"], coreHours: 20000, gpuHours: 800, warnAt: 90)])
    }

    func testDTEYamlCanChangeABuiltInHooksPhasesAndMakeItNonBlocking() async throws {
        let policies = """
            - flood-quality:
                type: dte.policies.Quality
                properties: { level: gold }
                targets: [ flood ]

        """
        let config = "version: 1\nhooks:\n  quality: { phases: [ pre-apply ], blocking: false }\n"
        let repo = try Repo(["sites/vega.yaml": siteFile(core: 1000, gpu: 100), "templates/flood.yaml": twinFile(policies: policies)], config: config)
        defer { repo.remove() }
        let c = repo.compile()
        let (pipeline, _) = HookConfiguration.pipeline(model: c.model, config: c.config, root: repo.root, quality: { RecordingQuality(demands: $0) })
        XCTAssertEqual(pipeline.hooks.map(\.phases), [[.preApply]])
        XCTAssertEqual(pipeline.hooks.map(\.blocking), [false])
        let (plan, _) = try repo.plan()
        let prePlan = await pipeline.run(HookInput(phase: .prePlan, plan: plan, repositoryRoot: repo.root))
        XCTAssertEqual(prePlan, [], "moved out of pre-plan")
        let results = await pipeline.run(HookInput(phase: .preApply, plan: plan, repositoryRoot: repo.root))
        XCTAssertEqual(results.map(\.summary), ["flood is below gold"])
        XCTAssertEqual(HookPipeline.blocking(results), [], "a non-blocking fail does not stop apply")
    }

    func testAPolicyNothingCanEnforceIsAWarningNamingIt() throws {
        let policies = """
            - flood-quality:
                type: dte.policies.Quality
                properties: { level: silver }
                targets: [ flood ]
            - flood-budget:
                type: dte.policies.Allocation
                properties: { core_hours: 100 }
                targets: [ flood ]

        """
        let config = "version: 1\nhooks:\n  allocation: { enabled: false }\n"
        let repo = try Repo(["sites/vega.yaml": siteFile(core: 1000, gpu: 100), "templates/flood.yaml": twinFile(policies: policies)], config: config)
        defer { repo.remove() }
        let c = repo.compile()
        let (pipeline, diags) = HookConfiguration.pipeline(model: c.model, config: c.config, root: repo.root, quality: nil)
        XCTAssertEqual(pipeline.hooks.count, 0)
        XCTAssertEqual(diags.map(\.code), ["not-enforced", "not-enforced"])
        XCTAssertEqual(diags.map(\.severity), [.warning, .warning])
        XCTAssertEqual(diags[0].message, "policy \"flood-quality\" (dte.policies.Quality) is not enforced: this build of dte has no quality hook")
        XCTAssertEqual(diags[1].message, "policy \"flood-budget\" (dte.policies.Allocation) is not enforced: hooks.allocation is disabled in dte.yaml")
        XCTAssertEqual(diags.map(\.file), ["templates/flood.yaml", "templates/flood.yaml"])
        XCTAssertEqual(diags.map(\.line), [13, 17])
    }
}

final class DemandBox: @unchecked Sendable {
    // guarded by `lock`
    private let lock = NSLock()
    private var demands: [QualityDemand] = []
    func set(_ d: [QualityDemand]) { lock.lock(); demands = d; lock.unlock() }
    func get() -> [QualityDemand] { lock.lock(); defer { lock.unlock() }; return demands }
}
