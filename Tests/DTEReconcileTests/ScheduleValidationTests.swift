import DTECompiler
import DTEModel
import DTETestSupport
import Foundation
import Testing

/// `dte validate` on schedules and triggers: what the loop cannot run is an error located at
/// the value, and what it runs is no longer a "not enforced" warning.
@Suite("ScheduleValidation")
struct ScheduleValidationTests {
    func compile(_ policies: String) throws -> [Diagnostic] {
        let dir = NSTemporaryDirectory() + "dte-schedule-check-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/templates/dte", withIntermediateDirectories: true)
        try "version: 1\n".write(toFile: dir + "/dte.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: packageRoot + "/templates/dte/types.yaml", toPath: dir + "/templates/dte/types.yaml")
        let text = """
        tosca_definitions_version: tosca_simple_yaml_1_3
        imports: [dte/types.yaml]
        topology_template:
          node_templates:
            t: { type: dte.nodes.DigitalTwin, properties: { project: p, source: https://example.org/t } }
            job: { type: dte.nodes.BatchJob, properties: { image: docker://x:1 }, requirements: [ { twin: t } ] }
          policies:
        \(policies)
        """
        try text.write(toFile: dir + "/templates/t.yaml", atomically: true, encoding: .utf8)
        return Compiler.compile(.repository("."), workingDirectory: dir).diagnostics
    }

    func describe(_ d: [Diagnostic]) -> String { d.map { "\($0.location) \($0.code ?? "") \($0.message)" }.joined(separator: "\n") }

    @Test("a schedule and a trigger the loop can run are valid and not reported as not enforced")
    func valid() throws {
        let d = try compile("""
            - s: { type: dte.policies.Schedule, properties: { cron: "*/5 * * * mon-fri", timezone: Europe/Berlin, concurrency: Replace, starting_deadline: 10 m, history_limit: 3 }, targets: [ job ] }
            - f: { type: dte.policies.Trigger, properties: { location: "file:///data/in", pattern: "*.nc", debounce: 30 s, concurrency: Allow }, targets: [ t ] }
        """)
        #expect(!d.contains { $0.severity == .error }, "\(describe(d))")
        #expect(!d.contains { $0.code == "not-enforced" && ($0.message.contains("\"s\"") || $0.message.contains("\"f\"")) }, "\(describe(d))")
    }

    @Test("what the loop cannot run is an error at the value, naming the field", arguments: [
        ("- s: { type: dte.policies.Schedule, properties: { cron: \"0 0 * * *\", timezone: Mars/Olympus }, targets: [ job ] }", "invalid-timezone", "Mars/Olympus", 84),
        ("- s: { type: dte.policies.Schedule, properties: { cron: \"0 0 31 13 *\" }, targets: [ job ] }", "invalid-cron", "month field", 61),
        ("- s: { type: dte.policies.Schedule, properties: { cron: \"0 0 * * *\", concurrency: sometimes }, targets: [ job ] }", nil, "concurrency", nil),
        ("- s: { type: dte.policies.Schedule, properties: { cron: \"0 0 * * *\", history_limit: 0 }, targets: [ job ] }", nil, "history_limit", nil),
        ("- f: { type: dte.policies.Trigger, properties: { location: \"s3://bucket/in\" }, targets: [ job ] }", "invalid-dataset-location", "s3://", 64),
        ("- f: { type: dte.policies.Trigger, properties: { location: data/in }, targets: [ job ] }", "invalid-dataset-location", "not an absolute path", 64),
        ("- f: { type: dte.policies.Trigger, properties: { location: /data/../etc }, targets: [ job ] }", "invalid-dataset-location", "'..'", 64),
        ("- f: { type: dte.policies.Trigger, properties: { location: /data/in, pattern: \"a/*\" }, targets: [ job ] }", "invalid-pattern", "contains '/'", 83),
    ] as [(String, String?, String, Int?)])
    func refused(_ policy: String, _ code: String?, _ words: String, _ column: Int?) throws {
        let d = try compile("    " + policy)
        let errors = d.filter { $0.severity == .error }
        let hit = errors.first { e in (code == nil || e.code == code) && e.message.contains(words) }
        #expect(hit != nil, "\(describe(d))")
        if let column, let hit {
            #expect(hit.location == "templates/t.yaml:8:\(column)", "located at the value: \(hit.location)")
        }
    }
}
