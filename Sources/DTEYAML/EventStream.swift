import CYAML
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// libyaml's parse of one input on a thread of its own, handing its events to a reader on
/// another thread in batches, so that reading YAML costs about what libyaml's parse costs, not
/// that plus building the tree.
///
/// Every event is freed by the thread that made it: the reader hands each batch back when it is
/// done with it, and the parser thread frees its events before parsing more (and, once the stream
/// has ended, frees what comes back until nothing is out). A `bounded` stream parses at most a few
/// batches ahead of its reader; an unbounded one (the second half of a split parse, whose reader
/// is busy with the first half) keeps parsing, up to `maximumEvents`, and then ends as cut off.
/// Asked to stop, the parse ends at the next batch. The parser thread is a thread of its own,
/// never one of a shared pool that a caller might be blocking.
final class EventStream: @unchecked Sendable {
    static let batchEvents = 4096
    /// Batches a bounded stream parses ahead of its reader.
    static let boundedAhead = 4

    struct Failure: Sendable {
        var problem: String
        var context: String?
        var mark: yaml_mark_t
    }

    /// Events `events[start..<count]` for the reader (the ones before `start` were looked at
    /// already); `last`: the stream ends with this batch (at STREAM-END, a failure, a stop or
    /// the cut-off).
    struct Batch: @unchecked Sendable {
        /// libyaml's events (a bounded stream), or nil when they are `records`.
        let events: UnsafeMutablePointer<yaml_event_t>?
        /// The events written compactly one after the other (an unbounded stream: they wait in
        /// memory, and a reader that comes to them late reads them in order, not scattered).
        let records: UnsafeMutableRawPointer?
        let count: Int
        let last: Bool
        var start = 0

        /// Calls `body` with each event from `start` on, in order, until it returns false. A
        /// compact event is remade on the stack: its pointers are valid while `body` runs.
        func forEach(_ body: (UnsafeMutablePointer<yaml_event_t>) -> Bool) {
            if let events {
                for i in start..<count where !body(events + i) { return }
                return
            }
            guard var at = records else { return }
            var event = yaml_event_t()
            for i in 0..<count {
                let size = Record.read(at, into: &event)
                if i >= start, !body(&event) { return }
                at += size
            }
        }
    }

    /// One event, compactly: a header of 8 32-bit words (type, style, line, column, value, anchor
    /// and tag lengths, each length + 1, 0 for none), then the value, anchor and tag, each
    /// followed by a zero byte, padded to 8 bytes.
    enum Record {
        static func size(_ e: yaml_event_t) -> Int {
            let (value, anchor, tag) = parts(e)
            return (32 + (value.map { $0.1 + 1 } ?? 0) + (anchor.map { $0.1 + 1 } ?? 0) + (tag.map { $0.1 + 1 } ?? 0) + 7) & ~7
        }

        static func parts(_ e: yaml_event_t) -> (value: (UnsafePointer<UInt8>, Int)?, anchor: (UnsafePointer<UInt8>, Int)?, tag: (UnsafePointer<UInt8>, Int)?) {
            func c(_ p: UnsafeMutablePointer<yaml_char_t>?) -> (UnsafePointer<UInt8>, Int)? { p.map { (UnsafePointer($0), strlen(UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))) } }
            switch e.type {
            case YAML_SCALAR_EVENT:
                return (e.data.scalar.value.map { (UnsafePointer($0), e.data.scalar.length) } ?? (UnsafePointer(bitPattern: 1)!, 0),
                        c(e.data.scalar.anchor), c(e.data.scalar.tag))
            case YAML_MAPPING_START_EVENT: return (nil, c(e.data.mapping_start.anchor), nil)
            case YAML_SEQUENCE_START_EVENT: return (nil, c(e.data.sequence_start.anchor), nil)
            case YAML_ALIAS_EVENT: return (nil, c(e.data.alias.anchor), nil)
            default: return (nil, nil, nil)
            }
        }

