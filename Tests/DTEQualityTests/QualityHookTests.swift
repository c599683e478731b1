import DTEApply
import DTECompiler
import DTETestSupport
import DTEPlanner
import DTEQuality
import Foundation
import XCTest

/// The quality hook: a twin below the level its policy asks fails (blocking or not, as the
/// policy says) with the evidence criterion by criterion; pre-apply reuses pre-plan's assessment.
final class QualityHookTests: XCTestCase {
    var repos: [TestRepository] = []
    override func tearDown() { repos.forEach { $0.remove() } }

    /// A plan that creates one component of each twin the tests name (the hook checks only twins a plan deploys).
    static let plan: Plan = {
        let changes = ["flood", "gone", "odd", "ftp"].map {
            #"{"address":"twin.\#($0).job","action":"create","reason":"new","changedPaths":[],"site":"s","protected":false}"#
        }.joined(separator: ",")
        let json = """
            {"formatVersion":"1.0","createdAt":0,"lineage":"l","serial":0,"sourceHash":"h","sitesInScope":[],
             "desired":{"resources":[],"sites":[]},"changes":[\(changes)],"drift":[],"observed":{},"refreshed":false,
             "diagnostics":[],"hooks":[]}
            """
        return try! JSONDecoder().decode(Plan.self, from: Data(json.utf8))
    }()

    func input(_ phase: HookPhase, root: String) -> HookInput { HookInput(phase: phase, plan: Self.plan, repositoryRoot: root) }

    func testATwinBelowItsLevelFailsAndBlocksWithEachMissingCriterionNamed() async throws {
        let repo = try TestRepository(Fixture.bronze)
        repos.append(repo)
        let hook = QualityHook(requirements: [QualityRequirement(twin: "flood", source: repo.url, level: "silver", blocking: true)],
                               repositoryRoot: repo.folder, settings: QualitySettings())
        XCTAssertEqual(hook.phases, [.prePlan, .preApply])
        XCTAssertTrue(hook.blocking)
        let results = await HookPipeline([hook]).run(input(.prePlan, root: repo.folder))
        let r = try XCTUnwrap(results.first)
        XCTAssertEqual(r.verdict, .fail)
        XCTAssertTrue(r.blocks)
        XCTAssertEqual(r.subject, "twin.flood")
        XCTAssertTrue(r.summary.contains("flood: silver required, bronze reached"), r.summary)
        XCTAssertTrue(r.summary.contains("missing QC.Sty, QC.Sec, QC.Ver"), r.summary)
        XCTAssertEqual(r.evidence.map(\.check), ["QC.Acc", "QC.Lic", "QC.Met", "QC.Doc", "QC.Sty", "QC.Sec", "QC.Ver"])
        XCTAssertEqual(r.evidence.filter { !$0.passed }.map(\.check), ["QC.Sty", "QC.Sec", "QC.Ver"])
        let ver = try XCTUnwrap(r.evidence.first { $0.check == "QC.Ver" })
        XCTAssertTrue(ver.detail.contains("no release tag on the assessed commit"), ver.detail)
        XCTAssertTrue(r.remedy?.contains("QC.Ver: Tag the release") ?? false, r.remedy ?? "")
        XCTAssertEqual(HookPipeline.blocking(results).count, 1)
    }

    func testATwinAtItsLevelPasses() async throws {
        let repo = try TestRepository(Fixture.silver, tags: ["v1.0.0"])
        repos.append(repo)
        let hook = QualityHook(requirements: [QualityRequirement(twin: "flood", source: repo.url, level: "silver", blocking: true)],
                               repositoryRoot: repo.folder, settings: Fixture.settings)
        let results = await hook.run(input(.preApply, root: repo.folder))
        let r = try XCTUnwrap(results.first)
        XCTAssertEqual(r.verdict, .pass, r.summary + "\n" + r.evidence.map(\.detail).joined(separator: "\n"))
        XCTAssertFalse(r.blocks)
        XCTAssertTrue(r.evidence.allSatisfy(\.passed))
    }

