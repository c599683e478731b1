import DTETestSupport
import Foundation
import XCTest

/// `dte` reaching an agent that serves TLS with a certificate of a private CA: the site
/// descriptor's `agent.ca_certificate` is what the client trusts for that site.
final class AgentTLSTests: XCTestCase {
    var bed: AgentTestbed!
    var dir = ""

    override func setUpWithError() throws {
        bed = try AgentTestbed(startingAgent: false)
        dir = bed.folder + "/pki"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let ext = dir + "/san.ext"
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: ext, atomically: true, encoding: .utf8)
        _ = try TestIssuer.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                                    "-subj", "/CN=dte site CA", "-keyout", dir + "/ca.key", "-out", dir + "/ca.pem"])
        _ = try TestIssuer.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=127.0.0.1",
                                    "-keyout", dir + "/server.key", "-out", dir + "/server.csr"])
        _ = try TestIssuer.openssl(["x509", "-req", "-in", dir + "/server.csr", "-CA", dir + "/ca.pem", "-CAkey", dir + "/ca.key",
                                    "-CAcreateserial", "-days", "2", "-out", dir + "/server.pem", "-extfile", ext])
        chmod(dir + "/server.key", 0o600)
        try bed.startAgent(arguments: ["--tls-cert", dir + "/server.pem", "--tls-key", dir + "/server.key"], scheme: "https")
        XCTAssertTrue(bed.agentURL.hasPrefix("https://"))
        try bed.writeTwin(components: bed.batchJob("hello", command: ["true"]))
    }

    override func tearDown() {
        bed.tearDown()
    }

    /// Sets (or, with nil, removes) `ca_certificate` in the local site's descriptor.
    func declareCA(_ path: String?) throws {
        let file = bed.repository + "/sites/local.yaml"
        var text = try String(contentsOfFile: file, encoding: .utf8)
        text = text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains("ca_certificate:") }.joined(separator: "\n")
        if let path {
            text = text.replacingOccurrences(of: "          endpoint: http://127.0.0.1:4555",
                                             with: "          endpoint: http://127.0.0.1:4555\n          ca_certificate: \(path)")
        }
        try text.write(toFile: file, atomically: true, encoding: .utf8)
    }

    func testAPrivateCAOfTheSiteIsTrustedForThatSiteOnly() throws {
        // Without the CA, the system's trust store does not know the agent's certificate: the
        // apply fails at once (no retries) and says what to declare.
        try declareCA(nil)
        let untrusted = try bed.dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(untrusted.status, 1, untrusted.out + untrusted.err)
        XCTAssertTrue((untrusted.out + untrusted.err).contains("presented a TLS certificate this client does not trust"), untrusted.out + untrusted.err)
        XCTAssertTrue((untrusted.out + untrusted.err).contains("agent.ca_certificate"), untrusted.out + untrusted.err)
        XCTAssertFalse(untrusted.out.contains("retrying"), "a certificate that is not trusted is not asked again: \(untrusted.out)")
        XCTAssertTrue(bed.slurmJobs().isEmpty, "nothing was submitted: \(bed.slurmJobs())")

        // A CA file that is not there stops the command before any request, naming the site and the file.
        try declareCA("pki/missing.pem")
        let missing = try bed.dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(missing.status, 1, missing.out + missing.err)
        XCTAssertTrue(missing.err.contains("site local: agent.ca_certificate pki/missing.pem: cannot read it"), missing.err)

        // Something that is not PEM is refused the same way.
        try "not a certificate\n".write(toFile: bed.repository + "/pki-bad.pem", atomically: true, encoding: .utf8)
        try declareCA("pki-bad.pem")
        let bad = try bed.dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(bad.status, 1, bad.out + bad.err)
        XCTAssertTrue(bad.err.contains("site local: agent.ca_certificate pki-bad.pem: "), bad.err)

        // With the site's CA (a repository path), the apply goes through TLS to the agent.
        try FileManager.default.createDirectory(atPath: bed.repository + "/pki", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: dir + "/ca.pem", toPath: bed.repository + "/pki/site-ca.pem")
        try declareCA("pki/site-ca.pem")
        let validated = try bed.dte(["validate"])
        XCTAssertEqual(validated.status, 0, validated.out + validated.err)
        XCTAssertFalse(validated.out.contains("ca_certificate"), "no more 'not used' warning: \(validated.out)")
        let applied = try bed.dte(["apply", "--auto-approve", "--site", "local"])
        XCTAssertEqual(applied.status, 0, applied.out + applied.err)
        XCTAssertTrue(applied.out.contains("Apply complete: 1 succeeded"), applied.out)
        XCTAssertEqual(bed.slurmJobs().count, 1, "one job through the TLS agent: \(bed.slurmJobs())")
    }
}
