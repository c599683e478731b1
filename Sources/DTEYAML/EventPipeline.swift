import CYAML
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// libyaml's parse of a large file on a thread of its own, beside the tree builder: the parser
/// fills batches of events in a ring of slots and the builder (on the calling thread) reads them,
/// so reading YAML costs about what libyaml's parse costs, not that plus building the tree.
///
/// Every event is freed by the thread that made it (when its slot is reused, or at the end), so
/// the builder only reads. The builder asking to stop (a limit reached) ends the parse at the
/// next batch. The parser thread is a thread of its own, never one of a shared pool that a caller
/// might be blocking.
final class EventPipeline: @unchecked Sendable {
    static let slots = 4
    static let batch = 4096

    /// `slots × batch` events; slot `s` is `events[s * batch ..< s * batch + counts[s]]`.
    private let events: UnsafeMutablePointer<yaml_event_t>
    /// Events in each slot not yet freed (written by the parser before it hands the slot over).
    private let counts: UnsafeMutablePointer<Int>
    /// Whether a slot is the last one the parser fills.
    private let ends: UnsafeMutablePointer<Bool>
    private let parser: UnsafeMutablePointer<yaml_parser_t>
    /// Slots the parser may fill, and slots the builder may read.
    private let empty = DispatchSemaphore(value: EventPipeline.slots)
    private let filled = DispatchSemaphore(value: 0)
    private let stop = Atomic<Bool>(false)
    /// libyaml's error, when the parse failed (read by the builder after the last slot).
    private var failure: (problem: String, context: String?, mark: yaml_mark_t)?

    /// Nil when libyaml cannot be initialised.
    init?(input: UnsafeBufferPointer<UInt8>) {
        parser = .allocate(capacity: 1)
        parser.initialize(to: yaml_parser_t())
        guard yaml_parser_initialize(parser) == 1 else {
            parser.deallocate()
            return nil
        }
        let base = input.baseAddress ?? UnsafePointer<UInt8>(bitPattern: 1)
        yaml_parser_set_input_string(parser, base, input.count)
        events = .allocate(capacity: Self.slots * Self.batch)
        events.initialize(repeating: yaml_event_t(), count: Self.slots * Self.batch)
        counts = .allocate(capacity: Self.slots)
        counts.initialize(repeating: 0, count: Self.slots)
        ends = .allocate(capacity: Self.slots)
        ends.initialize(repeating: false, count: Self.slots)
    }

    deinit {
        for s in 0..<Self.slots {
            for i in 0..<counts[s] { yaml_event_delete(events + s * Self.batch + i) }
        }
        yaml_parser_delete(parser)
        parser.deallocate()
        events.deallocate()
        counts.deallocate()
        ends.deallocate()
    }

    /// The parser thread's loop.
    private func produce() {
        var slot = 0
        while true {
            empty.wait()
            let base = events + slot * Self.batch
            for i in 0..<counts[slot] { yaml_event_delete(base + i) }
            var n = 0
            var end = stop.load(ordering: .relaxed)
            while !end && n < Self.batch {
                guard yaml_parser_parse(parser, base + n) == 1 else {
                    let p = parser.pointee
                    failure = (p.problem.map { String(cString: $0) } ?? "syntax error", p.context.map { String(cString: $0) }, p.problem_mark)
                    end = true
                    break
                }
                end = base[n].type == YAML_STREAM_END_EVENT
                n += 1
            }
            counts[slot] = n
            ends[slot] = end
            filled.signal()
            if end { return }
            slot = (slot + 1) % Self.slots
        }
    }

    /// Runs the parse on a new thread and hands each event to `handle` on this one, in order,
    /// until the stream ends, the parse fails or `handle` returns false. Returns libyaml's error
    /// when the parse failed before `handle` asked to stop; nil when the thread cannot start.
    func run(_ handle: (inout yaml_event_t) -> Bool) -> (ran: Bool, failure: (problem: String, context: String?, mark: yaml_mark_t)?) {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let started = pthread_create(&thread, nil, { context in
            let pipeline = Unmanaged<EventPipeline>.fromOpaque(context!).takeRetainedValue()
            pipeline.produce()
            return nil
        }, context)
        guard started == 0 else {
            Unmanaged<EventPipeline>.fromOpaque(context).release()
            return (false, nil)
        }
        var slot = 0
        var stopped = false
        while true {
            filled.wait()
            let base = events + slot * Self.batch
            let n = counts[slot], end = ends[slot]
            var i = 0
            while !stopped && i < n {
                if !handle(&base[i]) {
                    stopped = true
                    stop.store(true, ordering: .relaxed)
                }
                i += 1
            }
            empty.signal()
            if end { break }
            slot = (slot + 1) % Self.slots
        }
        pthread_join(thread, nil)
        return (true, stopped ? nil : failure)
    }
}
