import DTEModel
import DTEPlanner
import DTEState
import Foundation

/// Renders a plan: for people (coloured like `terraform plan`), for pull requests (Markdown,
/// summary first, details collapsible, bounded size) and for machines (versioned JSON).
public struct PlanView: Sendable {
    public var plan: Plan
    public var color: Bool

    public init(plan: Plan, color: Bool = false) {
        self.plan = plan
        self.color = color
    }

    func paint(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }

    static func symbol(_ a: PlanAction) -> String {
        switch a {
        case .create: return "+"
        case .update: return "~"
        case .replace: return "-/+"
        case .delete: return "-"
        case .noop: return " "
        case .read: return "<="
        }
    }

    func colored(_ a: PlanAction, _ s: String) -> String {
        switch a {
        case .create: return paint(s, "32")
        case .update: return paint(s, "33")
        case .replace: return paint(s, "35")
        case .delete: return paint(s, "31")
        case .noop, .read: return s
        }
    }

    static func resources(_ s: ComponentSpec) -> String {
        var parts = ["\(s.cpus) cpu\(s.cpus == 1 ? "" : "s")", DesiredState.bytes(s.memory)]
        if s.gpus > 0 { parts.append("\(s.gpus) × \(s.gpuModel ?? "GPU")") }
        parts.append(DesiredState.duration(s.walltime))
        if !s.after.isEmpty { parts.append("after \(s.after.joined(separator: ", "))") }
        if let c = s.schedule { parts.append("schedule \"\(c)\"") }
        return parts.joined(separator: ", ")
    }

    public var summaryLine: String {
        if plan.count(.read) > 0 && plan.changes.allSatisfy({ $0.action == .read || $0.action == .noop }) {
            return "Refresh only: \(plan.count(.read)) status\(plan.count(.read) == 1 ? "" : "es") to record, nothing else changes."
        }
        return "Plan: \(plan.count(.create)) to create, \(plan.count(.update)) to update, \(plan.count(.replace)) to replace, \(plan.count(.delete)) to delete."
    }

    public var useLine: String {
        String(format: "Predicted use: %.1f core-hours, %.1f GPU-hours.", plan.predictedCoreHours, plan.predictedGPUHours)
    }

    /// Changes made outside DTE, apart from intended changes.
    func driftText() -> String {
        guard !plan.drift.isEmpty else { return "" }
        var out = paint("Drift", "1;33") + " (changed outside DTE since the last apply):\n"
        for d in plan.drift {
            out += "  \(paint("!", "33")) \(d.address) on \(d.site): recorded \(d.recorded), the site reports \(d.observed) (\(d.kind))\n"
        }
        return out + "\n"
    }

    /// The human plan.
    public func text() -> String {
        var out = driftText()
        let scope = plan.sitesInScope.isEmpty ? "" : " on \(plan.sitesInScope.joined(separator: ", "))"
        let shown = plan.changes.indices.filter { plan.changes[$0].action != .noop }
        var width = 0
        for i in shown { width = max(width, plan.changes[i].address.count) }
        if width == 0 {
            out += "No changes. The state (serial \(plan.serial)) matches the repository\(scope).\n"
            out += hooksText()
            out += diagnosticsText()
            return out
        }
        out += "DTE will perform these actions\(scope) (state serial \(plan.serial)\(plan.gitCommit.map { ", commit \($0)" } ?? "")):\n\n"
        // one block per change, rendered over all cores for a large plan, joined in order
        let columns = width
        out += shown.parallelCompactMap { changeText(plan.changes[$0], width: columns) }.joined()
        out += "\n" + paint(summaryLine, "1") + "\n" + useLine + "\n"
        out += hooksText()
        if let outputs = plan.outputs, !outputs.isEmpty {
            out += "\nOutputs:\n" + OutputsView(outputs: outputs).text(indent: "  ")
        }
        out += diagnosticsText()
        return out
    }

