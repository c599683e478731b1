import CYAML

/// A large file read by two libyaml parses at once: parse A from the start, and parse B from a
/// line near the middle — a key of a block mapping, `    job-05000:` — with the keys that
/// enclose it written before it (`topology_template:` / `  node_templates:`), so that B's parser
/// is where A's will be when A reaches that line. The tree builder reads A's events up to the
/// line; if what it has built there is exactly that (block mappings under those keys at those
/// columns, a new key expected, that key next), it goes on with B's events, with B's line numbers
/// moved to the file's; otherwise it reads A to the end, as the streamed reading does. Either
/// way the tree, the marks and the diagnostics are those of reading the file in one parse.
///
/// The split line is found in the text (cheaply, without parsing): the builder's state at the
/// line is what proves it right. Files with directives (`%`) or more than one document are not
/// split.
enum SplitReading {
    /// The second parse's events wait in memory until the builder reaches them; a parse that
    /// would hold more stops there and the file is read again, streamed.
    static let maximumSecondEvents = 1 << 20

    struct Plan {
        /// Byte offset and 0-based line of the split line, the column of its key, the key.
        var offset: Int
        var line: Int
        var indent: Int
        var key: [UInt8]
        /// The keys enclosing it, outermost first, with their columns (0-based).
        var parents: [(indent: Int, key: [UInt8])]

        /// What B's input starts with: one line per enclosing key.
        var prefix: [UInt8] {
            var out: [UInt8] = []
            for p in parents {
                out += [UInt8](repeating: 0x20, count: p.indent) + p.key + [0x3A, 0x0A]
            }
            return out
        }
    }

    /// Reads `buf` into `builder`; nil when the file cannot be split or read this way (the
    /// caller reads it streamed, from scratch).
    static func load(_ buf: UnsafeBufferPointer<UInt8>, builder: TreeBuilder) -> YAMLLoader.Result? {
        read(buf, builder: builder)?.result
    }

    /// `load`, and whether the builder went on with the second parse at the split line.
    static func read(_ buf: UnsafeBufferPointer<UInt8>, builder: TreeBuilder) -> (result: YAMLLoader.Result, switched: Bool)? {
        guard let plan = plan(buf) else { return nil }
        var second = plan.prefix
        second += UnsafeBufferPointer(rebasing: buf[plan.offset...])
        return second.withUnsafeBufferPointer { sbuf -> (result: YAMLLoader.Result, switched: Bool)? in
            guard let a = EventStream(input: buf, bounded: true),
                  let b = EventStream(input: sbuf, bounded: false, maximumEvents: maximumSecondEvents) else { return nil }
            guard a.start() else { return nil }
            guard b.start() else {
                a.drop()
                _ = a.finish()
                return nil
            }
            var builder = builder
            let switched = readFirst(a, into: &builder, until: plan, second: b)
            if !switched {
                // the split line was not where the text suggested: A is read to the end
                b.drop()
                _ = b.finish()
                if let failure = a.finish().failure, !builder.stopped {
                    builder.syntaxError(failure.problem, context: failure.context, at: failure.mark)
                }
                return (builder.result(), false)
            }
            _ = a.finish()
            builder.lineOffset = Int32(plan.line - plan.parents.count)
            builder.drain(b)
            let (failure, cutOff) = b.finish()
            if cutOff { return nil }
            if let failure, !builder.stopped {
                builder.syntaxError(failure.problem, context: failure.context, at: failure.mark)
            }
            return (builder.result(), true)
        }
    }

    /// Reads A's events into `builder` up to the split line. True when the builder's state
    /// there is the plan's and B's first events say the same: A has been stopped and drained,
    /// and B's prefix events consumed. False when A was read to its end (no switch).
    private static func readFirst(_ a: EventStream, into builder: inout TreeBuilder, until plan: Plan, second b: EventStream) -> Bool {
        while true {
            let batch = a.next()
            var i = 0
            while !builder.stopped && i < batch.count {
                let event = batch.events! + i
                let isEnd = event.pointee.type == YAML_MAPPING_END_EVENT || event.pointee.type == YAML_SEQUENCE_END_EVENT
                if !isEnd && event.pointee.start_mark.line >= plan.line {
                    if atSplit(event.pointee, builder, plan), secondMatches(b, plan) {
                        a.stop()
                        a.release(batch)
                        if !batch.last { a.drop() }
                        return true
                    }
                    // not the plan's place: read A on, to the end
                    builder.handle(&event.pointee)
                    i += 1
                    while !builder.stopped && i < batch.count {
                        builder.handle(&batch.events![i])
                        i += 1
                    }
                    if builder.stopped { a.stop() }
                    a.release(batch)
                    if !batch.last { builder.drain(a) }
                    return false
                }
                builder.handle(&event.pointee)
                i += 1
            }
            if builder.stopped { a.stop() }
            a.release(batch)
            if batch.last { return false }
        }
    }

