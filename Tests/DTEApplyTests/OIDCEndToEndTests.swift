import DTETestSupport
import Foundation
import XCTest

/// `dte apply/status/logs` against a real `dte-agent` that checks OIDC tokens (an issuer made in
/// the test), on real Slurm: the token reaches the agent, a caller without one or without the
/// twin's entitlement is told what to do, and another tenant's pods stay out of reach.
final class OIDCEndToEndTests: XCTestCase {
    static let member = "urn:mace:egi.eu:group:dte-test.eu#aai.test"
    var issuer: TestIssuer!
    var bed: AgentTestbed!
    var owner = ""

    override func setUp() async throws {
        issuer = try await TestIssuer.start()
        bed = try AgentTestbed(startingAgent: false)
        let twinEntitlement = "urn:mace:egi.eu:group:dte-test.eu:\(bed.twin)#aai.test"
        try bed.startAgent(arguments: ["--oidc-issuer", issuer.url, "--oidc-audience", "dte-test", "--entitlement", Self.member,
                                       "--namespace-entitlement", "\(bed.twin)=\(twinEntitlement)"])
        owner = try await issuer.token(issuer.claims(subject: "owner", entitlements: [twinEntitlement]))
        bed.environment["DTE_TOKEN"] = owner
    }

    override func tearDown() async throws {
        bed.environment["DTE_TOKEN"] = owner
        bed.tearDown()
        issuer.stop()
    }

    func testTheTokenCarriesApplyStatusAndLogsAndOthersAreToldWhatIsMissing() async throws {
        try bed.writeTwin(components: bed.batchJob("hello", command: ["sh", "-c", "echo hello from a token"]))

        // No token: refused before anything is submitted, naming the site and the remedy.
        bed.environment["DTE_TOKEN"] = ""
        let anonymous = try bed.dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(anonymous.status, 1)
        XCTAssertTrue((anonymous.out + anonymous.err).contains("site local"), anonymous.out + anonymous.err)
        XCTAssertTrue((anonymous.out + anonymous.err).contains("DTE_TOKEN"), anonymous.out + anonymous.err)
        XCTAssertTrue(bed.slurmJobs().isEmpty)

        // A valid token without the twin's entitlement: 403, said as such.
        let outsider = try await issuer.token(issuer.claims(subject: "outsider", entitlements: [Self.member]))
        bed.environment["DTE_TOKEN"] = outsider
        let refused = try bed.dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue((refused.out + refused.err).contains("entitlement"), refused.out + refused.err)
        XCTAssertTrue(bed.slurmJobs().isEmpty)

        // The twin's owner applies; the job runs; status and logs come through the same token.
        bed.environment["DTE_TOKEN"] = owner
        let applied = try bed.dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(applied.status, 0, applied.out + applied.err)
        XCTAssertEqual(bed.slurmJobs().count, 1)
        let address = "twin.\(bed.twin).hello"
        XCTAssertTrue(try bed.eventually(timeout: 90) { try bed.dte(["logs", address]).out == "hello from a token\n" })
        let status = try bed.dte(["status", "--site", "local"])
        XCTAssertEqual(status.status, 0, status.err)
        XCTAssertTrue(status.out.contains(address), status.out)

        // For the outsider the pod does not exist at the site.
        bed.environment["DTE_TOKEN"] = outsider
        let hidden = try bed.dte(["logs", address])
        XCTAssertEqual(hidden.status, 1)
        XCTAssertTrue(hidden.err.contains("not known"), hidden.err)

        // No token appears in what dte printed or in the agent's log.
        let log = try String(contentsOfFile: bed.agentLog, encoding: .utf8)
        for text in [anonymous.out + anonymous.err, refused.out + refused.err, applied.out + applied.err,
                     status.out + status.err, hidden.out + hidden.err, log] {
            XCTAssertFalse(text.contains(owner))
            XCTAssertFalse(text.contains(outsider))
        }
    }
}