    /// A change's lines: symbol, address, where and what it asks; then why, or what differs.
    func changeText(_ c: ResourceChange, width: Int) -> String {
        let sym = colored(c.action, Self.pad(Self.symbol(c.action), 3))
        let addr = Self.pad(c.address, width)
        let whereText = c.partition.map { "\(c.site)/\($0)" } ?? c.site
        var out = "  \(sym) \(paint(addr, "1"))  on \(whereText)"
        if let s = c.after ?? c.before { out += "   \(Self.resources(s))" }
        out += "\n"
        switch c.action {
        case .replace, .update:
            let detail = c.changedPaths.isEmpty ? c.reason : c.changedPaths.map { path in
                "\(path): \(Self.value(c.before, path)) → \(Self.value(c.after, path))"
            }.joined(separator: "; ")
            out += "        \(c.reason): \(detail)\n"
        case .delete:
            out += "        \(c.reason)\(c.protected ? " (protected!)" : "")\n"
        case .read:
            if let o = plan.observed[c.address] {
                out += "        status → \(o.phase)\(o.exitCode.map { " (exit \($0))" } ?? "") (job \(o.jobID))\n"
            }
        case .create:
            if let p = c.placement {
                var why = "placed on \(p.site): \(p.reason)"
                if !p.rejected.isEmpty { why += "; not " + p.rejected.map { "\($0.site): \($0.reason)" }.joined(separator: "; not ") }
                out += "        \(why)\n"
            }
        default: break
        }
        for (path, value) in (c.deferredValues ?? [:]).sorted(by: { $0.key < $1.key }) where c.action == .create || c.action == .replace {
            out += "        \(path) = \(value)\n"
        }
        return out
    }

    /// Errors and warnings of the plan (a warning names what DTE does not act on, a hook's non-blocking failure, …).
    func diagnosticsText() -> String {
        var out = ""
        for d in plan.diagnostics {
            let sev: String
            switch d.severity {
            case .error: sev = paint("error", "1;31")
            case .warning: sev = paint("warning", "1;33")
            case .note: sev = paint("note", "1;36")
            }
            let at = d.file == nil ? "" : d.location + ": "
            out += "\(at)\(sev): \(d.message)\n" + (d.hint.map { "  hint: \($0)\n" } ?? "")
        }
        return out
    }

    static func mark(_ v: HookVerdict) -> String {
        switch v {
        case .pass: return "✓"
        case .warn: return "!"
        case .fail: return "✗"
        }
    }

    func paintVerdict(_ v: HookVerdict, _ s: String) -> String {
        switch v {
        case .pass: return paint(s, "32")
        case .warn: return paint(s, "33")
        case .fail: return paint(s, "1;31")
        }
    }

    /// The hooks that refuse this plan.
    public var blockingHooks: [HookResult] { plan.hooks.filter(\.blocks) }

    /// `Hooks:` — each result with its verdict, name, phase, subject, summary, evidence and remedy;
    /// then whether apply is refused and by which hooks.
    func hooksText() -> String {
        guard !plan.hooks.isEmpty else { return "" }
        var out = "\nHooks:\n"
        for r in plan.hooks {
            let verdict = paintVerdict(r.verdict, "\(Self.mark(r.verdict)) \(Self.pad(r.verdict.rawValue, 4))")
            let about = r.subject.map { " \($0)" } ?? ""
            let kind = r.verdict == .fail ? (r.blocking ? ", blocking" : ", not blocking") : ""
            out += "  \(verdict) \(paint(r.name, "1")) (\(r.phase.rawValue)\(kind))\(about): \(r.summary)\n"
            for e in r.evidence {
                out += "         \(e.passed ? "✓" : "✗") \(e.check): \(e.detail)\n"
            }
            if let remedy = r.remedy, r.verdict != .pass { out += "         what to do: \(remedy)\n" }
        }
        let blocking = blockingHooks
        if !blocking.isEmpty {
            let names = Self.unique(blocking.map(\.name))
            out += paint("Apply is refused: blocking hook\(names.count == 1 ? "" : "s") \(names.joined(separator: ", ")) failed.", "1;31")
                + " Fix what \(names.count == 1 ? "it names" : "they name") above, or make the hook non-blocking in dte.yaml (hooks: { \(names[0]): { blocking: false } }).\n"
        }
        return out
    }