        /// Writes `e` at `at` (room for `size(e)` bytes); returns the bytes written.
        static func write(_ e: yaml_event_t, at: UnsafeMutableRawPointer) -> Int {
            let (value, anchor, tag) = parts(e)
            let header = at.assumingMemoryBound(to: UInt32.self)
            var style: UInt32 = 0
            switch e.type {
            case YAML_SCALAR_EVENT: style = e.data.scalar.style.rawValue
            case YAML_MAPPING_START_EVENT: style = e.data.mapping_start.style.rawValue
            case YAML_SEQUENCE_START_EVENT: style = e.data.sequence_start.style.rawValue
            default: break
            }
            header[0] = e.type.rawValue
            header[1] = style
            header[2] = UInt32(truncatingIfNeeded: e.start_mark.line)
            header[3] = UInt32(truncatingIfNeeded: e.start_mark.column)
            var offset = 32
            for (k, part) in [value, anchor, tag].enumerated() {
                guard let (p, n) = part else { header[4 + k] = 0; continue }
                header[4 + k] = UInt32(truncatingIfNeeded: n + 1)
                (at + offset).copyMemory(from: p, byteCount: n)
                at.storeBytes(of: 0, toByteOffset: offset + n, as: UInt8.self)
                offset += n + 1
            }
            return (offset + 7) & ~7
        }

