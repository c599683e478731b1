import DTEModel
import Foundation
import Synchronization

/// One unit of checking work — a phase, or one worker's share of a phase: the immutable inputs
/// it reads (files, type tables and, from phase 3 on, the template index) and the diagnostics it
/// collects. Scopes are never shared between threads; each worker has its own.
final class CheckScope {
    let sources: SourceSet
    let options: CheckOptions
    let tables: [String: TypeTable]
    /// Known from phase 2 (empty while phase 2 runs).
    let knownConstraints: [ObjectIdentifier: [Constraint]]
    let knownDefaults: [ObjectIdentifier: Value?]
    /// Known from phase 3 (empty before).
    let nodeIndex: [String: NodeRef]
    let groupIndex: [String: (file: String, group: MemberDefinition)]
    let inputValues: [String: [String: YAMLNode]]

    private(set) var diagnostics: [Diagnostic] = []
    /// Constraints and defaults this scope worked out itself (phase 2 fills them for all later phases;
    /// later a schema written on the spot, such as a node filter's, lands here).
    var constraintMemo: [ObjectIdentifier: [Constraint]] = [:]
    var defaultMemo: [ObjectIdentifier: Value?] = [:]
    /// Whether a node type (as a table sees it) offers a capability of a type, by the pair: asked
    /// for every requirement, the same few pairs over and over.
    var capabilityOffers: [CapabilityOffer: Bool] = [:]

    /// Scalar-unit values by their text: a twin writes the same few (`1 h`, `2 GB`) on every node.
    private var scalarUnits: [ScalarUnitText: ScalarUnit?] = [:]

    struct ScalarUnitText: Hashable {
        let text: String
        let kind: ScalarUnitKind
    }

    func scalarUnit(_ text: String, kind: ScalarUnitKind) -> ScalarUnit? {
        let key = ScalarUnitText(text: text, kind: kind)
        if let known = scalarUnits[key] { return known }
        let parsed = ScalarUnit.parse(text, kind: kind)
        // bounded: a hostile file of a million distinct values parses each once, keeps a few
        if scalarUnits.count < 4_096 { scalarUnits[key] = parsed }
        return parsed
    }

    struct CapabilityOffer: Hashable {
        let table: ObjectIdentifier
        let nodeType: ObjectIdentifier
        let capability: String
    }

    init(sources: SourceSet, options: CheckOptions, tables: [String: TypeTable]) {
        self.sources = sources
        self.options = options
        self.tables = tables
        knownConstraints = [:]
        knownDefaults = [:]
        nodeIndex = [:]
        groupIndex = [:]
        inputValues = [:]
    }

    init(_ types: CheckedTypes, index: TemplateIndex? = nil) {
        sources = types.sources
        options = types.options
        tables = types.tables.byFile
        knownConstraints = types.constraints
        knownDefaults = types.defaults
        nodeIndex = index?.nodes ?? [:]
        groupIndex = index?.groups ?? [:]
        inputValues = index?.inputValues ?? [:]
    }

    convenience init(_ index: TemplateIndex) {
        self.init(index.types, index: index)
    }

    // MARK: - diagnostics

    func error(_ code: String, _ message: String, hint: String? = nil, file: String, mark: Mark, path: String) {
        diagnostics.append(Diagnostic(.error, code: code, message, hint: hint, file: file, mark: mark, path: path))
    }

    func warning(_ code: String, _ message: String, hint: String? = nil, file: String, mark: Mark, path: String) {
        diagnostics.append(Diagnostic(.warning, code: code, message, hint: hint, file: file, mark: mark, path: path))
    }

    func report(_ d: Diagnostic) { diagnostics.append(d) }

    /// Drops what was reported since `index` (a value checked quietly).
    func removeDiagnostics(from index: Int) {
        diagnostics.removeSubrange(index...)
    }

    /// Sets the file of what was reported since `index` (values supplied on the command line).
    func relocateDiagnostics(from index: Int, to file: String) {
        for i in index..<diagnostics.count { diagnostics[i].file = file }
    }

    /// Renames a diagnostic's code and adds a note to its message (a problem seen in a wider light).
    func amendDiagnostic(at index: Int, code: String, appending note: String) {
        diagnostics[index].code = code
        diagnostics[index].message += note
    }

    static func didYouMean(_ word: String, _ candidates: [String], list: Bool = false) -> String? {
        if let m = closestMatch(to: word, in: candidates) { return "did you mean \"\(m)\"?" }
        if list, !candidates.isEmpty, candidates.count <= 12 { return "expected one of: " + candidates.sorted().joined(separator: ", ") }
        return nil
    }

    // MARK: - over all cores

    /// Runs `body` over `items` on every core, each worker with a scope of its own made by
    /// `scope`; returns the results in the order of `items` and every worker's diagnostics.
    /// A small input runs on the calling thread.
    static func inParallel<T: Sendable, R: Sendable>(_ items: [T], scope: @Sendable () -> CheckScope,
                                                      _ body: @Sendable (CheckScope, T) -> R?) -> (results: [R], diagnostics: [Diagnostic]) {
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let workers = min(cores, items.count / minimumPerWorker)
        guard workers > 1 else {
            let s = scope()
            let results = items.compactMap { body(s, $0) }
            return (results, s.diagnostics)
        }
        let found = Mutex([[Diagnostic]](repeating: [], count: workers))
        let results: [R] = parallelSlots(count: items.count, workers: workers) { w, part, slot in
            let s = scope()
            for i in part { slot(i, body(s, items[i])) }
            found.withLock { $0[w] = s.diagnostics }
        }
        return (results, found.withLock { $0 }.flatMap { $0 })
    }

    /// Below this many items per worker, starting threads costs more than it saves.
    static let minimumPerWorker = 200
}
