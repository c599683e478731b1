import Foundation

/// The 64-bit FNV-1a hash: small, fast and stable across runs and platforms (Swift's `Hasher`
/// is seeded per process, so it cannot name anything that must stay the same tomorrow).
///
/// Spec hashes, pod UIDs and the content hash of saved plans are built on it; their values are
/// recorded in states and plans, so the algorithm must never change.
public struct FNV1a64: Sendable, Hashable {
    /// The standard offset basis.
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01b3

    public private(set) var value: UInt64

    /// Starts from the standard offset basis, or from another seed (for a second, independent hash).
    public init(seed: UInt64 = FNV1a64.offsetBasis) { value = seed }

    /// Mixes in bytes (contiguous ones, such as `Data` or a native string's UTF-8, are read
    /// in place, without an iterator per byte).
    public mutating func add<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if let done: Void = bytes.withContiguousStorageIfAvailable({ add(UnsafeRawBufferPointer($0)) }) { return done }
        for b in bytes { value = (value ^ UInt64(b)) &* Self.prime }
    }

    /// Mixes in raw bytes.
    public mutating func add(_ buffer: UnsafeRawBufferPointer) {
        var v = value
        for b in buffer { v = (v ^ UInt64(b)) &* Self.prime }
        value = v
    }

    /// Mixes in a file's or a buffer's bytes.
    public mutating func add(_ data: Data) {
        data.withUnsafeBytes { add($0) }
    }

    /// Mixes in a string's UTF-8 bytes.
    public mutating func add(_ text: String) {
        var text = text
        text.withUTF8 { add(UnsafeRawBufferPointer($0)) }
    }

    /// The hash of a string's UTF-8 bytes.
    public static func hash(_ text: String, seed: UInt64 = FNV1a64.offsetBasis) -> UInt64 {
        var h = FNV1a64(seed: seed)
        h.add(text)
        return h.value
    }
}