    func testAPolicyThatDoesNotEnforceFailsWithoutBlocking() async throws {
        let repo = try TestRepository(["flood.py": Fixture.code])
        repos.append(repo)
        let hook = QualityHook(requirements: [QualityRequirement(twin: "flood", source: repo.url, level: "bronze", blocking: false)],
                               repositoryRoot: repo.folder, settings: QualitySettings())
        XCTAssertFalse(hook.blocking)
        let results = await hook.run(input(.prePlan, root: repo.folder))
        XCTAssertEqual(results.first?.verdict, .fail)
        XCTAssertEqual(HookPipeline.blocking(results).count, 0)
    }

    func testExtraCriteriaOfThePolicyAreRequiredWhateverTheLevel() async throws {
        let repo = try TestRepository(Fixture.bronze)
        repos.append(repo)
        let hook = QualityHook(requirements: [QualityRequirement(twin: "flood", source: repo.url, level: "bronze", blocking: true, criteria: ["QC.Wor"])],
                               repositoryRoot: repo.folder, settings: QualitySettings())
        let results = await hook.run(input(.prePlan, root: repo.folder))
        let r = try XCTUnwrap(results.first)
        XCTAssertEqual(r.verdict, .fail)
        XCTAssertTrue(r.summary.contains("missing QC.Wor"), r.summary)
    }

    func testAnUnreachableSourceOrABadLevelIsAFailNamingTheProblem() async throws {
        let hook = QualityHook(requirements: [
            QualityRequirement(twin: "gone", source: "file:///nonexistent/x.git", level: "bronze", blocking: true),
            QualityRequirement(twin: "odd", source: "https://example.org/x.git", level: "platinum", blocking: true),
            QualityRequirement(twin: "ftp", source: "ftp://example.org/x.git", level: "bronze", blocking: true),
        ], repositoryRoot: NSTemporaryDirectory(), settings: QualitySettings())
        let results = await hook.run(input(.prePlan, root: NSTemporaryDirectory()))
        XCTAssertEqual(results.map(\.verdict), [.fail, .fail, .fail])
        XCTAssertTrue(results[0].summary.contains("could not be assessed: git ls-remote"), results[0].summary)
        XCTAssertTrue(results[1].summary.contains("\"platinum\" is not one of bronze, silver, gold"), results[1].summary)
        XCTAssertTrue(results[2].summary.contains("scheme ftp is not allowed"), results[2].summary)
    }

    func testPreApplyReusesThePrePlanAssessmentUntilTheCommitChanges() async throws {
        let repo = try TestRepository(Fixture.bronze)
        repos.append(repo)
        let hook = QualityHook(requirements: [QualityRequirement(twin: "flood", source: repo.url, level: "bronze", blocking: true)],
                               repositoryRoot: repo.folder, settings: QualitySettings())
        _ = await hook.run(input(.prePlan, root: repo.folder))
        _ = await hook.run(input(.preApply, root: repo.folder))
        let afterTwo = await hook.assessmentsMade
        XCTAssertEqual(afterTwo, 1)
        try repo.write(["CODE_OF_CONDUCT.md": ""])
        try repo.commit("empty the code of conduct")
        let results = await hook.run(input(.preApply, root: repo.folder))
        let r = try XCTUnwrap(results.first)
        let afterCommit = await hook.assessmentsMade
        XCTAssertEqual(afterCommit, 2)
        XCTAssertEqual(r.verdict, .fail, "the new commit is assessed, not the cached one")
    }

    func testTheShippedFloodTwinsPolicyBecomesASilverRequirementWithItsExtraCriterion() throws {
        let c = Compiler.compile(.repository("."), workingDirectory: packageRoot)
        let flood = try XCTUnwrap(QualityRequirement.from(model: c.model).first { $0.twin == "flood" })
        XCTAssertEqual(flood, QualityRequirement(twin: "flood", source: "https://github.com/example/flood-twin", level: "silver",
                                                 blocking: true, criteria: ["QC.Sec"]))
    }
}