    /// Whether `event` (A's first after the split line's closings) is the split line's key and
    /// the builder is inside block mappings under the plan's keys at the plan's columns.
    private static func atSplit(_ event: yaml_event_t, _ builder: TreeBuilder, _ plan: Plan) -> Bool {
        guard event.type == YAML_SCALAR_EVENT, event.start_mark.line == plan.line, event.start_mark.column == plan.indent,
              event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE, event.data.scalar.anchor == nil, event.data.scalar.tag == nil,
              bytesEqual(event.data.scalar.value, event.data.scalar.length, plan.key),
              builder.documents == 1, builder.stack.count == plan.parents.count + 1 else { return false }
        for (depth, frame) in builder.stack.enumerated() {
            let column = depth < plan.parents.count ? plan.parents[depth].indent : plan.indent
            guard frame.isMapping, !frame.flow, Int(frame.mark.column) == column + 1 else { return false }
            if depth < plan.parents.count {
                guard let (key, keyMark) = frame.pendingKey, Array(key.utf8) == plan.parents[depth].key,
                      Int(keyMark.column) == plan.parents[depth].indent + 1 else { return false }
            } else if frame.pendingKey != nil {
                return false
            }
        }
        return true
    }

    /// Whether B's first events are its prefix's (stream, document, the enclosing block mappings
    /// and their keys) followed by the split line's key; they are consumed, the key's is not.
    private static func secondMatches(_ b: EventStream, _ plan: Plan) -> Bool {
        // the prefix's events and the key come in B's first batch (a batch holds thousands)
        let expected = 3 + 2 * plan.parents.count
        let batch = b.peek()
        guard batch.count > expected else { return false }
        var seen = 0
        var matches = true
        batch.forEach { event in
            let e = event.pointee
            if seen < 3 {
                let want = [YAML_STREAM_START_EVENT, YAML_DOCUMENT_START_EVENT, YAML_MAPPING_START_EVENT][seen]
                matches = e.type == want && (seen < 2 || e.data.mapping_start.style == YAML_BLOCK_MAPPING_STYLE)
            } else if seen < expected {
                let p = plan.parents[(seen - 3) / 2]
                matches = (seen - 3) % 2 == 0
                    ? e.type == YAML_SCALAR_EVENT && bytesEqual(e.data.scalar.value, e.data.scalar.length, p.key)
                    : e.type == YAML_MAPPING_START_EVENT && e.data.mapping_start.style == YAML_BLOCK_MAPPING_STYLE
            } else {
                // the split line's key, where B's input has it
                matches = e.type == YAML_SCALAR_EVENT && e.start_mark.line == plan.parents.count && e.start_mark.column == plan.indent
                    && bytesEqual(e.data.scalar.value, e.data.scalar.length, plan.key)
            }
            seen += 1
            return matches && seen <= expected
        }
        guard matches, seen == expected + 1 else { return false }
        b.skip(expected)
        return true
    }

    static func bytesEqual(_ p: UnsafeMutablePointer<yaml_char_t>?, _ length: Int, _ key: [UInt8]) -> Bool {
        guard let p, length == key.count else { return false }
        for i in 0..<length where p[i] != key[i] { return false }
        return true
    }

    // MARK: - finding the split line in the text

    /// The least indented key line among a few thousand from the middle of the file on, and the keys
    /// enclosing it; nil (no split) when there is none or what encloses it is not plain keys
    /// opening block mappings.
    static func plan(_ buf: UnsafeBufferPointer<UInt8>) -> Plan? {
        let n = buf.count
        guard n > 0, !hasDirectivesOrDocuments(buf) else { return nil }
        var best: (offset: Int, indent: Int, key: [UInt8])?
        var start = lineStart(after: n / 2, buf)
        var tries = 0
        while let s = start, s < n * 65 / 100, tries < 2_048 {
            tries += 1
            if let (indent, key) = keyLine(at: s, buf, opensBlock: false), indent < (best?.indent ?? .max) {
                best = (s, indent, key)
                if indent <= 2 { break }
            }
            start = lineStart(after: s, buf)
        }
        guard let best, let (parents, line) = parents(of: best.offset, indent: best.indent, buf) else { return nil }
        return Plan(offset: best.offset, line: line, indent: best.indent, key: best.key, parents: parents)
    }

    /// The start of the line after the one holding `offset`.
    static func lineStart(after offset: Int, _ buf: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = offset
        while i < buf.count && buf[i] != 0x0A { i += 1 }
        return i + 1 < buf.count ? i + 1 : nil
    }