    static func unique(_ names: [String]) -> [String] {
        var seen: Set<String> = []
        return names.filter { seen.insert($0).inserted }
    }

    /// `text` padded with spaces to `width` characters.
    static func pad(_ text: String, _ width: Int) -> String {
        let count = text.count
        return count >= width ? text : text + String(repeating: " ", count: width - count)
    }

    static func value(_ s: ComponentSpec?, _ path: String) -> String {
        guard let s else { return "–" }
        switch path {
        case "image": return s.image ?? "–"
        case "command": return s.command.joined(separator: " ")
        case "cpus": return String(s.cpus)
        case "memory": return DesiredState.bytes(s.memory)
        case "gpus": return String(s.gpus)
        case "gpu_model": return s.gpuModel ?? "–"
        case "walltime": return DesiredState.duration(s.walltime)
        case "runtime": return s.runtime ?? "–"
        case "after": return "[" + s.after.joined(separator: ", ") + "]"
        case "schedule": return s.schedule.map { "\"\($0)\"" } ?? "–"
        default:
            if path.hasPrefix("env.") { return s.env[String(path.dropFirst(4))].map { "\"\($0)\"" } ?? "–" }
            return "…"
        }
    }

    /// Markdown for a pull-request comment: summary first, the details folded, at most `limit` characters.
    public func markdown(limit: Int = 60_000) -> String {
        var out = "### DTE plan\n\n"
        if !plan.drift.isEmpty {
            out += "> :warning: **Drift** (changed outside DTE): " + plan.drift.prefix(20).map { "`\($0.address)` \($0.recorded) → \($0.observed)" }
                .joined(separator: "; ") + (plan.drift.count > 20 ? "; …" : "") + "\n\n"
        }
        if !plan.hasChanges {
            out += "**No changes.** The state (serial \(plan.serial)) matches the repository.\n"
            out += markdownDiagnostics()
            out += markdownHooks(limit: limit / 2)
            return out
        }
        out += "**\(summaryLine)** \(useLine)\n\n"
        out += markdownDiagnostics()
        out += markdownHooks(limit: limit / 4)
        out += "| | resource | site | resources |\n|---|---|---|---|\n"
        var details = ""
        for c in plan.changes where c.action != .noop {
            let row = "| `\(Self.symbol(c.action))` | `\(c.address)` | \(c.site)\(c.partition.map { "/\($0)" } ?? "") | \((c.after ?? c.before).map(Self.resources) ?? "") |\n"
            if out.utf8.count + row.utf8.count > limit / 2 {
                out += "| | … | | \(plan.changes.filter { $0.action != .noop }.count) changes in all |\n"
                break
            }
            out += row
            var d = "- `\(c.address)`: **\(c.action.rawValue)** (\(c.reason))"
            if !c.changedPaths.isEmpty { d += " — " + c.changedPaths.map { "`\($0)`" }.joined(separator: ", ") }
            if let p = c.placement, c.action == .create { d += " — \(p.reason)" }
            details += d + "\n"
        }
        out += "\n<details><summary>Details</summary>\n\n"
        let room = max(0, limit - out.utf8.count - 64)
        out += details.utf8.count > room ? String(details.prefix(room)) + "\n…(truncated)\n" : details
        out += "\n</details>\n"
        return out
    }

