import DTECompiler
import DTEModel
import DTETestSupport
import Foundation
import XCTest

/// No silent promises: what the templates declare and DTE does not act on yet is a warning naming it.
final class NotEnforcedTests: XCTestCase {
    func testValidateOnTheShippedFloodTwinWarnsAboutWhatItDoesNotDoButNotItsSchedules() throws {
        let r = try runDTE(["validate", "templates/flood.yaml"], in: repositoryRoot)
        XCTAssertEqual(r.status, 0, "warnings do not fail validate:\n" + r.out + r.err)
        let lines = r.out.split(separator: "\n").map(String.init)
        // the GitOps loop runs schedules (the policy and the scheduled job's own): no warning
        XCTAssertFalse(lines.contains { $0.contains("flood-weekly-verification") || $0.contains(": schedule is declared") }, r.out)
        XCTAssertTrue(lines.contains { $0.contains(": warning: \"flood-alert\": secret_env is declared but DTE does not act on it yet (no variable is set from site secrets)") }, r.out)
        // one warning for every component of the file that declares mounts, not one each
        let mounts = lines.filter { $0.contains(": warning: ") && $0.contains(": mounts is declared") }
        XCTAssertEqual(mounts.count, 1, r.out)
        for component in ["flood-ingest", "flood-preprocess", "flood-model", "flood-verify"] {
            XCTAssertTrue(mounts.first?.contains("\"\(component)\"") == true, "\(component) is named: \(mounts)")
        }
        XCTAssertTrue(lines.contains { $0.contains(": warning: policy \"flood-quality\": criteria is declared but the quality hook does not check extra criteria yet") }, r.out)
        XCTAssertTrue(lines.last?.hasSuffix("warnings, no errors (\(lines.last?.split(separator: "(").last ?? "")") == true, r.out)

        let j = try runDTE(["validate", "--format", "json", "templates/flood.yaml"], in: repositoryRoot)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(j.out.utf8)) as? [String: Any])
        XCTAssertEqual(report["valid"] as? Bool, true)
        let diags = try XCTUnwrap(report["diagnostics"] as? [[String: Any]])
        let criteria = try XCTUnwrap(diags.first { ($0["message"] as? String)?.contains("flood-quality") == true })
        XCTAssertEqual(criteria["code"] as? String, "not-enforced")
        XCTAssertEqual(criteria["severity"] as? String, "warning")
        XCTAssertEqual(criteria["file"] as? String, "templates/flood.yaml")
        XCTAssertNotNil(criteria["line"] as? Int)
        XCTAssertFalse(diags.contains { ($0["message"] as? String)?.contains("flood-weekly-verification") == true }, "schedules run: no warning")
    }

    func testEachUnreadDeclarationIsNamedWhereItIsWritten() throws {
        let text = """
        tosca_definitions_version: tosca_simple_yaml_1_3
        imports: [dte/types.yaml]
        topology_template:
          node_templates:
            t:
              type: dte.nodes.DigitalTwin
              properties: { project: p, source: https://example.org/t }
            job:
              type: dte.nodes.BatchJob
              properties:
                image: docker://x:1
                workdir: /work
                retries: 2
                mounts: [ { path: /scratch } ]
              requirements: [ { twin: t } ]
            plain:
              type: dte.nodes.BatchJob
              properties: { image: docker://x:1, retries: 0 }
              requirements: [ { twin: t } ]
          policies:
            - nightly:
                type: dte.policies.Schedule
                properties: { cron: "0 2 * * *" }
                targets: [ job ]
        """
        let repo = try ScratchRepository(["templates/t.yaml": text])
        defer { repo.remove() }
        let c = repo.compile()
        XCTAssertFalse(c.diagnostics.hasErrors, describe(c.diagnostics))
        let warnings = c.diagnostics.filter { $0.code == "not-enforced" }
        XCTAssertEqual(warnings.map { "\($0.location) \($0.path ?? "")" }, [
            "templates/t.yaml:12:18 topology_template.node_templates.job.properties.workdir",
            "templates/t.yaml:13:18 topology_template.node_templates.job.properties.retries",
            "templates/t.yaml:14:17 topology_template.node_templates.job.properties.mounts",
        ], describe(c.diagnostics))
        XCTAssertTrue(warnings.allSatisfy { $0.severity == .warning })
        XCTAssertEqual(warnings[1].message, "\"job\": retries is declared but DTE does not act on it yet (a failed run is not resubmitted)")
        XCTAssertFalse(warnings.contains { $0.message.contains("\"plain\"") }, "retries: 0 promises nothing")
    }

    func testOneWarningPerThingAndFileNamingEveryComponentAtTheFirstPlace() throws {
        func twin(_ name: String, _ components: [String]) -> String {
            twinHeader + "topology_template:\n  node_templates:\n"
                + "    \(name): { type: dte.nodes.DigitalTwin, properties: { project: p, source: https://example.org/t } }\n"
                + components.map { c in
                    "    \(c):\n      type: dte.nodes.BatchJob\n      properties: { image: docker://x:1, mounts: [ { path: /scratch } ] }\n"
                        + "      requirements: [ { twin: \(name) }, { uses: \(name)-in }, { produces: \(name)-out } ]\n"
                }.joined()
                + "    \(name)-in: { type: dte.nodes.Dataset, properties: { uri: fs://scratch/in } }\n"
                + "    \(name)-out: { type: dte.nodes.Dataset, properties: { uri: fs://scratch/out } }\n"
        }
        let repo = try ScratchRepository(["templates/a.yaml": twin("a", ["a1", "a2", "a3"]), "templates/b.yaml": twin("b", ["b1"])])
        defer { repo.remove() }
        let c = repo.compile()
        XCTAssertFalse(c.diagnostics.hasErrors, describe(c.diagnostics))
        let warnings = c.diagnostics.filter { $0.code == "not-enforced" }
        XCTAssertEqual(warnings.map { "\($0.location): \($0.message)" }, [
            "templates/a.yaml:8:50: \"a1\", \"a2\", \"a3\": mounts is declared but DTE does not act on it yet (no folder is mounted in the container)",
            "templates/a.yaml:9:38: \"a1\", \"a2\", \"a3\": the uses and produces requirements are declared but DTE does not act on them yet "
                + "(no data is mounted, no DTE_DATA_/DTE_OUTPUT_ variable is set, and a user does not wait for the producer)",
            "templates/b.yaml:8:50: \"b1\": mounts is declared but DTE does not act on it yet (no folder is mounted in the container)",
            "templates/b.yaml:9:38: \"b1\": the uses and produces requirements are declared but DTE does not act on them yet "
                + "(no data is mounted, no DTE_DATA_/DTE_OUTPUT_ variable is set, and a user does not wait for the producer)",
        ], describe(warnings))
    }

    func testTheShippedRepositoryWarnsOncePerThingInEachFile() throws {
        let c = Compiler.compile(.repository("."), workingDirectory: repositoryRoot)
        let warnings = c.diagnostics.filter { $0.code == "not-enforced" }
        XCTAssertFalse(warnings.isEmpty)
        // what a warning is about: the text after the names ("mounts is declared …", "policy \"x\" …")
        let subjects = warnings.map { w in "\(w.file ?? ""): " + (w.message.components(separatedBy: "\": ").last ?? w.message) }
        XCTAssertEqual(Set(subjects).count, subjects.count, "two warnings say the same in one file:\n" + describe(warnings))
        XCTAssertLessThanOrEqual(warnings.count, 25, describe(warnings))
    }

    func testATwinThatOnlyUsesWhatDTEDoesHasNoWarning() throws {
        let text = twinHeader + """
        topology_template:
          node_templates:
            t: { type: dte.nodes.DigitalTwin, properties: { project: p, source: https://example.org/t } }
            job:
              type: dte.nodes.BatchJob
              properties: { image: docker://x:1, cpus: 2, memory: 1 GB, walltime: 10 m, env: { A: b } }
              requirements: [ { twin: t } ]
        """
        let repo = try ScratchRepository(["templates/t.yaml": text])
        defer { repo.remove() }
        XCTAssertEqual(repo.compile().diagnostics.count, 0, describe(repo.compile().diagnostics))
    }
}
