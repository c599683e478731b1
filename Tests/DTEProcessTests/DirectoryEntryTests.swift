import DTEProcess
import Foundation
import Testing

/// Names read from `readdir` records in place: every length a file system allows, any bytes.
@Suite("DirectoryEntry")
struct DirectoryEntryTests {
    @Test func everyNameOfAFolderIsReadWhole() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dte-dirent-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // 1 to 255 bytes (the longest name Linux allows), and names that are not ASCII
        var written: Set<String> = []
        for length in [1, 2, 7, 8, 9, 15, 16, 17, 100, 200, 254, 255] {
            written.insert(String(repeating: "n", count: length))
        }
        written.insert("données-été.nc")
        written.insert(String(repeating: "é", count: 127))  // 254 bytes
        for i in 0..<2_000 { written.insert("sample-\(i).nc") }  // many records: several buffers of readdir
        for name in written { #expect(FileManager.default.createFile(atPath: folder + "/" + name, contents: nil), "\(name)") }
        let dir = try #require(opendir(folder))
        defer { closedir(dir) }
        var read: Set<String> = []
        while let entry = readdir(dir) {
            let name = DirectoryEntry.name(entry)
            if name != "." && name != ".." { read.insert(name) }
        }
        #expect(read == written)
    }
}
