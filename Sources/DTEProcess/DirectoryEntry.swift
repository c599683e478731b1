import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading what `readdir` returns without reading past it.
public enum DirectoryEntry {
    /// The name of the entry `readdir` returned. Read in place, within the entry's own record:
    /// `d_name` is declared 256 bytes long but a record holds only its name (`d_reclen`), so
    /// copying the declared field reads past the last record of the directory buffer (a crash
    /// when that buffer ends a mapping).
    public static func name(_ entry: UnsafeMutablePointer<dirent>) -> String {
        let raw = UnsafeRawPointer(entry)
        let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name) ?? 0
        #if os(Linux)
        let record = Int(raw.load(fromByteOffset: MemoryLayout<dirent>.offset(of: \dirent.d_reclen) ?? 0, as: UInt16.self))
        let room = max(0, min(record, MemoryLayout<dirent>.size) - offset)
        #else
        let room = MemoryLayout<dirent>.size - offset
        #endif
        let start = (raw + offset).assumingMemoryBound(to: CChar.self)
        let length = strnlen(start, room)
        return String(decoding: UnsafeRawBufferPointer(start: raw + offset, count: length), as: UTF8.self)
    }
}
