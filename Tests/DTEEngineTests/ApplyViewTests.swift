import DTEApply
import DTEPlanner
import DTEViews
import Testing

@Suite("ApplyView")
struct ApplyViewTests {
    @Test func linesReadAsApplyPrintsThem() {
        let plain = ApplyView(color: false)
        #expect(plain.line(.started(address: "twin.flood.model", action: .create)) == "twin.flood.model: create…")
        #expect(plain.line(.finished(ApplyResult(address: "twin.flood.model", outcome: .created, jobID: "91"))) == "twin.flood.model: created (job 91)")
        #expect(plain.line(.finished(ApplyResult(address: "twin.flood.publish", outcome: .skipped, message: "twin.flood.model was skipped")))
                == "twin.flood.publish: skipped: twin.flood.model was skipped")
        #expect(plain.line(.waiting(address: "twin.flood.model", dependency: "twin.flood.prep", site: "vega", status: "job 4711 running"))
                == "twin.flood.model: waiting for twin.flood.prep on site vega to finish: job 4711 running")
        #expect(plain.line(.retrying(address: "twin.flood.model", attempt: 2, attempts: 4, delay: 1, reason: "site vega: connection reset"))
                == "twin.flood.model: no answer (site vega: connection reset); trying again in 1 s (attempt 2 of 4)")
        #expect(plain.summary([ApplyResult(address: "a", outcome: .created), ApplyResult(address: "b", outcome: .failed),
                               ApplyResult(address: "c", outcome: .skipped)]) == "Apply complete: 1 succeeded, 1 failed, 1 skipped.")
    }

    @Test func failuresAreRedOnlyWithColour() {
        let failed = ApplyEvent.finished(ApplyResult(address: "twin.flood.model", outcome: .failed, message: "site vega: refused"))
        #expect(ApplyView(color: true).line(failed) == "twin.flood.model: \u{1B}[31mfailed\u{1B}[0m: site vega: refused")
        #expect(ApplyView(color: false).line(failed) == "twin.flood.model: failed: site vega: refused")
    }

    @Test func hookResultsNameThePhaseVerdictAndRemedy() {
        let h = HookResult(name: "quality", phase: .preApply, verdict: .fail, blocking: true, summary: "bronze; silver required",
                           remedy: "add a SemVer tag", subject: "twin.flood")
        #expect(ApplyView(color: false).line(.hook(h)) == "hook quality (pre-apply) twin.flood: fail: bronze; silver required — add a SemVer tag")
    }
}
