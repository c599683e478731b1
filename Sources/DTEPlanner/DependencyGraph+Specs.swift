import DTECompiler
import DTEState

extension DependencyGraph {
    /// From the resources a plan wants (its desired state).
    public init(_ resources: [DesiredResource]) {
        self.init(specs: resources.map(\.spec))
    }

    /// From component specs, as a saved plan holds them: `after` names a component, a deferred
    /// value's reference a component's address (a reference to a node that is not a component
    /// orders nothing).
    public init(specs: [ComponentSpec]) {
        self.init(components: specs.map { spec in
            var edges = spec.after.map { Edge(from: spec.component, to: $0, reason: .after) }
            for (path, expression) in (spec.deferred ?? [:]).sorted(by: { $0.key < $1.key }) {
                for text in Set(expression.references).sorted() {
                    if case .component(_, let to)? = ResourceAddress(text) { edges.append(Edge(from: spec.component, to: to, reason: .attribute(path: path))) }
                }
            }
            return (spec.component, edges)
        })
    }
}
