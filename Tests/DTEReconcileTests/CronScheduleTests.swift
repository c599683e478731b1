import DTECompiler
import Foundation
import Testing

/// The cron parser the loop runs schedules with: fields, lists, ranges, steps, names, macros,
/// time zones (DST both ways) and input written to break it.
@Suite("CronSchedule")
struct CronScheduleTests {
    static func utc(_ s: String) -> Date { ISO8601DateFormatter().date(from: s)! }
    static func text(_ d: Date?) -> String { d.map { ISO8601DateFormatter().string(from: $0) } ?? "never" }
    let utcZone = TimeZone(identifier: "UTC")!

    func next(_ expr: String, after: String, zone: String = "UTC") throws -> String {
        Self.text(try CronSchedule(expr).next(after: Self.utc(after), in: TimeZone(identifier: zone)!))
    }

    @Test("steps, lists, ranges, names and macros name the times cron would")
    func fields() throws {
        #expect(try next("*/15 * * * *", after: "2026-12-01T10:07:00Z") == "2026-12-01T10:15:00Z")
        #expect(try next("*/15 * * * *", after: "2026-12-01T10:15:00Z") == "2026-12-01T10:30:00Z", "strictly after")
        #expect(try next("* * * * *", after: "2026-12-01T10:07:59Z") == "2026-12-01T10:08:00Z")
        #expect(try next("0 */6 * * *", after: "2026-12-01T07:00:00Z") == "2026-12-01T12:00:00Z")
        #expect(try next("5,35 9-10 * * *", after: "2026-12-01T09:36:00Z") == "2026-12-01T10:05:00Z")
        #expect(try next("0 6 * * mon", after: "2026-12-01T07:00:00Z") == "2026-12-07T06:00:00Z", "1 Dec 2026 is a Tuesday")
        #expect(try next("0 6 * * 7", after: "2026-12-01T07:00:00Z") == "2026-12-06T06:00:00Z", "7 is Sunday")
        #expect(try next("0 0 1 jan,jul *", after: "2026-12-01T00:00:00Z") == "2027-01-01T00:00:00Z")
        #expect(try next("@hourly", after: "2026-12-01T10:07:00Z") == "2026-12-01T11:00:00Z")
        #expect(try next("@weekly", after: "2026-12-01T10:07:00Z") == "2026-12-06T00:00:00Z")
        #expect(try next("10/20 * * * *", after: "2026-12-01T10:31:00Z") == "2026-12-01T10:50:00Z", "a start with a step runs to the end")
        // both day fields restricted: either matches (16 Jan 2026 is a Friday, outside 1-15)
        #expect(try next("30 2 1-15 jan mon-fri", after: "2026-01-15T03:00:00Z") == "2026-01-16T02:30:00Z")
        // one restricted: only it counts
        #expect(try next("0 0 13 * *", after: "2026-12-01T00:00:00Z") == "2026-12-13T00:00:00Z")
        #expect(try next("0 0 29 2 *", after: "2026-03-01T00:00:00Z") == "2028-02-29T00:00:00Z", "the next leap day")
        #expect(try next("0 0 31 2 *", after: "2026-03-01T00:00:00Z") == "never", "a date that never comes ends the search (bounded)")
    }

    @Test("time zones: wall-clock times in the zone, a skipped time runs once after the gap, a repeated one runs once")
    func zones() throws {
        #expect(try next("0 9 * * *", after: "2026-07-01T00:00:00Z", zone: "America/New_York") == "2026-07-01T13:00:00Z", "EDT is UTC-4")
        #expect(try next("0 9 * * *", after: "2026-12-01T00:00:00Z", zone: "America/New_York") == "2026-12-01T14:00:00Z", "EST is UTC-5")
        let berlin = TimeZone(identifier: "Europe/Berlin")!
        let daily = try CronSchedule("30 2 * * *")
        // 29 Mar 2026: 02:00 CET jumps to 03:00 CEST, 02:30 does not exist that day
        let spring = daily.ticks(after: Self.utc("2026-03-28T00:00:00Z"), until: Self.utc("2026-03-31T00:00:00Z"), in: berlin, limit: 10).ticks
        #expect(spring.map(Self.text) == ["2026-03-28T01:30:00Z", "2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z"],
                "the skipped 02:30 runs once, at 03:30 CEST: \(spring.map(Self.text))")
        // 25 Oct 2026: 03:00 CEST falls back to 02:00 CET, 02:30 happens twice; it runs once
        let autumn = daily.ticks(after: Self.utc("2026-10-24T00:00:00Z"), until: Self.utc("2026-10-27T00:00:00Z"), in: berlin, limit: 10).ticks
        #expect(autumn.count == 3, "once a day: \(autumn.map(Self.text))")
        #expect(autumn.first.map(Self.text) == "2026-10-24T00:30:00Z")
        #expect(autumn.last.map(Self.text) == "2026-10-26T01:30:00Z")
        let hourly = try CronSchedule("0 * * * *")
        let gapDay = hourly.ticks(after: Self.utc("2026-03-28T23:00:00Z"), until: Self.utc("2026-03-29T22:00:00Z"), in: berlin, limit: 100).ticks
        #expect(gapDay.count == 23, "a day of 23 hours has 23 hourly ticks: \(gapDay.map(Self.text))")
        #expect(Set(gapDay).count == gapDay.count, "no tick twice")
        #expect(zip(gapDay, gapDay.dropFirst()).allSatisfy { $0 < $1 }, "in order")
    }

    @Test("ticks in a window are counted up to a limit")
    func window() throws {
        let every = try CronSchedule("* * * * *")
        let (ticks, more) = every.ticks(after: Self.utc("2026-12-01T10:00:00Z"), until: Self.utc("2026-12-01T10:10:00Z"), in: utcZone, limit: 5)
        #expect(ticks.count == 5 && more)
        let all = every.ticks(after: Self.utc("2026-12-01T10:00:00Z"), until: Self.utc("2026-12-01T10:10:00Z"), in: utcZone, limit: 100)
        #expect(all.ticks.count == 10 && !all.more, "10:01 … 10:10")
    }

    @Test("hostile expressions are refused with a reason, never a trap", arguments: [
        ("0 */6 * *", "4 fields"),
        ("61 * * * *", "outside 0–59"),
        ("-1 * * * *", "is not a number"),
        ("99999999999999999999999 * * * *", "is not a number"),
        ("*/0 * * * *", "step after '/'"),
        ("*/99999999999999999999 * * * *", "step after '/'"),
        ("1-2-3 * * * *", "not a number or range"),
        ("5-1 * * * *", "goes backwards"),
        (",,, * * * *", "empty list entry"),
        ("0 0 * foo *", "is not a number or name"),
        ("+5 * * * *", "is not a number"),
        ("٣ * * * *", "is not a number"),
        ("0 0 * * 8", "outside 0–7"),
        ("@every", "unknown macro"),
        ("0\u{0} * * * *", "is not a number"),
        (String(repeating: "1,", count: 61) + "1 * * * *", "more than 60 entries"),
        (String(repeating: "*", count: 10_000), "longer than 200"),
    ])
    func hostile(_ expr: String, _ why: String) {
        do {
            _ = try CronSchedule(expr)
            Issue.record("\(expr.prefix(40)) was accepted")
        } catch {
            #expect(error.description.contains(why), "\(error.description)")
        }
    }
}
