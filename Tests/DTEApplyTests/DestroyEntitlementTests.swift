import DTETestSupport
import Foundation
import XCTest

/// A real agent with OIDC and a namespace that needs an extra entitlement: a destroy run with a
/// token that may not see the twin's namespace (the agent answers 404 for its pods, as if they
/// did not exist) must not forget the resources whose jobs still run.
final class DestroyEntitlementTests: XCTestCase {
    static let member = "urn:mace:egi.eu:group:dte-test.eu#aai.test"
    static let twinMember = "urn:mace:egi.eu:group:dte-test.eu:twins:role=member#aai.test"

    func testADestroyWithATokenThatMayNotSeeTheNamespaceKeepsTheResourceAndItsJob() async throws {
        let issuer = try await TestIssuer.start()
        defer { issuer.stop() }
        let bed = try AgentTestbed(startingAgent: false)
        defer { bed.tearDown() }
        try bed.startAgent(arguments: ["--oidc-issuer", issuer.url, "--oidc-audience", "dte-test", "--entitlement", Self.member,
                                       "--namespace-entitlement", "\(bed.twin)=\(Self.twinMember)"])
        let owner = try await issuer.token(issuer.claims(subject: "owner", entitlements: [Self.member, Self.twinMember]))
        let outsider = try await issuer.token(issuer.claims(subject: "outsider", entitlements: [Self.member]))
        try bed.writeTwin(components: bed.batchJob("long", command: ["sleep", "120"]))

        bed.environment["DTE_TOKEN"] = owner
        let applied = try bed.dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(applied.status, 0, applied.out + applied.err)
        XCTAssertEqual(bed.slurmJobs().count, 1, "\(bed.slurmJobs())")

        bed.environment["DTE_TOKEN"] = outsider
        let refused = try bed.dte(["apply", "--auto-approve", "--destroy", "--site", "local", "--refresh=false"])
        XCTAssertEqual(refused.status, 1, refused.out + refused.err)
        XCTAssertTrue(refused.out.contains("may not act on namespace \(bed.twin)"), refused.out)
        XCTAssertTrue(refused.out.contains("the pod was not deleted and stays recorded"), refused.out)
        XCTAssertFalse(refused.out.contains(outsider) || refused.err.contains(outsider), "the token is never shown")
        XCTAssertEqual(bed.slurmJobs().count, 1, "the job still runs: \(bed.slurmJobs())")
        let state = try bed.dte(["state", "list"])
        XCTAssertTrue(state.out.contains("twin.\(bed.twin).long"), "still recorded: \(state.out)")

        bed.environment["DTE_TOKEN"] = owner
        let destroyed = try bed.dte(["apply", "--auto-approve", "--destroy", "--site", "local", "--refresh=false"])
        XCTAssertEqual(destroyed.status, 0, destroyed.out + destroyed.err)
        XCTAssertFalse(try bed.dte(["state", "list"]).out.contains("twin.\(bed.twin).long"))
        let cancelled = bed.eventually(timeout: 30) {
            let r = try? runCommand(URL(fileURLWithPath: "/usr/bin/env"), ["squeue", "-h", "-t", "pending,running", "-n", "\(bed.twin).long"],
                                    in: NSTemporaryDirectory())
            return r?.status == 0 && r?.out.isEmpty == true
        }
        XCTAssertTrue(cancelled, "the owner's destroy cancelled the job")
    }
}
