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
        var width = 0
        for c in plan.changes where c.action != .noop { width = max(width, c.address.count) }
        if width == 0 {
            out += "No changes. The state (serial \(plan.serial)) matches the repository\(scope).\n"
            return out
        }
        out += "DTE will perform these actions\(scope) (state serial \(plan.serial)\(plan.gitCommit.map { ", commit \($0)" } ?? "")):\n\n"
        for c in plan.changes where c.action != .noop {
            let sym = colored(c.action, Self.pad(Self.symbol(c.action), 3))
            let addr = Self.pad(c.address, width)
            let whereText = c.partition.map { "\(c.site)/\($0)" } ?? c.site
            var line = "  \(sym) \(paint(addr, "1"))  on \(whereText)"
            if let s = c.after ?? c.before { line += "   \(Self.resources(s))" }
            out += line + "\n"
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
        }
        out += "\n" + paint(summaryLine, "1") + "\n" + useLine + "\n"
        if let outputs = plan.outputs, !outputs.isEmpty {
            out += "\nOutputs:\n" + OutputsView(outputs: outputs).text(indent: "  ")
        }
        for d in plan.diagnostics { out += "\(paint("error", "1;31")): \(d.message)\n" + (d.hint.map { "  hint: \($0)\n" } ?? "") }
        return out
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
            return out
        }
        out += "**\(summaryLine)** \(useLine)\n\n"
        for d in plan.diagnostics { out += "> :x: **error:** \(d.message)\n" }
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

    /// The plan as JSON (`format_version` "1.0").
    public func json() -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        guard let data = try? e.encode(plan), let s = String(data: data, encoding: .utf8) else { return "{}\n" }
        return s + "\n"
    }
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
