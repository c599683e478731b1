import DTEApply
import DTEPlanner
import Foundation

/// Renders apply progress (the engine's events) and the closing summary, as `dte apply` prints
/// them: one line per event, `failed` in red when colour is on.
public struct ApplyView: Sendable {
    public var color: Bool

    public init(color: Bool) { self.color = color }

    func red(_ s: String) -> String { color ? "\u{1B}[31m\(s)\u{1B}[0m" : s }
    func yellow(_ s: String) -> String { color ? "\u{1B}[33m\(s)\u{1B}[0m" : s }

    /// The line an event prints (without the newline).
    public func line(_ event: ApplyEvent) -> String {
        switch event {
        case .started(let address, let action):
            return "\(address): \(action.rawValue)…"
        case .waiting(let address, let dependency, let site, let status):
            return "\(address): waiting for \(dependency) on site \(site) to finish: \(status)"
        case .retrying(let address, let attempt, let attempts, let delay, let reason):
            return "\(address): no answer (\(reason)); trying again in \(DesiredState.duration(delay)) (attempt \(attempt) of \(attempts))"
        case .finished(let r):
            let mark = r.outcome == .failed ? red("failed") : r.outcome.rawValue
            return "\(r.address): \(mark)\(r.jobID.map { " (job \($0))" } ?? "")\(r.message.map { ": \($0)" } ?? "")"
        case .hook(let h):
            let verdict: String
            switch h.verdict {
            case .pass: verdict = "pass"
            case .warn: verdict = yellow("warn")
            case .fail: verdict = h.blocking ? red("fail") : yellow("fail")
            }
            return "hook \(h.name) (\(h.phase.rawValue))\(h.subject.map { " \($0)" } ?? ""): \(verdict): \(h.summary)"
                + (h.verdict != .pass ? h.remedy.map { " — \($0)" } ?? "" : "")
        }
    }

    /// "Apply complete: 3 succeeded, 0 failed, 0 skipped."
    public func summary(_ results: [ApplyResult]) -> String {
        let failed = results.filter { $0.outcome == .failed }.count
        let skipped = results.filter { $0.outcome == .skipped }.count
        return "Apply complete: \(results.count - failed - skipped) succeeded, \(failed) failed, \(skipped) skipped."
    }
}
