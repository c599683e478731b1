import Foundation
import NIOCore

/// Reads the UIDs out of a `/status` body (a JSON list of pods) without decoding the pods:
/// one pass over the bytes, `metadata.uid` of each pod kept, everything else checked for
/// well-formedness and skipped. The body is the caller's: every step is bounded (the body's
/// size, which `AgentAPI.maxBodyBytes` caps; nesting at `maxDepth`, kept on a stack of its own,
/// no recursion) and any malformed input is an `AgentError(.badRequest)` naming what was
/// wrong and where, never a trap.
///
/// For valid JSON the answer is what decoding `[StatusQuery]` gives: a pod without
/// `metadata`, or with `metadata` or `uid` null, has the UID ""; `metadata` other than an
/// object or null, a `uid` other than a string or null, or a list element other than an
/// object, are refused; of keys given twice the first counts (as Foundation's decoder does).
/// It is stricter than that decoder on invalid JSON (trailing commas, `01`, `"\x"`: 400).
package struct StatusBodyScanner {
    /// The deepest nesting accepted (lists and objects, the outer list included): Foundation's
    /// decoder's own limit.
    package static let maxDepth = 512

    /// The UIDs of the listed pods, in order; none for an empty list or a body of whitespace only.
    package static func uids(_ buffer: ByteBuffer) throws(AgentError) -> [String] {
        let result: Result<[String], AgentError> = buffer.withUnsafeReadableBytes { bytes in
            var scanner = StatusBodyScanner(bytes)
            do throws(AgentError) { return .success(try scanner.list()) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// The UIDs of the listed pods (the same, from bytes).
    package static func uids(_ bytes: [UInt8]) throws(AgentError) -> [String] {
        try uids(ByteBuffer(bytes: bytes))
    }

    private let bytes: UnsafeRawBufferPointer
    private var at = 0
    /// The closing byte of each open list or object, innermost last.
    private var open: [UInt8] = []
    /// A decoded string's bytes (reused).
    private var scratch: [UInt8] = []

    private init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    // MARK: - The body

    private mutating func list() throws(AgentError) -> [String] {
        skipSpace()
        if at == bytes.count { return [] }   // whitespace only: the ping
        guard peek == UInt8(ascii: "[") else { throw fail("expected a JSON list of pods") }
        try enter(UInt8(ascii: "]"))
        var uids: [String] = []
        skipSpace()
        if peek == UInt8(ascii: "]") {
            at += 1
            open.removeLast()
        } else {
            while true {
                skipSpace()
                uids.append(try pod(index: uids.count))
                skipSpace()
                guard let next = take() else { throw fail("the list of pods is not closed") }
                if next == UInt8(ascii: "]") { break }
                guard next == UInt8(ascii: ",") else { at -= 1; throw fail("expected ',' or ']' after pod [\(uids.count - 1)]") }
            }
            open.removeLast()
        }
        skipSpace()
        guard at == bytes.count else { throw fail("unexpected bytes after the list of pods") }
        return uids
    }

    /// One pod: an object; its UID, or "" when it has no `metadata` or that is null.
    private mutating func pod(index: Int) throws(AgentError) -> String {
        guard peek == UInt8(ascii: "{") else {
            throw fail(at == bytes.count ? "the list of pods is not closed" : "pod [\(index)] is not a JSON object")
        }
        var uid: String?
        var seenMetadata = false
        try members { scanner, key throws(AgentError) in
            guard !seenMetadata, Self.equal(key, "metadata") else { try scanner.skipValue(); return }
            seenMetadata = true
            if scanner.peek == UInt8(ascii: "n") { try scanner.literal("null"); return }
            guard scanner.peek == UInt8(ascii: "{") else { throw scanner.fail("metadata of pod [\(index)] is not a JSON object") }
            uid = try scanner.metadata(index: index)
        }
        return uid ?? ""
    }

    /// A pod's `metadata`: its `uid` (nil when absent or null).
    private mutating func metadata(index: Int) throws(AgentError) -> String? {
        var uid: String?
        var seenUID = false
        try members { scanner, key throws(AgentError) in
            guard !seenUID, Self.equal(key, "uid") else { try scanner.skipValue(); return }
            seenUID = true
            switch scanner.peek {
            case UInt8(ascii: "n"): try scanner.literal("null")
            case UInt8(ascii: "\""): uid = try scanner.decodedString()
            default: throw scanner.fail("metadata.uid of pod [\(index)] is not a string")
            }
        }
        return uid
    }

    /// The members of the object that starts here; `body` is given each key (decoded) with the
    /// scanner at its value, and must consume the value.
    private mutating func members(_ body: (inout StatusBodyScanner, [UInt8]) throws(AgentError) -> Void) throws(AgentError) {
        try enter(UInt8(ascii: "}"))
        skipSpace()
        if peek == UInt8(ascii: "}") {
            at += 1
            open.removeLast()
            return
        }
        while true {
            skipSpace()
            guard peek == UInt8(ascii: "\"") else { throw fail(at == bytes.count ? "an object is not closed" : "expected a key (a string)") }
            try unescape()
            let key = scratch
            skipSpace()
            guard take() == UInt8(ascii: ":") else { at -= 1; throw fail("expected ':' after a key") }
            skipSpace()
            try body(&self, key)
            skipSpace()
            guard let next = take() else { throw fail("an object is not closed") }
            if next == UInt8(ascii: "}") { break }
            guard next == UInt8(ascii: ",") else { at -= 1; throw fail("expected ',' or '}' in an object") }
        }
        open.removeLast()
    }

    // MARK: - Skipping values

    /// Checks and skips the value that starts here, however deep (within `maxDepth`), without
    /// recursion: the open lists and objects are kept in `open`.
    private mutating func skipValue() throws(AgentError) {
        let base = open.count
        while true {
            // A value.
            skipSpace()
            guard let first = peek else { throw fail("a value is missing") }
            var isContainer = false
            switch first {
            case UInt8(ascii: "{"):
                try enter(UInt8(ascii: "}"))
                skipSpace()
                if peek == UInt8(ascii: "}") { at += 1; open.removeLast() } else {
                    try key()
                    isContainer = true
                }
            case UInt8(ascii: "["):
                try enter(UInt8(ascii: "]"))
                skipSpace()
                if peek == UInt8(ascii: "]") { at += 1; open.removeLast() } else { isContainer = true }
            case UInt8(ascii: "\""): try skipString()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            default: throw fail("expected a JSON value")
            }
            if isContainer { continue }   // its first element or member's value is next
            // After a value: close what ends here, then the next element or member, or done.
            while true {
                if open.count == base { return }
                skipSpace()
                guard let next = take() else { throw fail(open.last == UInt8(ascii: "]") ? "a list is not closed" : "an object is not closed") }
                let closing = open[open.count - 1]
                if next == closing {
                    open.removeLast()
                    continue
                }
                guard next == UInt8(ascii: ",") else {
                    at -= 1
                    throw fail(closing == UInt8(ascii: "]") ? "expected ',' or ']' in a list" : "expected ',' or '}' in an object")
                }
                if closing == UInt8(ascii: "}") {
                    skipSpace()
                    try key()
                }
                break
            }
        }
    }

    /// A member's key and its ':' (skipped).
    private mutating func key() throws(AgentError) {
        guard peek == UInt8(ascii: "\"") else { throw fail(at == bytes.count ? "an object is not closed" : "expected a key (a string)") }
        try skipString()
        skipSpace()
        guard take() == UInt8(ascii: ":") else { at -= 1; throw fail("expected ':' after a key") }
    }

    private mutating func enter(_ closing: UInt8) throws(AgentError) {
        guard open.count < Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth) lists and objects") }
        open.append(closing)
        at += 1
    }

    // MARK: - Tokens

    private var peek: UInt8? { at < bytes.count ? bytes[at] : nil }

    private mutating func take() -> UInt8? {
        guard at < bytes.count else { return nil }
        defer { at += 1 }
        return bytes[at]
    }

    private mutating func skipSpace() {
        while at < bytes.count {
            switch bytes[at] {
            case 0x20, 0x0A, 0x0D, 0x09: at += 1
            default: return
            }
        }
    }

    private mutating func literal(_ word: StaticString) throws(AgentError) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - at >= count,
              memcmp(bytes.baseAddress! + at, word.utf8Start, count) == 0 else {
            throw fail("expected a JSON value")
        }
        at += count
    }

    /// A number as RFC 8259 writes it: `-? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?`.
    private mutating func number() throws(AgentError) {
        if peek == UInt8(ascii: "-") { at += 1 }
        guard let lead = peek, Self.isDigit(lead) else { throw fail("malformed number") }
        at += 1
        if lead != UInt8(ascii: "0") { skipDigits() }
        if peek == UInt8(ascii: ".") {
            at += 1
            guard let digit = peek, Self.isDigit(digit) else { throw fail("malformed number") }
            skipDigits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            at += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { at += 1 }
            guard let digit = peek, Self.isDigit(digit) else { throw fail("malformed number") }
            skipDigits()
        }
        if let next = peek, Self.isDigit(next) { throw fail("malformed number (leading zero)") }
    }

    private mutating func skipDigits() {
        while let byte = peek, Self.isDigit(byte) { at += 1 }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// Skips a string, checking its escapes (not its UTF-8: it is not kept).
    private mutating func skipString() throws(AgentError) {
        at += 1   // the opening quote
        while at < bytes.count {
            let byte = bytes[at]
            if byte == UInt8(ascii: "\"") { at += 1; return }
            if byte == UInt8(ascii: "\\") {
                at += 1
                guard let escaped = take() else { break }
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    continue
                case UInt8(ascii: "u"):
                    _ = try hex4()
                default:
                    at -= 2
                    throw fail("invalid escape in a string")
                }
                continue
            }
            if byte < 0x20 { throw fail("a control character in a string") }
            at += 1
        }
        throw fail("a string is not closed")
    }

    /// The string that starts here, decoded (escapes resolved, UTF-8 checked).
    private mutating func decodedString() throws(AgentError) -> String {
        let start = at
        try unescape()
        guard let text = String(validating: scratch, as: UTF8.self) else {
            at = start
            throw fail("a UID is not valid UTF-8")
        }
        return text
    }

    /// The bytes of the string that starts here, escapes resolved, into `scratch` (a key is
    /// compared byte for byte, so it is not made a `String`).
    private mutating func unescape() throws(AgentError) {
        at += 1
        scratch.removeAll(keepingCapacity: true)
        while at < bytes.count {
            let byte = bytes[at]
            if byte == UInt8(ascii: "\"") {
                at += 1
                return
            }
            if byte < 0x20 { throw fail("a control character in a string") }
            at += 1
            guard byte == UInt8(ascii: "\\") else {
                scratch.append(byte)
                continue
            }
            guard let escaped = take() else { break }
            switch escaped {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(escaped)
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                let escapeAt = at - 2
                var scalar = UInt32(try hex4())
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate: its low half must follow as another \u escape.
                    guard bytes.count - at >= 6, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") else {
                        at = escapeAt
                        throw fail("an unpaired surrogate in a key or UID")
                    }
                    at += 2
                    let low = UInt32(try hex4())
                    guard (0xDC00...0xDFFF).contains(low) else {
                        at = escapeAt
                        throw fail("an unpaired surrogate in a key or UID")
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    at = escapeAt
                    throw fail("an unpaired surrogate in a key or UID")
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw fail("an invalid \\u escape") }
                scratch.append(contentsOf: UTF8.encode(unicode)!)
            default:
                at -= 2
                throw fail("invalid escape in a string")
            }
        }
        throw fail("a string is not closed")
    }

    /// The four hex digits of a `\u` escape.
    private mutating func hex4() throws(AgentError) -> UInt16 {
        guard bytes.count - at >= 4 else { throw fail("a string is not closed") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[at]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail("invalid \\u escape")
            }
            value = value << 4 | UInt16(digit)
            at += 1
        }
        return value
    }

    private static func equal(_ key: [UInt8], _ name: StaticString) -> Bool {
        key.count == name.utf8CodeUnitCount && key.withUnsafeBytes { memcmp($0.baseAddress!, name.utf8Start, key.count) == 0 }
    }

    private func fail(_ reason: String) -> AgentError {
        AgentError(.badRequest, "the request body is not a JSON list of pods: \(reason) (at byte \(min(at, bytes.count)))")
    }
}
