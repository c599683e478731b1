import DTECompiler
import DTEModel
import Foundation

extension QualityRequirement {
    /// The requirements the model's `dte.policies.Quality` policies make: one per twin they
    /// target, with the twin's `source` property, the policy's `level`, `enforce` (blocking,
    /// default true) and `criteria`. A twin named by several policies gets one requirement each.
    public static func from(model: CompiledModel) -> [QualityRequirement] {
        var out: [QualityRequirement] = []
        for p in model.policies where p.isA("dte.policies.Quality") {
            let level = p.property("level")?.stringValue ?? ""
            let blocking: Bool
            if case .boolean(let b)? = p.property("enforce") { blocking = b } else { blocking = true }
            var criteria: [String] = []
            if case .list(let items)? = p.property("criteria") { criteria = items.compactMap(\.stringValue) }
            for m in p.members {
                guard let twin = model.node(m), twin.isA("dte.nodes.DigitalTwin") else { continue }
                out.append(QualityRequirement(twin: m, source: twin.property("source")?.stringValue ?? "", level: level,
                                              blocking: blocking, criteria: criteria))
            }
        }
        return out
    }
}
