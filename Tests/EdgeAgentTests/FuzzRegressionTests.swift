import AgentFuzzing
import Foundation
import Testing

/// Every seed of the fuzz corpus and every input the fuzzer once crashed on runs through the
/// fuzz targets again: the test process itself would crash if one of them still trapped.
@Suite struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func inputs(_ folder: String) -> [URL] {
        let dir = root.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { dir.appendingPathComponent($0) }
    }

    @Test func theSeedCorpusCoversEveryTarget() throws {
        let seeds = Self.inputs("corpus")
        let selectors = Set(try seeds.compactMap { try Data(contentsOf: $0).first.map { $0 % 8 } })
        #expect(selectors == Set(0..<8))
    }

    @Test(arguments: inputs("corpus") + inputs("regressions"))
    func runsWithoutATrap(_ file: URL) throws {
        let data = try Data(contentsOf: file)
        let started = Date()
        FuzzTargets.run(data)
        #expect(Date().timeIntervalSince(started) < 10, "\(file.lastPathComponent) took too long")
    }
}
