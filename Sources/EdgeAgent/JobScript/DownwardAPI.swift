import Foundation
import PodWire

/// Kubernetes' downward API: what a container may read of its own pod, in its environment
/// (`valueFrom.fieldRef`, `valueFrom.resourceFieldRef`) and as files (`downwardAPI` volumes and
/// projections). The values are data: they go into the env file and into files of the pod
/// folder, never into a script.
///
/// Field paths, as the kubelet serves them:
/// - `metadata.name`, `metadata.namespace`, `metadata.uid`;
/// - `metadata.labels`, `metadata.annotations`: every entry as `key="value"` lines, sorted by
///   key, the value quoted as Go's `%q` does (the kubelet's format);
/// - `metadata.labels['KEY']`, `metadata.annotations['KEY']`: one value (empty when absent);
/// - env only: `spec.nodeName`, `spec.serviceAccountName`, `status.podIP(s)`, `status.hostIP(s)`.
///   A job's node is known only once it runs: the IPs are interLink's `interlink.eu/pod-ip`
///   annotation when the pod has it, else empty.
///
/// Resources (`limits.cpu`, `requests.cpu`, `limits.memory`, `requests.memory`), divided by the
/// divisor and rounded up, as the kubelet does; a container without a limit reads what its job
/// is given (the kubelet reads the node's allocatable), one without a request reads its limit.
struct DownwardAPI {
    let pod: Pod
    /// The pod's IP as interLink gives it, if it does.
    let podIP: String?
    /// What the Slurm job is given: the limit of a container that sets none.
    let allocatedCPUs: Int
    let allocatedMemoryMiB: Int?

    /// Where a field is read: the kubelet allows the whole label and annotation maps only in
    /// files, and spec/status fields only in the environment.
    enum Use { case environment, file }

    static let environmentFields = ["metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels['KEY']",
                                    "metadata.annotations['KEY']", "spec.nodeName", "spec.serviceAccountName",
                                    "status.podIP", "status.podIPs", "status.hostIP", "status.hostIPs"]
    static let fileFields = ["metadata.name", "metadata.namespace", "metadata.uid", "metadata.labels",
                             "metadata.annotations", "metadata.labels['KEY']", "metadata.annotations['KEY']"]
    static let resources = ["limits.cpu", "requests.cpu", "limits.memory", "requests.memory"]

    /// The value of `path`; `what` names the reader in errors.
    func field(_ path: String, use: Use, what: String) throws(AgentError) -> String {
        let meta = pod.metadata
        switch path {
        case "metadata.name": return meta.name
        case "metadata.namespace": return meta.namespace
        case "metadata.uid": return meta.uid
        // The whole maps are the kubelet's file format; in the environment the API server refuses
        // them, yet interLink's own test set (080) asks for them there: read the same way.
        case "metadata.labels": return Self.format(meta.labels)
        case "metadata.annotations": return Self.format(meta.annotations)
        default: break
        }
        if let (map, key) = Self.mapEntry(path) {
            guard PodValidation.isLabelKey(key) else {
                throw AgentError.invalid("\(what): fieldRef '\(path.prefix(200))': '\(key.prefix(100))' is not a label or annotation key")
            }
            return (map == "labels" ? meta.labels : meta.annotations)[key] ?? ""
        }
        if use == .environment {
            switch path {
            case "spec.nodeName": return pod.spec.nodeName ?? ""
            case "spec.serviceAccountName": return pod.spec.serviceAccountName ?? ""
            case "status.podIP", "status.podIPs", "status.hostIP", "status.hostIPs": return podIP ?? ""
            default: break
            }
        }
        let supported = use == .environment ? Self.environmentFields : Self.fileFields
        throw AgentError(.unsupported, "\(what): fieldRef '\(path.prefix(200))' is not a field the downward API serves "
                            + "\(use == .environment ? "in env" : "in files") (supported: \(supported.joined(separator: ", ")))")
    }