    func markdownDiagnostics() -> String {
        var out = ""
        for d in plan.diagnostics.prefix(50) {
            let label = d.severity == .error ? ":x: **error:**" : (d.severity == .warning ? ":warning: **warning:**" : "**note:**")
            out += "> \(label) \(Self.markdownEscaped(d.message))\n"
        }
        if plan.diagnostics.count > 50 { out += "> … \(plan.diagnostics.count - 50) more\n" }
        return out.isEmpty ? "" : out + "\n"
    }

    /// The hook results: a line per result (verdict, hook, phase, subject, summary), its evidence and
    /// remedy below; at most `limit` characters.
    func markdownHooks(limit: Int) -> String {
        guard !plan.hooks.isEmpty else { return "" }
        var out = "#### Hooks\n\n"
        let blocking = blockingHooks
        if !blocking.isEmpty {
            out += "> :no_entry: **Apply is refused:** blocking hook\(Self.unique(blocking.map(\.name)).count == 1 ? "" : "s") "
                + Self.unique(blocking.map(\.name)).map { "`\($0)`" }.joined(separator: ", ") + " failed.\n\n"
        }
        for (i, r) in plan.hooks.enumerated() {
            let icon: String
            switch r.verdict {
            case .pass: icon = ":white_check_mark:"
            case .warn: icon = ":warning:"
            case .fail: icon = r.blocking ? ":x:" : ":warning:"
            }
            var item = "- \(icon) **\(r.verdict.rawValue)** `\(r.name)` (\(r.phase.rawValue)\(r.verdict == .fail ? (r.blocking ? ", blocking" : ", not blocking") : ""))"
            if let s = r.subject { item += " `\(s)`" }
            item += ": \(Self.markdownEscaped(r.summary))\n"
            for e in r.evidence.prefix(20) { item += "  - \(e.passed ? ":heavy_check_mark:" : ":x:") \(Self.markdownEscaped(e.check)): \(Self.markdownEscaped(e.detail))\n" }
            if r.evidence.count > 20 { item += "  - … \(r.evidence.count - 20) more\n" }
            if let remedy = r.remedy, r.verdict != .pass { item += "  - **What to do:** \(Self.markdownEscaped(remedy))\n" }
            if out.utf8.count + item.utf8.count > limit {
                out += "- … \(plan.hooks.count - i) more hook result\(plan.hooks.count - i == 1 ? "" : "s") (see `dte plan`)\n"
                break
            }
            out += item
        }
        return out + "\n"
    }

    /// Text from hooks and templates in Markdown: one line, no HTML, table pipes escaped, bounded.
    static func markdownEscaped(_ s: String, limit: Int = 2000) -> String {
        var out = ""
        for ch in s.prefix(limit) {
            switch ch {
            case "\n", "\r": out += " "
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "|": out += "\\|"
            default: out.append(ch)
            }
        }
        return s.count > limit ? out + "…" : out
    }

    /// The plan as the versioned public JSON (`PlanDocument`, format_version 1.0; docs/plan-json.md).
    public func json() -> String { PlanDocument(plan).json() }
}

/// Topology outputs, like terraform's `Outputs:`: `name = "value"`, or why it has none yet.
public struct OutputsView: Sendable {
    public var outputs: [OutputValue]

    public init(outputs: [OutputValue]) { self.outputs = outputs }

    public func text(indent: String = "") -> String {
        let width = outputs.map(\.name.count).max() ?? 0
        return outputs.map { o in
            let name = PlanView.pad(o.name, width)
            return "\(indent)\(name) = " + (o.value.map { "\"\($0)\"" } ?? o.note.map { $0.hasPrefix("known after apply") ? Planner.knownAfterApply : "(\($0))" } ?? Planner.knownAfterApply) + "\n"
        }.joined()
    }

    /// `{"name": "value" or null, …}`.
    public func json() -> String {
        var object: [String: String?] = [:]
        for o in outputs { object[o.name] = .some(o.value) }
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return ((try? e.encode(object)).map { String(decoding: $0, as: UTF8.self) } ?? "{}") + "\n"
    }
}
