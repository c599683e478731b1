import Foundation
import Synchronization

/// The node templates of a large topology, parsed over all cores: each worker is a parser of its
/// own at the same YAML path, and what they report comes back in the file's order.
extension TemplateParser {
    /// Below this many node templates per worker, one thread is quicker.
    static let nodeTemplatesPerWorker = 500

    mutating func parseNodeTemplates(_ list: [YAMLEntry]) -> [NodeTemplate] {
        let workers = min(ProcessInfo.processInfo.activeProcessorCount, list.count / Self.nodeTemplatesPerWorker)
        guard workers > 1 else {
            var out: [NodeTemplate] = []
            out.reserveCapacity(list.count)
            for n in list {
                if let nt = at(n.key, { $0.parseNodeTemplate(n) }) { out.append(nt) }
            }
            return out
        }
        let chunk = (list.count + workers - 1) / workers
        let seed = TemplateParser(file: file, normative: normative, strict: strict, path: path)
        let parts = Mutex([TemplateParser](repeating: seed, count: workers))
        let results = Mutex([[NodeTemplate]](repeating: [], count: workers))
        DispatchQueue.concurrentPerform(iterations: workers) { i in
            var p = seed
            var out: [NodeTemplate] = []
            for n in list[min(list.count, i * chunk)..<min(list.count, (i + 1) * chunk)] {
                if let nt = p.at(n.key, { $0.parseNodeTemplate(n) }) { out.append(nt) }
            }
            parts.withLock { $0[i] = p }
            results.withLock { $0[i] = out }
        }
        for p in parts.withLock({ $0 }) {
            diagnostics += p.diagnostics
            yaml11Booleans += p.yaml11Booleans
            shortInterfaces += p.shortInterfaces
            emptyDefaults += p.emptyDefaults
        }
        return results.withLock { $0 }.flatMap { $0 }
    }
}