    /// `metadata.labels['KEY']` → ("labels", KEY); nil for any other path.
    static func mapEntry(_ path: String) -> (map: String, key: String)? {
        for map in ["labels", "annotations"] {
            let prefix = "metadata.\(map)['"
            if path.hasPrefix(prefix), path.hasSuffix("']"), path.utf8.count >= prefix.utf8.count + 2 {
                return (map, String(path.dropFirst(prefix.count).dropLast(2)))
            }
        }
        return nil
    }

    /// A container's resource, divided and rounded up; `container` is the reading container
    /// (env) and `containerName` picks another one (required in files).
    func resource(_ selector: ResourceFieldSelector, reader: Container?, what: String) throws(AgentError) -> String {
        let target: Container
        if let name = selector.containerName, !name.isEmpty {
            guard let found = (pod.spec.initContainers + pod.spec.containers).first(where: { $0.name == name }) else {
                throw AgentError.invalid("\(what): resourceFieldRef names container '\(name.prefix(100))', which the pod does not have")
            }
            target = found
        } else if let reader {
            target = reader
        } else {
            throw AgentError.invalid("\(what): resourceFieldRef needs containerName in a volume")
        }
        let parts = selector.resource.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2, parts[0] == "limits" || parts[0] == "requests", parts[1] == "cpu" || parts[1] == "memory" else {
            throw AgentError(.unsupported, "\(what): resourceFieldRef '\(selector.resource.prefix(100))' is not supported "
                                + "(supported: \(Self.resources.joined(separator: ", ")))")
        }
        let divisorText = selector.divisor ?? "1"
        guard let divisor = Quantity.parse(divisorText), divisor > 0 else {
            throw AgentError.invalid("\(what): resourceFieldRef divisor '\(divisorText.prefix(64))' is not a positive quantity")
        }
        let resources = target.resources
        func parsed(_ text: String?) throws(AgentError) -> Double? {
            guard let text else { return nil }
            guard let value = Quantity.parse(text) else {
                throw AgentError.invalid("container '\(target.name)': resource \(parts[1]) '\(text.prefix(64))' is not a quantity")
            }
            return value
        }
        let allocated: Double? = parts[1] == "cpu" ? Double(allocatedCPUs) : allocatedMemoryMiB.map { Double($0) * 1_048_576 }
        let limit = try parsed(resources.limits[parts[1]]) ?? allocated
        let value = parts[0] == "limits" ? limit : try parsed(resources.requests[parts[1]]) ?? limit
        guard let value else {
            throw AgentError.invalid("\(what): resourceFieldRef '\(selector.resource)': the container sets no \(parts[1]) and the site no default")
        }
        let quotient = (value / divisor).rounded(.up)
        // a quantity is at most 64 characters: still, never trap on a huge quotient
        guard quotient.isFinite, quotient < 9.0e15 else {
            throw AgentError.invalid("\(what): resourceFieldRef '\(selector.resource)' divided by '\(divisorText.prefix(64))' is out of range")
        }
        return String(Int64(quotient))
    }

    /// The kubelet's file format of a map: `key="value"` lines sorted by key, no final newline.
    static func format(_ map: [String: String]) -> String {
        map.sorted { $0.key < $1.key }.map { "\($0.key)=\(goQuoted($0.value))" }.joined(separator: "\n")
    }

    /// A string quoted as Go's `strconv.Quote` (`%q`) does: `"` and `\` escaped, control
    /// characters as `\n`, `\t`, … or `\xNN` / `\u00NN`; printable text as it is.
    static func goQuoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{0B}": out += "\\v"
            default:
                let v = scalar.value
                if v < 0x20 || v == 0x7F {
                    out += "\\x" + hex(v, width: 2)
                } else if (0x80...0x9F).contains(v) || v == 0xAD || (0x2028...0x2029).contains(v) || v == 0xFEFF {
                    out += "\\u" + hex(v, width: 4)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private static func hex(_ v: UInt32, width: Int) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
