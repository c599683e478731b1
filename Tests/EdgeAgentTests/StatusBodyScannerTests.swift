import EdgeAgent
import Foundation
import NIOCore
import PodWire
import Testing

/// The `/status` body is read by a byte scanner (only each pod's `metadata.uid`), not by
/// `JSONDecoder`. For valid bodies it must answer what the decoder answers; for malformed or
/// hostile ones a 400 that says what is wrong, never a trap or a hang.
@Suite struct StatusBodyScannerTests {
    static func scan(_ text: String) throws -> [String] {
        try AgentAPI.decodeStatus(ByteBuffer(string: text))
    }

    static func scan(_ bytes: [UInt8]) throws -> [String] {
        try StatusBodyScanner.uids(bytes)
    }

    static func decoder(_ text: String) throws -> [String] {
        try AgentAPI.decodeStatusWithDecoder(ByteBuffer(string: text))
    }

    /// A 400 whose message names `reason`.
    static func expectRefused(_ text: String, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do throws(AgentError) {
            let uids = try AgentAPI.decodeStatus(ByteBuffer(string: text))
            Issue.record("accepted \(text.prefix(80)): \(uids.prefix(3))", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == .badRequest, sourceLocation: sourceLocation)
            #expect(error.status.code == 400, sourceLocation: sourceLocation)
            #expect(error.message.contains("not a JSON list of pods"), sourceLocation: sourceLocation)
            #expect(error.message.contains(reason), "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    /// Valid bodies, each answered as the decoder answers it.
    static let valid: [(String, [String])] = [
        ("", []),
        ("  \n\t ", []),
        ("[]", []),
        (" [ ] ", []),
        (#"[{"metadata":{"uid":"a"}}]"#, ["a"]),
        (#"[{"metadata":{"uid":"a"}},{"metadata":{"uid":"b"}},{"metadata":{"uid":"a"}}]"#, ["a", "b", "a"]),
        // The rest of the pod is skipped, whatever it holds.
        (#"[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"n","labels":{"a":"b"},"uid":"u1","#
            + #""annotations":{"x":"{\"uid\":\"no\"}"},"ownerReferences":[{"uid":"owner"}]},"spec":{"containers":[{"name":"c","#
            + #""args":["--uid","x"],"resources":{"limits":{"cpu":1.5e3,"memory":-0.25E-2}}}],"x":[true,false,null,[[],{}]]},"#
            + #""status":{"phase":"Pending","uid":"not-this"}}]"#, ["u1"]),
        // Keys in any order, and nested objects with their own "uid" and "metadata" keys.
        (#"[{"spec":{"metadata":{"uid":"inner"}},"metadata":{"ownerReferences":[{"uid":"o"}],"uid":"u2"}}]"#, ["u2"]),
        // No metadata, or null, or no uid, or a null uid: "".
        (#"[{}]"#, [""]),
        (#"[{"metadata":null}]"#, [""]),
        (#"[{"metadata":{}}]"#, [""]),
        (#"[{"metadata":{"uid":null}}]"#, [""]),
        (#"[{"metadata":{"uid":""}}]"#, [""]),
        // Escapes, in values and keys.
        (#"[{"metadata":{"uid":"a\"b\\c\/d\b\f\n\r\t"}}]"#, ["a\"b\\c/d\u{8}\u{c}\n\r\t"]),
        (#"[{"metadata":{"uid":"\u00e9\ud83d\ude00\u0041"}}]"#, ["é😀A"]),
        (#"[{"metad\u0061ta":{"\u0075id":"escaped-keys"}}]"#, ["escaped-keys"]),
        ("[{\"metadata\":{\"uid\":\"é😀 raw UTF-8\"}}]", ["é😀 raw UTF-8"]),
        // Keys given twice: the first counts.
        (#"[{"metadata":{"uid":"first","uid":"second"}}]"#, ["first"]),
        (#"[{"metadata":{"uid":"first"},"metadata":{"uid":"second"}}]"#, ["first"]),
        (#"[{"metadata":{"uid":"first"},"metadata":null}]"#, ["first"]),
        // Whitespace everywhere it may be.
        (" \r\n[ { \"metadata\" : { \"uid\" : \"w\" } } , { } ] \n", ["w", ""]),
        // Numbers of every form, strings with unpaired surrogates where they are skipped.
        (#"[{"n":[0,-0,1,-12,3.25,1e9,1E+9,1e-9,-0.5e10],"s":"\ud800","metadata":{"uid":"n"}}]"#, ["n"]),
    ]

    @Test func validBodiesAreAnsweredAsTheDecoderAnswersThem() throws {
        for (body, expected) in Self.valid {
            #expect(try Self.scan(body) == expected, "\(body)")
            #expect(try Self.decoder(body) == expected, "the decoder on \(body)")
        }
    }

    /// Whole pods as interLink sends them (encoded by the wire types), and a list as the
    /// benchmark sends it: the same UIDs as the decoder.
    @Test func encodedPodsGiveTheDecodersUIDs() throws {
        let pods = (0..<50).map { index in
            Fixtures.pod("pod-\(index)", containers: [Fixtures.container("main", ["sh", "-c", "echo \"\(index)\" \\ done"])]).pod
        }
        let body = String(decoding: try JSONEncoder().encode(pods), as: UTF8.self)
        let uids = try Self.scan(body)
        #expect(uids == pods.map(\.metadata.uid))
        #expect(try Self.decoder(body) == uids)
        let pretty = JSONEncoder()
        pretty.outputFormatting = [.prettyPrinted, .sortedKeys]
        #expect(try Self.scan(String(decoding: try pretty.encode(pods), as: UTF8.self)) == uids)

        let bench = "[" + (0..<1000).map { #"{"metadata":{"uid":"uid-\#($0)","name":"","namespace":"bench"}}"# }.joined(separator: ",") + "]"
        #expect(try Self.scan(bench) == (0..<1000).map { "uid-\($0)" })
        #expect(try Self.decoder(bench) == (0..<1000).map { "uid-\($0)" })
    }

    /// Random valid documents (objects, lists, strings with escapes, numbers, literals) as
    /// pods' other fields: the scanner and the decoder agree on every one.
    @Test func randomDocumentsAgreeWithTheDecoder() throws {
        var random = SystemRandomNumberGenerator()
        func value(_ depth: Int) -> Any {
            switch Int.random(in: 0..<(depth > 4 ? 4 : 7), using: &random) {
            case 0: return Int.random(in: -1_000_000...1_000_000, using: &random)
            case 1: return Double.random(in: -1e6...1e6, using: &random)
            case 2: return ["a\"b", "\\", "é😀", "\n\t", "/x/", "\u{1}", "", "uid"].randomElement(using: &random)!
            case 3: return [true, false, NSNull()].randomElement(using: &random)!
            case 4, 5:
                return Dictionary(uniqueKeysWithValues: (0..<Int.random(in: 0...4, using: &random)).map {
                    (["uid", "metadata", "k\($0)", "\u{e9}\($0)"].randomElement(using: &random)! + "\($0)", value(depth + 1))
                })
            default: return (0..<Int.random(in: 0...4, using: &random)).map { _ in value(depth + 1) }
            }
        }
        for round in 0..<200 {
            let pods: [Any] = (0..<Int.random(in: 0...5, using: &random)).map { index in
                var pod: [String: Any] = ["spec": value(0), "status": value(0)]
                switch index % 4 {
                case 0: pod["metadata"] = ["uid": "uid-\(round)-\(index)", "labels": value(0)]
                case 1: pod["metadata"] = ["name": "no-uid", "x": value(0)]
                case 2: pod["metadata"] = NSNull()
                default: break
                }
                return pod
            }
            let body = String(decoding: try JSONSerialization.data(withJSONObject: pods), as: UTF8.self)
            #expect(try Self.scan(body) == Self.decoder(body), "\(body)")
        }
    }

    @Test func malformedBodiesAreA400NamingTheFault() {
        Self.expectRefused("{}", "expected a JSON list of pods")
        Self.expectRefused("null", "expected a JSON list of pods")
        Self.expectRefused(#""uid""#, "expected a JSON list of pods")
        Self.expectRefused("[null]", "pod [0] is not a JSON object")
        Self.expectRefused(#"[{"metadata":{"uid":"a"}}, 5]"#, "pod [1] is not a JSON object")
        Self.expectRefused(#"[{"metadata":5}]"#, "metadata of pod [0] is not a JSON object")
        Self.expectRefused(#"[{"metadata":"x"}]"#, "metadata of pod [0] is not a JSON object")
        Self.expectRefused(#"[{"metadata":{"uid":5}}]"#, "metadata.uid of pod [0] is not a string")
        Self.expectRefused(#"[{"metadata":{"uid":["a"]}}]"#, "metadata.uid of pod [0] is not a string")
        Self.expectRefused(#"[{"metadata":{"uid":"a"}}] x"#, "unexpected bytes after the list")
        Self.expectRefused(#"[{"metadata":{"uid":"a"}}][]"#, "unexpected bytes after the list")
        Self.expectRefused(#"[{"metadata":{"uid":"a"}},]"#, "pod [1] is not a JSON object")
        Self.expectRefused(#"[{"metadata":{"uid":"a"},}]"#, "expected a key")
        Self.expectRefused(#"[{"x":[1,]}]"#, "expected a JSON value")
        Self.expectRefused(#"[{"x":01}]"#, "malformed number")
        Self.expectRefused(#"[{"x":1.}]"#, "malformed number")
        Self.expectRefused(#"[{"x":-}]"#, "malformed number")
        Self.expectRefused(#"[{"x":1e}]"#, "malformed number")
        Self.expectRefused(#"[{"x":+1}]"#, "expected a JSON value")
        Self.expectRefused(#"[{"x":tru}]"#, "expected a JSON value")
        Self.expectRefused(#"[{"x":nul}]"#, "expected a JSON value")
        Self.expectRefused(#"[{"x":"\x"}]"#, "invalid escape")
        Self.expectRefused(#"[{"x":"\u12G4"}]"#, #"invalid \u escape"#)
        Self.expectRefused("[{\"x\":\"a\u{1}b\"}]", "a control character in a string")
        Self.expectRefused("[{\"x\":\"a\nb\"}]", "a control character in a string")
        Self.expectRefused(#"[{"metadata":{"uid":"\ud800"}}]"#, "unpaired surrogate")
        Self.expectRefused(#"[{"metadata":{"uid":"\udc00x"}}]"#, "unpaired surrogate")
        Self.expectRefused(#"[{"metadata":{"uid":"\ud800\u0041"}}]"#, "unpaired surrogate")
        Self.expectRefused(#"[{"x" 1}]"#, "expected ':' after a key")
        Self.expectRefused(#"[{"metadata" {"uid":"a"}}]"#, "expected ':' after a key")
        Self.expectRefused(#"[{1:2}]"#, "expected a key")
        Self.expectRefused(#"[{"x":1 "y":2}]"#, "expected ',' or '}'")
        Self.expectRefused(#"[{"x":[1 2]}]"#, "expected ',' or ']' in a list")
        Self.expectRefused(#"[{"x":[1}]}]"#, "expected ',' or ']' in a list")
        Self.expectRefused(#"[{"x":{"a":1]}]"#, "expected ',' or '}' in an object")
        Self.expectRefused(#"[{"metadata":{"uid":"a"}} {"metadata":{}}]"#, "expected ',' or ']' after pod [0]")
    }

    @Test func invalidUTF8InAUIDIsRefused() throws {
        var bytes = Array(#"[{"metadata":{"uid":"a"#.utf8)
        bytes.append(0xFF)
        bytes += Array(#""}}]"#.utf8)
        #expect(throws: AgentError.self) { try Self.scan(bytes) }
        do throws(AgentError) { _ = try StatusBodyScanner.uids(bytes) } catch { #expect(error.message.contains("not valid UTF-8")) }
        // Where it is only skipped (not a key or UID), it is not read as text.
        var skipped = Array(#"[{"x":"a"#.utf8)
        skipped.append(0xFE)
        skipped += Array(#"","metadata":{"uid":"ok"}}]"#.utf8)
        #expect(try Self.scan(skipped) == ["ok"])
    }

    /// Every prefix of a valid body (a body cut anywhere) is refused, never accepted nor a trap.
    @Test func truncatedBodiesAreRefusedAtEveryCut() throws {
        let body = #"[{"apiVersion":"v1","metadata":{"name":"p","uid":"u\u00e9\ud83d\ude00\"","labels":{"a":"b"}},"#
            + #""spec":{"x":[1,-2.5e3,true,false,null,{"y":"z\\"}],"e":{},"l":[]}},{"metadata":null}]"#
        #expect(try Self.scan(body) == ["ué😀\"", ""])
        let bytes = Array(body.utf8)
        for cut in 1..<bytes.count {
            #expect(throws: AgentError.self, "cut at \(cut)") { try Self.scan(Array(bytes[..<cut])) }
        }
    }

    /// Nesting is bounded without recursion: up to the decoder's own limit it is read, past it
    /// a 400, and a body of a million brackets is refused at once (no stack overflow).
    @Test func deepNestingIsBounded() throws {
        func nested(_ depth: Int) -> String {
            // The outer list and the pod are two levels; `x` holds the rest.
            #"[{"metadata":{"uid":"deep"},"x":"# + String(repeating: "[", count: depth - 2)
                + String(repeating: "]", count: depth - 2) + "}]"
        }
        let max = StatusBodyScanner.maxDepth
        #expect(try Self.scan(nested(max)) == ["deep"])
        #expect(try Self.decoder(nested(max - 1)) == ["deep"])
        Self.expectRefused(nested(max + 1), "nested deeper than \(max)")
        Self.expectRefused(#"[{"x":"# + String(repeating: "[", count: 1_000_000), "nested deeper than \(max)")
        Self.expectRefused("[" + String(repeating: #"{"a":"#, count: 100_000), "nested deeper than \(max)")
        // Deep inside metadata too.
        Self.expectRefused(#"[{"metadata":{"labels":"# + String(repeating: "[", count: max) + "]}}]", "nested deeper than \(max)")
    }

    /// Large bodies: many pods, long strings, long numbers, a long UID; each read in one pass.
    @Test func hugeBodiesAreReadInOnePass() throws {
        let count = 100_000
        let many = "[" + (0..<count).map { #"{"metadata":{"uid":"\#($0)"}}"# }.joined(separator: ",") + "]"
        let clock = ContinuousClock()
        let started = clock.now
        let uids = try Self.scan(many)
        #expect(uids.count == count && uids.last == "\(count - 1)")
        #expect(clock.now - started < .seconds(10))

        let long = String(repeating: "x", count: 8 << 20)
        #expect(try Self.scan(#"[{"big":""# + long + #"","metadata":{"uid":"after-a-long-string"}}]"#) == ["after-a-long-string"])
        #expect(try Self.scan(#"[{"metadata":{"uid":""# + long + #""}}]"#) == [long])
        let escapes = String(repeating: #"\n\u0041"#, count: 1 << 20)
        #expect(try Self.scan(#"[{"x":""# + escapes + #"","metadata":{"uid":"e"}}]"#) == ["e"])
        #expect(try Self.scan(#"[{"x":"# + String(repeating: "9", count: 1 << 20) + #","metadata":{"uid":"n"}}]"#) == ["n"])
        // An unclosed string to the end of a large body.
        Self.expectRefused(#"[{"x":""# + long, "a string is not closed")
        Self.expectRefused("[" + String(repeating: " ", count: 4 << 20), "the list of pods is not closed")
    }

    /// Random bytes and random damage to valid bodies: every answer is a list or a 400.
    @Test func randomDamageIsRefusedOrRead() {
        var random = SystemRandomNumberGenerator()
        let base = Array(#"[{"metadata":{"uid":"a\u0041","name":"n"},"spec":{"x":[1,2.5,{"k":"v\""}],"b":true}},{}]"#.utf8)
        let alphabet = Array(#"[]{}",:\u0123456789.eE+-tfnrl \#n"#.utf8) + [0x00, 0xFF, 0x80]
        for _ in 0..<5_000 {
            var bytes = base
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let index = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[index] = alphabet.randomElement(using: &random)!
                case 1: bytes.remove(at: index)
                default: bytes.insert(alphabet.randomElement(using: &random)!, at: index)
                }
                if bytes.isEmpty { bytes = [UInt8(ascii: "[")] }
            }
            do throws(AgentError) { _ = try StatusBodyScanner.uids(bytes) } catch { #expect(error.code == .badRequest) }
        }
        for _ in 0..<2_000 {
            let bytes = (0..<Int.random(in: 0...64, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            do throws(AgentError) { _ = try StatusBodyScanner.uids(bytes) } catch { #expect(error.code == .badRequest) }
        }
    }
}
