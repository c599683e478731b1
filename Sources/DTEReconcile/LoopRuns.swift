import DTECompiler
import DTEModel
import DTEPlanner
import DTEState
import Foundation

/// What a due tick or a new file does while a run of the same components is still active
/// (Kubernetes CronJob's `concurrencyPolicy`).
public enum RunConcurrency: String, Sendable, Codable, CaseIterable {
    /// The tick is skipped (a file waits) while a run is active.
    case forbid = "Forbid"
    /// A new run starts beside the active one (its pod is kept, as an older generation).
    case allow = "Allow"
    /// The active run is cancelled and a new one starts.
    case replace = "Replace"

    /// `Forbid`, `forbid`, `FORBID`…
    init?(loose: String?) {
        guard let s = loose?.lowercased() else { return nil }
        self.init(rawValue: s.prefix(1).uppercased() + s.dropFirst())
    }
}

/// A schedule or a data trigger of the revision: what starts runs of which components.
struct RunSource: Sendable {
    enum Kind: Sendable {
        case schedule(CronSchedule, TimeZone, deadline: TimeInterval?)
        case trigger(any DatasetWatcher)
    }

    /// `schedule/<policy>`, `schedule/<component address>` (a scheduled job), `trigger/<policy>`.
    var key: String
    var name: String
    var kind: Kind
    /// Node templates named as targets: components, or twins (all their components).
    var members: [String]
    var concurrency: RunConcurrency
    var historyLimit: Int
    var suspended: Bool
    /// The time zone as written (Foundation may name it otherwise, e.g. UTC as GMT).
    var zoneName = "UTC"

    static let defaultHistoryLimit = 5

    /// A `scalar-unit.time` in seconds.
    static func seconds(_ v: Value?) -> TimeInterval? {
        if case .scalar(let s)? = v, s.base.isFinite { return s.base }
        return nil
    }

    /// The revision's schedules (policies and scheduled components) and triggers. The compiler
    /// has checked their values; one it could not read is left out.
    static func all(in model: CompiledModel) -> [RunSource] {
        var out: [RunSource] = []
        func limit(_ v: Value?) -> Int { min(max(v?.intValue ?? defaultHistoryLimit, 1), 100) }
        for p in model.policies {
            if p.isA(DTEChecks.schedulePolicy) {
                guard let text = (p.property("cron") ?? p.property("schedule"))?.stringValue, let cron = try? CronSchedule(text),
                      let zone = TimeZone(identifier: p.property("timezone")?.stringValue ?? "UTC") else { continue }
                let deadline = seconds(p.property("starting_deadline"))
                out.append(RunSource(key: "schedule/" + p.name, name: p.name, kind: .schedule(cron, zone, deadline: deadline), members: p.members,
                                     concurrency: RunConcurrency(loose: p.property("concurrency")?.stringValue) ?? .forbid,
                                     historyLimit: limit(p.property("history_limit")), suspended: p.property("suspend") == .boolean(true),
                                     zoneName: p.property("timezone")?.stringValue ?? "UTC"))
            } else if p.isA(DTEChecks.triggerPolicy) {
                guard let location = p.property("location")?.stringValue, let folder = DatasetLocation.folder(location) else { continue }
                let watcher = FilesystemWatcher(location: location, folder: folder, pattern: p.property("pattern")?.stringValue ?? "*",
                                                debounce: seconds(p.property("debounce")) ?? 10)
                out.append(RunSource(key: "trigger/" + p.name, name: p.name, kind: .trigger(watcher), members: p.members,
                                     concurrency: RunConcurrency(loose: p.property("concurrency")?.stringValue) ?? .forbid,
                                     historyLimit: limit(p.property("history_limit")), suspended: false))
            }
        }
        for n in model.nodes where n.isA(DTEChecks.componentType) {
            guard let text = n.property("schedule")?.stringValue, let cron = try? CronSchedule(text),
                  let zone = TimeZone(identifier: n.property("timezone")?.stringValue ?? "UTC"),
                  let twin = n.requirements.first(where: { $0.name == "twin" })?.target else { continue }
            let address = ResourceAddress.component(twin: twin, component: n.name).description
            out.append(RunSource(key: "schedule/" + address, name: n.name, kind: .schedule(cron, zone, deadline: nil), members: [n.name],
                                 concurrency: RunConcurrency(loose: n.property("concurrency")?.stringValue) ?? .forbid,
                                 historyLimit: defaultHistoryLimit, suspended: false, zoneName: n.property("timezone")?.stringValue ?? "UTC"))
        }
        return out.sorted { $0.key < $1.key }
    }