    /// A `%` directive or a `---` / `...` marker at the start of any line.
    static func hasDirectivesOrDocuments(_ buf: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = buf.count
        func marks(_ i: Int) -> Bool {
            guard i < n else { return false }
            let c = buf[i]
            if c == 0x25 { return true }
            return (c == 0x2D || c == 0x2E) && i + 2 < n && buf[i + 1] == c && buf[i + 2] == c
        }
        if marks(0) { return true }
        var found = false
        forEachNewline(buf) { i in
            if marks(i + 1) { found = true }
        }
        return found
    }

    /// How many line feeds `buf` holds.
    static func newlines(_ buf: UnsafeBufferPointer<UInt8>) -> Int {
        var count = 0
        forEachNewline(buf) { _ in count += 1 }
        return count
    }

    /// Calls `body` with the offset of every line feed, in order, looking at eight bytes at a time.
    static func forEachNewline(_ buf: UnsafeBufferPointer<UInt8>, _ body: (Int) -> Void) {
        guard let base = buf.baseAddress else { return }
        let words = buf.count / 8
        let raw = UnsafeRawPointer(base)
        let lows: UInt64 = 0x7F7F_7F7F_7F7F_7F7F, feeds: UInt64 = 0x0A0A_0A0A_0A0A_0A0A
        for w in 0..<words {
            // the bytes of x that are zero are the line feeds; exactly those get their high bit in y
            let x = raw.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self) ^ feeds
            var y = ~(((x & lows) &+ lows) | x | lows)
            while y != 0 {
                body(w * 8 + y.trailingZeroBitCount / 8)
                y &= y &- 1
            }
        }
        for i in (words * 8)..<buf.count where buf[i] == 0x0A { body(i) }
    }

    static func isKeyStart(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x5F
    }

    static func isKeyByte(_ c: UInt8) -> Bool { isKeyStart(c) || c == 0x2D || c == 0x2E || c == 0x2F }

    /// The line at `s` as `<spaces>key:` and what may follow: with `opensBlock`, only spaces and a
    /// comment (the key opens a block collection); otherwise a space and a value, or nothing.
    static func keyLine(at s: Int, _ buf: UnsafeBufferPointer<UInt8>, opensBlock: Bool) -> (indent: Int, key: [UInt8])? {
        let n = buf.count
        var i = s
        while i < n && buf[i] == 0x20 { i += 1 }
        let indent = i - s
        guard i < n, isKeyStart(buf[i]) else { return nil }
        let keyStart = i
        while i < n && isKeyByte(buf[i]) { i += 1 }
        guard i < n, buf[i] == 0x3A else { return nil }
        let key = Array(buf[keyStart..<i])
        i += 1
        if i == n || buf[i] == 0x0A || (buf[i] == 0x0D && i + 1 < n && buf[i + 1] == 0x0A) { return (indent, key) }
        guard buf[i] == 0x20 else { return nil }
        guard opensBlock else { return (indent, key) }
        while i < n && buf[i] == 0x20 { i += 1 }
        if i == n || buf[i] == 0x0A || buf[i] == 0x23 || buf[i] == 0x0D { return (indent, key) }
        return nil
    }

    /// The keys enclosing a key at column `indent` on the line at `s`, and that line's number:
    /// the lines before it less indented than it, each closing the ones at least as indented
    /// (as block mappings do), must leave only keys opening blocks; nil otherwise.
    static func parents(of s: Int, indent: Int, _ buf: UnsafeBufferPointer<UInt8>) -> (parents: [(indent: Int, key: [UInt8])], line: Int)? {
        var open: [(indent: Int, key: [UInt8]?)] = []
        var line = 0
        func look(at lineStart: Int) {
            var i = lineStart
            while i < s && i - lineStart < indent && buf[i] == 0x20 { i += 1 }
            let ind = i - lineStart
            guard ind < indent, i < s else { return }  // as indented as the key or more: inside a sibling
            let c = buf[i]
            if c == 0x0A || c == 0x0D || c == 0x23 { return }  // blank or a comment
            while let last = open.last, last.indent >= ind { open.removeLast() }
            open.append((ind, keyLine(at: lineStart, buf, opensBlock: true)?.key))
        }
        look(at: 0)
        forEachNewline(UnsafeBufferPointer(rebasing: buf[..<s])) { nl in
            line += 1
            if nl + 1 < s { look(at: nl + 1) }
        }
        var parents: [(indent: Int, key: [UInt8])] = []
        for o in open {
            guard let key = o.key else { return nil }
            parents.append((o.indent, key))
        }
        guard (parents.first?.indent ?? 0) == 0, indent == 0 || !parents.isEmpty else { return nil }
        return (parents, line)
    }
}
