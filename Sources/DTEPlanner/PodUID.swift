import DTEModel
import Foundation

/// Deterministic pod UIDs: the same lineage, address and generation always give the same UID,
/// so a rerun after a crash adopts the job instead of submitting another.
public enum PodUID {
    /// A UUID-shaped (version 5 and variant bits set) text from two FNV-1a hashes of
    /// `lineage|address|generation`. Recorded in states: the value must never change.
    public static func make(lineage: String, address: String, generation: Int) -> String {
        let key = "\(lineage)|\(address)|\(generation)"
        let a = FNV1a64.hash(key), b = FNV1a64.hash(key, seed: 0x8422_2325_cbf2_9ce4)
        let c = Array(String(format: "%016llx%016llx", a, b))
        return "\(String(c[0..<8]))-\(String(c[8..<12]))-5\(String(c[13..<16]))-a\(String(c[17..<20]))-\(String(c[20..<32]))"
    }
}