        /// Remakes the event at `at` in `event` (its pointers point into the record); returns the
        /// record's size.
        static func read(_ at: UnsafeMutableRawPointer, into event: inout yaml_event_t) -> Int {
            let header = at.assumingMemoryBound(to: UInt32.self)
            event = yaml_event_t()
            event.type = yaml_event_type_t(rawValue: header[0])
            event.start_mark.line = Int(header[2])
            event.start_mark.column = Int(header[3])
            var offset = 32
            func part(_ k: Int) -> (UnsafeMutablePointer<yaml_char_t>?, Int) {
                guard header[4 + k] > 0 else { return (nil, 0) }
                let n = Int(header[4 + k]) - 1
                defer { offset += n + 1 }
                return ((at + offset).assumingMemoryBound(to: yaml_char_t.self), n)
            }
            let value = part(0), anchor = part(1), tag = part(2)
            switch event.type {
            case YAML_SCALAR_EVENT:
                event.data.scalar.value = value.0
                event.data.scalar.length = value.1
                event.data.scalar.anchor = anchor.0
                event.data.scalar.tag = tag.0
                event.data.scalar.style = yaml_scalar_style_t(rawValue: header[1])
            case YAML_MAPPING_START_EVENT:
                event.data.mapping_start.anchor = anchor.0
                event.data.mapping_start.style = yaml_mapping_style_t(rawValue: header[1])
            case YAML_SEQUENCE_START_EVENT:
                event.data.sequence_start.anchor = anchor.0
                event.data.sequence_start.style = yaml_sequence_style_t(rawValue: header[1])
            case YAML_ALIAS_EVENT:
                event.data.alias.anchor = anchor.0
            default: break
            }
            return (offset + 7) & ~7
        }
    }

    private let parser: UnsafeMutablePointer<yaml_parser_t>
    private let bounded: Bool
    private let maximumEvents: Int
    private let ready = Mutex<[Batch]>([])
    private let released = Mutex<[Batch]>([])
    private let filled = DispatchSemaphore(value: 0)
    private let returned = DispatchSemaphore(value: 0)
    private let room = DispatchSemaphore(value: EventStream.boundedAhead)
    private let stopRequested = Atomic<Bool>(false)
    private var thread = pthread_t()
    private var running = false
    /// Written by the parser thread before its last batch; read by the reader after `finish`.
    private var failure: Failure?
    private var cutOff = false

    /// Nil when libyaml cannot be initialised. `input` must stay valid until `finish` returns.
    init?(input: UnsafeBufferPointer<UInt8>, bounded: Bool, maximumEvents: Int = .max) {
        parser = .allocate(capacity: 1)
        parser.initialize(to: yaml_parser_t())
        guard yaml_parser_initialize(parser) == 1 else {
            parser.deallocate()
            return nil
        }
        yaml_parser_set_input_string(parser, input.baseAddress ?? UnsafePointer<UInt8>(bitPattern: 1), input.count)
        self.bounded = bounded
        self.maximumEvents = maximumEvents
    }

    deinit {
        yaml_parser_delete(parser)
        parser.deallocate()
    }

    /// Starts the parser thread; false when it cannot start (nothing was parsed).
    func start() -> Bool {
        let context = Unmanaged.passRetained(self).toOpaque()
        let started = pthread_create(&thread, nil, { context in
            let stream = Unmanaged<EventStream>.fromOpaque(context!).takeRetainedValue()
            stream.produce()
            return nil
        }, context)
        guard started == 0 else {
            Unmanaged<EventStream>.fromOpaque(context).release()
            return false
        }
        running = true
        return true
    }

    /// The batch looked at with `peek`, until `next` hands it out.
    private var held: Batch?

    /// The next batch, waiting for it. Call only until a batch that is `last` has come.
    func next() -> Batch {
        if let h = held {
            held = nil
            return h
        }
        filled.wait()
        return ready.withLock { $0.removeFirst() }
    }

    /// The next batch without taking it (`next` hands it out); `skip` drops its first events.
    func peek() -> Batch {
        if let h = held { return h }
        let b = next()
        held = b
        return b
    }

    func skip(_ events: Int) {
        held?.start = events
    }

    /// The reader is done with `batch` (its events are freed by the parser thread).
    func release(_ batch: Batch) {
        if let records = batch.records {
            records.deallocate()  // nothing in it is libyaml's
            return
        }
        released.withLock { $0.append(batch) }
        returned.signal()
        if bounded { room.signal() }
    }

    /// Asks the parse to end at its next batch.
    func stop() { stopRequested.store(true, ordering: .relaxed) }

    /// Stops the parse and hands back every batch still to come, up to the last, unread.
    func drop() {
        stop()
        while true {
            let batch = next()
            release(batch)
            if batch.last { return }
        }
    }

    /// Waits for the parser thread, once every batch up to the last has been released. Returns
    /// libyaml's error when the parse failed, and whether it was cut off at `maximumEvents`.
    func finish() -> (failure: Failure?, cutOff: Bool) {
        if running { pthread_join(thread, nil) }
        running = false
        return (failure, cutOff)
    }

    /// The parser thread's loop.
    private func produce() {
        var spare: [UnsafeMutablePointer<yaml_event_t>] = []
        var out = 0
        var parsed = 0
        func reclaim() {
            for b in released.withLock({ r -> [Batch] in defer { r.removeAll(keepingCapacity: true) }; return r }) {
                guard let events = b.events else { continue }
                for i in 0..<b.count { yaml_event_delete(events + i) }
                spare.append(events)
                out -= 1
            }
        }
        if !bounded {
            produceRecords()
            return
        }
        while true {
            if bounded { room.wait() }
            reclaim()
            let events = spare.popLast() ?? .allocate(capacity: Self.batchEvents)
            var n = 0
            var end = stopRequested.load(ordering: .relaxed)
            if !end && parsed >= maximumEvents {
                cutOff = true
                end = true
            }
            while !end && n < Self.batchEvents {
                (events + n).initialize(to: yaml_event_t())
                guard yaml_parser_parse(parser, events + n) == 1 else {
                    let p = parser.pointee
                    failure = Failure(problem: p.problem.map { String(cString: $0) } ?? "syntax error",
                                      context: p.context.map { String(cString: $0) }, mark: p.problem_mark)
                    end = true
                    break
                }
                end = events[n].type == YAML_STREAM_END_EVENT
                n += 1
            }
            parsed += n
            out += 1
            ready.withLock { $0.append(Batch(events: events, records: nil, count: n, last: end)) }
            filled.signal()
            if end { break }
        }
        // free what comes back, until every batch handed out is
        while out > 0 {
            returned.wait()
            reclaim()
        }
        for events in spare { events.deallocate() }
    }

    /// The unbounded stream's loop: each event is written compactly into the batch's buffer and
    /// freed at once; the reader frees each buffer when it is done with it.
    private func produceRecords() {
        var parsed = 0
        var event = yaml_event_t()
        var pending: yaml_event_t?  // parsed, not yet written (it did not fit the last buffer)
        while true {
            var capacity = 256 << 10
            if let p = pending { capacity = max(capacity, Record.size(p)) }
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
            var used = 0
            var n = 0
            var end = false
            while n < Self.batchEvents * 4 {
                if var p = pending {
                    let size = Record.size(p)
                    guard used + size <= capacity else { break }
                    used += Record.write(p, at: buffer + used)
                    n += 1
                    end = p.type == YAML_STREAM_END_EVENT
                    yaml_event_delete(&p)
                    pending = nil
                    if end { break }
                    continue
                }
                if stopRequested.load(ordering: .relaxed) { end = true; break }
                if parsed >= maximumEvents {
                    cutOff = true
                    end = true
                    break
                }
                guard yaml_parser_parse(parser, &event) == 1 else {
                    let p = parser.pointee
                    failure = Failure(problem: p.problem.map { String(cString: $0) } ?? "syntax error",
                                      context: p.context.map { String(cString: $0) }, mark: p.problem_mark)
                    end = true
                    break
                }
                parsed += 1
                pending = event
            }
            ready.withLock { $0.append(Batch(events: nil, records: buffer, count: n, last: end)) }
            filled.signal()
            if end {
                if var p = pending { yaml_event_delete(&p) }
                return
            }
        }
    }
}
