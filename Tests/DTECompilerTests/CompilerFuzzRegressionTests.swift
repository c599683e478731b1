import CompilerFuzzing
import Foundation
import Testing

/// Every seed of the compiler's fuzz corpus (the shipped templates and the negative corpus) and
/// every input the fuzzer once crashed or stalled on runs through the compiler again: the test
/// process itself would crash if one of them still trapped.
@Suite struct CompilerFuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/compiler")

    static func inputs(_ folder: String) -> [URL] {
        let dir = root.appendingPathComponent(folder)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { dir.appendingPathComponent($0) }
    }

    @Test func theSeedCorpusHoldsTheShippedTemplatesAndTheNegativeCorpus() throws {
        let seeds = try Self.inputs("corpus").map { try Data(contentsOf: $0) }
        #expect(seeds.count >= 100)
        // both options: loose and --strict
        #expect(Set(seeds.compactMap { $0.first.map { $0 % 2 } }) == [0, 1])
        #expect(seeds.contains { String(decoding: $0.dropFirst(), as: UTF8.self).contains("dte.nodes.DigitalTwin") })
    }

    @Test(arguments: inputs("corpus") + inputs("regressions"))
    func runsWithoutATrap(_ file: URL) throws {
        let data = try Data(contentsOf: file)
        let started = Date()
        CompilerFuzzTargets.run(data)
        #expect(Date().timeIntervalSince(started) < 10, "\(file.lastPathComponent) took too long")
    }
}
