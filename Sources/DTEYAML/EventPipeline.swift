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
        let events: UnsafeMutablePointer<yaml_event_t>
        let count: Int
        let last: Bool
        var start = 0
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
        released.withLock { $0.append(batch) }
        returned.signal()
        if bounded { room.signal() }
    }

    /// Asks the parse to end at its next batch.
    func stop() { stopRequested.store(true, ordering: .relaxed) }

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
                for i in 0..<b.count { yaml_event_delete(b.events + i) }
                spare.append(b.events)
                out -= 1
            }
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
            ready.withLock { $0.append(Batch(events: events, count: n, last: end)) }
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
}
