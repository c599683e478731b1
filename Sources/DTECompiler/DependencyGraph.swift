import DTECompiler
import DTEModel
import DTEPlanner
import DTEState

/// Which components must be applied before which: built once per plan or apply from the desired
/// resources, from `after` requirements and from `get_attribute` references (a reference orders
/// like `after`). Cycles are found here, and only here at apply time; the executor walks the graph.
public struct DependencyGraph: Sendable {
    /// Why `from` waits for `to`.
    public enum Reason: Sendable, Hashable {
        case after
        /// A value at `path` (`env.NAME`, `command.N`, `args.N`) reads an attribute of `to`.
        case attribute(path: String)
    }

    public struct Edge: Sendable, Hashable {
        public var from: ResourceAddress
        public var to: ResourceAddress
        public var reason: Reason
    }

    /// Every component, sorted.
    public let nodes: [ResourceAddress]
    private let outgoing: [ResourceAddress: [Edge]]

    /// From the resources a plan wants (its desired state).
    public init(_ resources: [DesiredResource]) {
        self.init(specs: resources.map(\.spec))
    }

    public init(specs: [ComponentSpec]) {
        var out: [ResourceAddress: [Edge]] = [:]
        var nodes: [ResourceAddress] = []
        for spec in specs {
            let from = ResourceAddress.component(twin: spec.twin, component: spec.component)
            nodes.append(from)
            var edges: [Edge] = spec.after.map { Edge(from: from, to: .component(twin: spec.twin, component: $0), reason: .after) }
            for (path, expression) in (spec.deferred ?? [:]).sorted(by: { $0.key < $1.key }) {
                // a reference to a node that is not a component (no address) orders nothing
                for text in Set(expression.references).sorted() {
                    if let to = ResourceAddress(text), to.twin != nil { edges.append(Edge(from: from, to: to, reason: .attribute(path: path))) }
                }
            }
            out[from, default: []] += edges
        }
        self.nodes = Array(Set(nodes)).sorted()
        self.outgoing = out
    }

    /// What `address` waits for (each once, sorted).
    public func dependencies(of address: ResourceAddress) -> [ResourceAddress] {
        Array(Set((outgoing[address] ?? []).map(\.to))).sorted()
    }

    /// The edges out of `address`.
    public func edges(from address: ResourceAddress) -> [Edge] { outgoing[address] ?? [] }

    /// Every cycle, each as the edges around it (a component reading its own attribute is a
    /// cycle of one edge). Each edge is reported in at most one cycle. Iterative: chains may be long.
    public func cycles() -> [[Edge]] {
        var state: [ResourceAddress: UInt8] = [:]  // 1 on the path, 2 done
        var path: [Edge] = []
        var onPath: [ResourceAddress] = []
        var found: [[Edge]] = []
        var reported: Set<Edge> = []
        for start in nodes where state[start] == nil {
            var stack: [(node: ResourceAddress, next: Int)] = [(start, 0)]
            state[start] = 1
            onPath.append(start)
            while let top = stack.last {
                let edges = outgoing[top.node] ?? []
                guard top.next < edges.count else {
                    state[top.node] = 2
                    onPath.removeLast()
                    stack.removeLast()
                    if !path.isEmpty { path.removeLast() }
                    continue
                }
                stack[stack.count - 1].next += 1
                let edge = edges[top.next]
                guard outgoing[edge.to] != nil else { continue }  // not a component of this plan
                switch state[edge.to] {
                case 1:
                    let begin = onPath.lastIndex(of: edge.to) ?? 0
                    let cycle = Array(path[begin...]) + [edge]
                    if !cycle.contains(where: reported.contains) {
                        found.append(cycle)
                        reported.formUnion(cycle)
                    }
                case nil:
                    state[edge.to] = 1
                    onPath.append(edge.to)
                    path.append(edge)
                    stack.append((edge.to, 0))
                default:
                    break
                }
            }
        }
        return found
    }

    /// The cycles as located diagnostics (file:line:column of each edge's `after` requirement or
    /// property, found in `model`), one per cycle.
    public func cycleDiagnostics(in model: CompiledModel?) -> [Diagnostic] {
        cycles().map { cycle in
            let first = cycle[0]
            let names = cycle.map(\.from.name) + [first.from.name]
            let node = model?.node(first.from.name)
            let base = "topology_template.node_templates.\(first.from.name)"
            let (why, mark, path): (String, Mark?, String) = {
                switch first.reason {
                case .after:
                    let req = node?.requirements.first { $0.name == "after" && $0.target == first.to.name }
                    return ("runs after \"\(first.to.name)\"", req?.mark ?? node?.mark, base + ".requirements")
                case .attribute(let p):
                    let property = String(p.split(separator: ".").first ?? Substring(p))
                    return ("reads an attribute of \"\(first.to.name)\" in \(p)", node?.propertyMark(property) ?? node?.mark, base + ".properties." + p)
                }
            }()
            let message = cycle.count == 1 && first.from == first.to
                ? (first.reason == .after ? "\"\(first.from.name)\" runs after itself, so it can never start"
                                          : "\"\(first.from.name)\" reads its own attribute in \(pathOf(first)), so it can never start")
                : "\"\(first.from.name)\" \(why), but the order is a cycle: \(names.joined(separator: " → "))"
            return Diagnostic(.error, code: "dependency-cycle", message,
                              hint: "remove one of the after requirements or get_attribute references in the cycle",
                              file: node?.file, mark: mark, path: path)
        }
    }

    private func pathOf(_ e: Edge) -> String {
        if case .attribute(let p) = e.reason { return p }
        return "after"
    }
}