    /// The addresses a run starts: the targets' components, then every component `after` one of
    /// them (transitively, in the same twin), sorted.
    func addresses(in desired: DesiredState) -> [String] {
        let named = Set(members)
        var chosen = Set(desired.resources.filter { named.contains($0.spec.component) || named.contains($0.spec.twin) }.map(\.address))
        var grew = true
        while grew {
            grew = false
            for r in desired.resources where !chosen.contains(r.address) {
                if r.spec.after.contains(where: { chosen.contains(ResourceAddress.component(twin: r.spec.twin, component: $0).description) }) {
                    chosen.insert(r.address)
                    grew = true
                }
            }
        }
        return chosen.sorted()
    }

    /// The targets themselves (without their dependents): they get the trigger's file.
    func targetComponents(in model: CompiledModel) -> Set<String> {
        let named = Set(members)
        return Set(model.nodes.filter { n in
            n.isA(DTEChecks.componentType)
                && (named.contains(n.name) || n.requirements.contains { $0.name == "twin" && $0.target.map(named.contains) == true })
        }.map(\.name))
    }
}

/// What a schedule or a trigger remembers between ticks (a cursor in the state).
struct RunCursor: Codable, Sendable, Hashable {
    /// Schedules: ticks up to this time were looked at.
    var evaluatedUntil: Date?
    var lastTick: Date?
    var lastRunAt: Date?
    /// Triggers: the existing items were recorded as seen (the first listing).
    var baselined: Bool?
    /// Triggers: the item of the newest run (its file stays in the targets' environment).
    var lastItem: String?
    var watcherCursor: String?
    /// Ticks or items skipped so far, and why the last one was.
    var skipped: Int?
    var lastSkip: String?

    static func decode(_ s: String?) -> RunCursor {
        guard let s else { return RunCursor() }
        let d = JSONDecoder()
        d.dateDecodingStrategy = .secondsSince1970
        return (try? d.decode(RunCursor.self, from: Data(s.utf8))) ?? RunCursor()
    }

    func encoded() -> String {
        let e = JSONEncoder()
        e.dateEncodingStrategy = .secondsSince1970
        e.outputFormatting = [.sortedKeys]
        return (try? e.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

/// A run the tick starts.
struct DueRun: Sendable {
    var source: RunSource
    var addresses: [String]
    var tick: Date?
    var item: DatasetItem?
}

/// A schedule's or a trigger's line in `dte status`.
public struct RunSourceStatus: Sendable, Codable, Hashable {
    /// `schedule` or `trigger`.
    public var kind: String
    public var name: String
    /// `"*/5 * * * *" (Europe/Berlin)`, `/data/incoming/*.nc`.
    public var spec: String
    public var concurrency: String
    public var targets: [String]
    /// The next ticks (schedules), at most 3.
    public var next: [Date]
    public var lastRunAt: Date?
    /// The tick or the file of the newest run.
    public var lastTick: Date?
    public var lastItem: String?
    /// The newest generation of each target (`dte logs --run N`).
    public var generations: [String: Int]
    public var skipped: Int
    public var lastSkip: String?
    /// Triggers: files waiting to stop changing, and files seen.
    public var waiting: Int?
    public var seen: Int?
    public var suspended: Bool
}

/// The loop's memory across ticks of one process: each trigger's seen items (read from the
/// state once, then kept in step with what this loop records).
final class LoopMemory: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [String: Set<String>] = [:]

    func seen(_ key: String, load: () async throws -> Set<String>) async throws -> Set<String> {
        if let s = lock.withLock({ seen[key] }) { return s }
        let s = try await load()
        lock.withLock { seen[key] = s }
        return s
    }

    func add(_ key: String, _ items: [String]) {
        lock.withLock { seen[key, default: []].formUnion(items) }
    }
}
