/// Where a managed resource lives in a repository: `twin.<twin>.<component>` or `site.<site>`.
/// The one place that builds and reads the textual form (state rows, plans and the CLI use it).
public enum ResourceAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// A component of a twin; on the wire a pod named `component` in namespace `twin`.
    case component(twin: String, component: String)
    case site(String)

    /// Reads `twin.<twin>.<component>` or `site.<site>`; nil for anything else (an empty part,
    /// a missing or extra part, another prefix).
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        switch parts.first {
        case "twin" where parts.count == 3 && !parts[1].isEmpty && !parts[2].isEmpty:
            self = .component(twin: parts[1], component: parts[2])
        case "site" where parts.count == 2 && !parts[1].isEmpty:
            self = .site(parts[1])
        default:
            return nil
        }
    }

    public var description: String {
        switch self {
        case .component(let twin, let component): return "twin.\(twin).\(component)"
        case .site(let name): return "site.\(name)"
        }
    }

    /// The twin a component belongs to (nil for a site).
    public var twin: String? {
        if case .component(let twin, _) = self { return twin }
        return nil
    }

    /// The component's name, or the site's.
    public var name: String {
        switch self {
        case .component(_, let component): return component
        case .site(let name): return name
        }
    }

    /// Another component of the same twin (what `after` names).
    public func sibling(_ component: String) -> ResourceAddress? {
        guard case .component(let twin, _) = self else { return nil }
        return .component(twin: twin, component: component)
    }

    public static func < (a: ResourceAddress, b: ResourceAddress) -> Bool { a.description < b.description }
}

/// The phase a resource's pod was last recorded in (the `status` column).
public enum ResourcePhase: String, Sendable, Codable, CaseIterable, Hashable {
    /// Accepted by the site; not reported on since.
    case submitted
    case pending, running, succeeded, failed, unknown

    /// Whether the job ended (successfully or not).
    public var isFinished: Bool { self == .succeeded || self == .failed }
}

extension ResourceRecord {
    /// The recorded status as a phase (nil when none is recorded or it is not one DTE writes).
    public var phase: ResourcePhase? {
        get { status.flatMap(ResourcePhase.init(rawValue:)) }
        set { status = newValue?.rawValue }
    }

    /// The address, typed (nil only for a row that bypassed the schema's check).
    public var typedAddress: ResourceAddress? { ResourceAddress(address) }
}

/// What one operation recorded in the history ended as.
public enum OperationResult: String, Sendable, Codable, Hashable {
    case succeeded, failed
    /// A blocking hook stopped it before any site was touched.
    case blocked
    /// The state lock was lost while it ran; it stopped there.
    case lockLost = "lock-lost"
}
