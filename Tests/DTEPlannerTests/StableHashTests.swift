import DTEModel
import DTEPlanner
import Foundation
import XCTest

/// Spec hashes, pod UIDs and plan content hashes are recorded in states and saved plans: their
/// values must never change. The expected values were computed by the code before FNV-1a was
/// shared in `FNV1a64`.
final class StableHashTests: XCTestCase {
    func testPodUIDsOfExistingStatesStayTheSame() {
        let lineage = "0b6c1f8e-2d4a-4c1e-9f3a-7e5d2c1b0a99"
        XCTAssertEqual(PodUID.make(lineage: lineage, address: "twin.demo.hello", generation: 1), "a3af7186-4fbc-5367-af9c-1e37836178ae")
        XCTAssertEqual(PodUID.make(lineage: lineage, address: "twin.demo.hello", generation: 2), "a3af7286-4fbc-551a-af9c-1d37836176fb")
    }

    func testSpecHashOfARecordedSpecStaysTheSame() throws {
        let json = """
            {"twin":"demo","component":"hello","project":"demo","kind":"batch","image":"docker://debian:12","command":["sleep","1"],
             "args":["--x"],"env":{"B":"2","A":"1"},"cpus":2,"memory":33554432,"gpus":0,"walltime":300,"runtime":"bwrap","after":["prep"]}
            """
        let spec = try JSONDecoder().decode(ComponentSpec.self, from: Data(json.utf8))
        XCTAssertEqual(spec.hash, "ab4b58e0ef957f1")
    }

    func testFileContentHashStaysTheSame() {
        // what `sourceHash` feeds it: each file's path, then its bytes, files in sorted order
        var h = FNV1a64()
        h.add("sites/a.yaml")
        h.add(Array("one: 1\n".utf8))
        h.add("templates/b.yaml")
        h.add(Array("two: 2\n".utf8))
        XCTAssertEqual(String(h.value, radix: 16), "23e7abbb8887ce7e")
    }
}
