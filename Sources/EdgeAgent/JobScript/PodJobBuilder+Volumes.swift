import Foundation
import PodWire

extension PodJobBuilder {
    // MARK: - Volumes

    enum VolumeKind { case configMap, secret, projected, downwardAPI, emptyDir, hostPath }

    struct ResolvedVolume {
        var kind: VolumeKind
        /// Absolute host path of the volume's folder (or the hostPath).
        var source: String
        /// For a hostPath: the allowed folder it must stay in when it is bound.
        var allowedRoot: String? = nil
    }

    func resolveVolumes(_ volumes: [Volume], sources: Sources, downward: DownwardAPI, podDir: String,
                                layout: inout Layout) throws(AgentError) -> [String: ResolvedVolume] {
        var result: [String: ResolvedVolume] = [:]
        for volume in volumes {
            guard PodValidation.isDNSLabel(volume.name) else {
                throw AgentError.invalid("volume name '\(volume.name)' is not a DNS-1123 label")
            }
            guard result[volume.name] == nil else { throw AgentError.invalid("volume name '\(volume.name)' is used twice") }
            if let other = volume.unsupportedTypes.first {
                throw AgentError(.unsupported,
                                 "volume '\(volume.name)' has type '\(other)', which this agent does not support "
                                    + "(supported: configMap, secret, projected, downwardAPI, emptyDir, hostPath)")
            }
            if let source = volume.configMap {
                let folder = "configMaps/\(volume.name)"
                layout.directory(folder, mode: 0o700)
                guard let values = try sources.configMapValues(source.name) else {
                    if source.optional == true { result[volume.name] = ResolvedVolume(kind: .configMap, source: "\(podDir)/\(folder)"); continue }
                    throw AgentError.invalid("configMap '\(source.name)' used by volume '\(volume.name)' was not sent with the pod")
                }
                let mode = try Checked.fileMode(source.defaultMode ?? 0o644, "volume '\(volume.name)' configMap.defaultMode")
                try project(values, items: source.items, into: folder, mode: mode,
                            what: "configMap '\(source.name)'", layout: &layout)
                result[volume.name] = ResolvedVolume(kind: .configMap, source: "\(podDir)/\(folder)")
            } else if let source = volume.secret {
                // Secrets are always written 0600 (owner only); the mode is still checked.
                if let mode = source.defaultMode { _ = try Checked.fileMode(mode, "volume '\(volume.name)' secret.defaultMode") }
                let folder = "secrets/\(volume.name)"
                layout.directory(folder, mode: 0o700)
                guard let values = sources.secrets[source.secretName] else {
                    if source.optional == true { result[volume.name] = ResolvedVolume(kind: .secret, source: "\(podDir)/\(folder)"); continue }
                    throw AgentError.invalid("secret '\(source.secretName)' used by volume '\(volume.name)' was not sent with the pod")
                }
                try project(values, items: source.items, into: folder, mode: 0o600,
                            what: "secret '\(source.secretName)'", layout: &layout)
                result[volume.name] = ResolvedVolume(kind: .secret, source: "\(podDir)/\(folder)")
            } else if let projected = volume.projected {
                if let mode = projected.defaultMode { _ = try Checked.fileMode(mode, "volume '\(volume.name)' projected.defaultMode") }
                let folder = "projectedVolumeMaps/\(volume.name)"
                layout.directory(folder, mode: 0o700)
                if let content = sources.projected[volume.name] {
                    for (path, text) in content.sorted(by: { $0.key < $1.key }) {
                        guard PodValidation.isRelativeFilePath(path) else {
                            throw AgentError.invalid("projected volume '\(volume.name)' has an invalid path '\(path)'")
                        }
                        layout.file("\(folder)/\(path)", Data(text.utf8), mode: 0o600)
                    }
                } else {
                    for source in projected.sources {
                        if let map = source.configMap {
                            guard let values = try sources.configMapValues(map.name) else {
                                if map.optional == true { continue }
                                throw AgentError.invalid("configMap '\(map.name)' used by projected volume '\(volume.name)' was not sent")
                            }
                            try project(values, items: map.items, into: folder, mode: 0o600,
                                        what: "configMap '\(map.name)'", layout: &layout)
                        }
                        if let secret = source.secret {
                            guard let values = sources.secrets[secret.name] else {
                                if secret.optional == true { continue }
                                throw AgentError.invalid("secret '\(secret.name)' used by projected volume '\(volume.name)' was not sent")
                            }
                            try project(values, items: secret.items, into: folder, mode: 0o600,
                                        what: "secret '\(secret.name)'", layout: &layout)
                        }
                        if let fields = source.downwardAPI {
                            try project(fields, downward, into: folder, mode: 0o600, what: "projected volume '\(volume.name)'", layout: &layout)
                        }
                    }
                }
                result[volume.name] = ResolvedVolume(kind: .projected, source: "\(podDir)/\(folder)")
            } else if let fields = volume.downwardAPI {
                let folder = "downwardAPI/\(volume.name)"
                layout.directory(folder, mode: 0o700)
                let mode = try Checked.fileMode(fields.defaultMode ?? 0o644, "volume '\(volume.name)' downwardAPI.defaultMode")
                try project(fields, downward, into: folder, mode: mode, what: "volume '\(volume.name)'", layout: &layout)
                result[volume.name] = ResolvedVolume(kind: .downwardAPI, source: "\(podDir)/\(folder)")
            } else if volume.emptyDir != nil {
                let folder = "emptyDirs/\(volume.name)"
                layout.directory(folder, mode: 0o700)
                result[volume.name] = ResolvedVolume(kind: .emptyDir, source: "\(podDir)/\(folder)")
            } else if let hostPath = volume.hostPath {
                let path = hostPath.path
                guard PodValidation.isContainerPath(path) else {
                    throw AgentError.invalid("hostPath '\(path)' of volume '\(volume.name)' must be absolute without '..'")
                }
                let normalized = Self.normalize(path)
                // The allowed folder it lies in (the deepest, when several match).
                guard let root = Self.allowedRoot(of: normalized, in: configuration.allowedHostPaths) else {
                    throw AgentError(.unsupported,
                                     "hostPath '\(path)' of volume '\(volume.name)' is not under a folder this site allows "
                                        + "(allowed-host-paths: \(configuration.allowedHostPaths.joined(separator: ", ")))")
                }
                result[volume.name] = ResolvedVolume(kind: .hostPath, source: normalized, allowedRoot: root)
            } else {
                throw AgentError(.unsupported, "volume '\(volume.name)' has no type this agent supports "
                                    + "(supported: configMap, secret, projected, downwardAPI, emptyDir, hostPath)")
            }
        }
        return result
    }

    func project(_ values: [String: Data], items: [KeyToPath], into folder: String, mode: Int, what: String,
                         layout: inout Layout) throws(AgentError) {
        if items.isEmpty {
            for (key, bytes) in values.sorted(by: { $0.key < $1.key }) {
                guard PodValidation.isDataKey(key) else { throw AgentError.invalid("\(what) has an invalid key '\(key)'") }
                layout.file("\(folder)/\(key)", bytes, mode: mode)
            }
            return
        }
        for item in items {
            guard PodValidation.isRelativeFilePath(item.path) else {
                throw AgentError.invalid("\(what): item path '\(item.path)' must be relative without '..'")
            }
            guard let bytes = values[item.key] else { throw AgentError.invalid("\(what) has no key '\(item.key)'") }
            var itemMode: Int?
            if let mode = item.mode { itemMode = try Checked.fileMode(mode, "\(what) item '\(item.key)' mode") }
            layout.file("\(folder)/\(item.path)", bytes, mode: mode == 0o600 ? 0o600 : (itemMode ?? mode))
        }
    }

    /// The files of a downward API volume or projection: each item's field or resource, at its path.
    func project(_ fields: DownwardAPIVolumeSource, _ downward: DownwardAPI, into folder: String, mode: Int, what: String,
                 layout: inout Layout) throws(AgentError) {
        var paths = Set<String>()
        for item in fields.items {
            guard PodValidation.isRelativeFilePath(item.path) else {
                throw AgentError.invalid("\(what): downwardAPI item path '\(item.path.prefix(200))' must be relative without '..'")
            }
            guard paths.insert(item.path).inserted else {
                throw AgentError.invalid("\(what): downwardAPI item path '\(item.path.prefix(200))' is used twice")
            }
            let itemWhat = "\(what) item '\(item.path)'"
            let value: String
            switch (item.fieldRef, item.resourceFieldRef) {
            case (let field?, nil): value = try downward.field(field.fieldPath, use: .file, what: itemWhat)
            case (nil, let resource?): value = try downward.resource(resource, reader: nil, what: itemWhat)
            default: throw AgentError.invalid("\(itemWhat): needs exactly one of fieldRef and resourceFieldRef")
            }
            var itemMode: Int?
            if let m = item.mode { itemMode = try Checked.fileMode(m, "\(itemWhat) mode") }
            layout.file("\(folder)/\(item.path)", Data(value.utf8), mode: mode == 0o600 ? 0o600 : (itemMode ?? mode))
        }
    }

    /// The allowed folder a normalized host path lies in (the deepest, when several match); nil: none.
    static func allowedRoot(of normalized: String, in allowed: [String]) -> String? {
        allowed.map(Self.normalize).filter { base in
            normalized == base || normalized.hasPrefix(base == "/" ? "/" : base + "/")
        }.max { $0.count < $1.count }
    }

    static func normalize(_ path: String) -> String {
        let parts = path.split(separator: "/").filter { $0 != "." }
        return "/" + parts.joined(separator: "/")
    }
}
