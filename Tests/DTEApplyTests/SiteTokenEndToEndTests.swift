import DTETestSupport
import Foundation
import XCTest

/// `dte plan/apply/status/logs` send each site a bearer token from DTE_TOKEN, a token file
/// (`--token-file`, dte.yaml `sites.<site>.token_file`) or oidc-agent, and turn a 401 or 403 into
/// an error naming the site and what to do. The real `dte` against a scratch repository whose site
/// is a loopback server that checks the token (`TokenCheckingSite`); the token must never show up
/// in what dte prints or saves.
final class SiteTokenEndToEndTests: XCTestCase {
    static let issuer = "https://issuer.example.org/realms/dte"
    var folder = ""
    var repository: String { folder + "/repo" }
    var sites: [String: TokenCheckingSite] = [:]
    var site: TokenCheckingSite { sites["local"]! }

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "dte-token-" + UUID().uuidString.prefix(8).lowercased()
        let fm = FileManager.default
        try fm.createDirectory(atPath: repository + "/templates/dte", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: repository + "/sites", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: folder + "/bin", withIntermediateDirectories: true)
        try "version: 1\n".write(toFile: repository + "/dte.yaml", atomically: true, encoding: .utf8)
        try fm.copyItem(atPath: packageRoot + "/templates/dte/types.yaml", toPath: repository + "/templates/dte/types.yaml")
        try addSite("local")
        try writeTwin(["hello": "local"])
    }

    override func tearDown() {
        for s in sites.values { s.stop() }
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// A site named `name`: the development cluster's descriptor with this test's loopback server
    /// as its agent, which declares an OIDC issuer and audience.
    func addSite(_ name: String) throws {
        let server = try TokenCheckingSite(accepting: [])
        sites[name] = server
        let local = try String(contentsOfFile: packageRoot + "/sites/local.yaml", encoding: .utf8)
        let descriptor = local.replacingOccurrences(of: "\n    local:\n", with: "\n    \(name):\n")
            .replacingOccurrences(of: "endpoint: http://127.0.0.1:4555",
                                  with: "endpoint: \(server.url)\n          issuer: \(Self.issuer)\n          audience: dte-agent")
        XCTAssertTrue(descriptor.contains("issuer: \(Self.issuer)"))
        try descriptor.write(toFile: repository + "/sites/\(name).yaml", atomically: true, encoding: .utf8)
    }

    /// Twin `tok` with one batch job per entry (component → site); `after` orders them.
    func writeTwin(_ components: KeyValuePairs<String, String>, after: [String: String] = [:]) throws {
        var text = """
        tosca_definitions_version: tosca_simple_yaml_1_3
        imports: [dte/types.yaml]
        topology_template:
          node_templates:
            tok: { type: dte.nodes.DigitalTwin, properties: { project: demo, source: https://example.org/tokens } }

        """
        for (name, _) in components {
            let needs = after[name].map { ", { after: \($0) }" } ?? ""
            text += """
                \(name):
                  type: dte.nodes.BatchJob
                  properties: { image: docker://debian:12, command: [echo, hi], cpus: 1, memory: 32 MB, walltime: 5 m, runtime: bwrap }
                  requirements: [ { twin: tok }\(needs) ]

            """
        }
        text += "  policies:\n"
        for (name, siteName) in components {
            text += "    - \(name)-here: { type: dte.policies.Placement, properties: { sites: [\(siteName)], partition: batch }, targets: [\(name)] }\n"
        }
        try text.write(toFile: repository + "/templates/tok.yaml", atomically: true, encoding: .utf8)
    }

    /// A token of its own (URL-safe, like a JWT's characters), so a leak of it is noticed.
    func newToken() -> String {
        "eyJ" + UUID().uuidString.replacingOccurrences(of: "-", with: "") + "." + UUID().uuidString.prefix(8) + "_sig"
    }

    /// Writes a token file with the given mode.
    func writeToken(_ token: String, to path: String, mode: Int = 0o600) throws {
        try Self.writeToken(token, to: path, mode: mode)
    }

    static func writeToken(_ token: String, to path: String, mode: Int = 0o600) throws {
        try (token + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    /// Runs `dte` in the repository with this test's state; no DTE_TOKEN and no oidc-token unless given.
    @discardableResult
    func dte(_ args: [String], env: [String: String] = [:]) throws -> CommandOutput {
        var environment = ["NO_COLOR": "1", "DTE_TOKEN": "", "PATH": folder + "/bin:/usr/bin:/bin"]
        environment.merge(env) { _, new in new }
        let takesState = ["plan", "apply", "status", "logs"].contains(args.first ?? "")
        return try runCommand(builtExecutable("dte"), args + (takesState ? ["--state", folder + "/state.db"] : []),
                              in: repository, environment: environment)
    }

    func assertHidden(_ token: String, in outputs: [CommandOutput], file: StaticString = #filePath, line: UInt = #line) {
        for o in outputs {
            XCTAssertFalse(o.out.contains(token), "the token is in standard output: \(o.out)", file: file, line: line)
            XCTAssertFalse(o.err.contains(token), "the token is in standard error: \(o.err)", file: file, line: line)
        }
    }

    func testEnvironmentTokenReachesEveryCallAndIsNeverShown() throws {
        let token = newToken()
        site.accept([token])
        let env = ["DTE_TOKEN": token]
        let applied = try dte(["apply", "--auto-approve"], env: env)
        XCTAssertEqual(applied.status, 0, applied.out + applied.err)
        XCTAssertTrue(applied.out.contains("twin.tok.hello: created (job 1000)"), applied.out)

        let planFile = folder + "/plan.json"
        let plan = try dte(["plan", "--out", planFile], env: env)
        XCTAssertEqual(plan.status, 0, plan.err)
        let json = try dte(["plan", "--json"], env: env)
        XCTAssertEqual(json.status, 0, json.err)
        XCTAssertTrue(json.out.contains("\"format_version\""), json.out)
        let markdown = try dte(["plan", "--markdown"], env: env)
        XCTAssertEqual(markdown.status, 0, markdown.err)
        let status = try dte(["status"], env: env)
        XCTAssertEqual(status.status, 0, status.err)
        XCTAssertTrue(status.out.contains("twin.tok.hello  local  job 1000  succeeded (exit 0)"), status.out)
        let logs = try dte(["logs", "twin.tok.hello"], env: env)
        XCTAssertEqual(logs.status, 0, logs.err)
        XCTAssertEqual(logs.out, "hello from the site\n")
        let followed = try dte(["logs", "-f", "twin.tok.hello"], env: env)
        XCTAssertEqual(followed.out, "hello from the site\n", followed.err)
        let reapplied = try dte(["apply", planFile], env: env)
        XCTAssertEqual(reapplied.status, 0, reapplied.out + reapplied.err)

        let received = site.received
        XCTAssertEqual(Set(received.map(\.path)), ["/create", "/status", "/getLogs"])
        XCTAssertEqual(received.filter { $0.path == "/status" }.count, 4, "plan ×3 and status each ask the site")
        for r in received { XCTAssertEqual(r.authorization, "Bearer " + token, r.path) }

        assertHidden(token, in: [applied, plan, json, markdown, status, logs, followed, reapplied])
        let saved = try String(contentsOfFile: planFile, encoding: .utf8)
        XCTAssertTrue(saved.contains("twin.tok.hello"))
        XCTAssertTrue(saved.replacingOccurrences(of: "\\/", with: "/").contains(Self.issuer), "the plan records where the site's tokens come from")
        XCTAssertFalse(saved.contains(token), "the saved plan holds the token")
        let state = try Data(contentsOf: URL(fileURLWithPath: folder + "/state.db"))
        XCTAssertNil(state.range(of: Data(token.utf8)), "the state holds the token")
    }

    func testTokenFileIsReadAnewForEveryRequest() throws {
        let first = newToken(), second = newToken()
        site.accept([first, second])
        let file = folder + "/local.token"
        try writeToken(first, to: file)
        let applied = try dte(["apply", "--auto-approve", "--token-file", "local=" + file])
        XCTAssertEqual(applied.status, 0, applied.out + applied.err)
        XCTAssertEqual(site.received, [.init(path: "/create", authorization: "Bearer " + first)])
        XCTAssertFalse(applied.err.contains("warning"), "a 0600 token file is fine: \(applied.err)")

        // one apply: its refresh asks /status with the first token, the file changes meanwhile,
        // and the /create after it carries the second
        site.forget()
        site.onRequest { path in
            if path == "/status" { try? Self.writeToken(second, to: file) }
        }
        try writeTwin(["hello": "local", "world": "local"])
        let again = try dte(["apply", "--auto-approve", "--token-file", "local=" + file])
        XCTAssertEqual(again.status, 0, again.out + again.err)
        XCTAssertEqual(site.received, [.init(path: "/status", authorization: "Bearer " + first),
                                       .init(path: "/create", authorization: "Bearer " + second)])
        assertHidden(first, in: [applied, again])
        assertHidden(second, in: [applied, again])

        // a token file others may read gets a warning; a missing one is an error naming it
        try writeToken(second, to: file, mode: 0o644)
        let open = try dte(["plan", "--token-file", "local=" + file])
        XCTAssertEqual(open.status, 0, open.err)
        XCTAssertTrue(open.err.contains("warning: the token file \(file) for site local can be read by other users (mode 644); chmod 600 \(file)"),
                      open.err)
        let missing = try dte(["plan", "--token-file", "local=" + folder + "/nowhere.token"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.err.contains("cannot read the token file \(folder)/nowhere.token (from --token-file local=\(folder)/nowhere.token): "
                                           + "No such file or directory"), missing.err)
        let typo = try dte(["plan", "--token-file", "lcoal=" + file])
        XCTAssertEqual(typo.status, 1)
        XCTAssertTrue(typo.err.contains("--token-file lcoal=…: no such site (sites: local)"), typo.err)
        XCTAssertEqual(try dte(["plan", "--token-file", "local"]).status, 64)
    }

    func testPrecedenceFlagThenRepositoryFileThenEnvironment() throws {
        let flagToken = newToken(), fileToken = newToken(), envToken = newToken()
        site.accept([flagToken, fileToken, envToken])
        try FileManager.default.createDirectory(atPath: repository + "/.dte", withIntermediateDirectories: true)
        try writeToken(fileToken, to: repository + "/.dte/local.token", mode: 0o640)
        try "version: 1\nsites:\n  local:\n    token_file: .dte/local.token\n".write(toFile: repository + "/dte.yaml", atomically: true, encoding: .utf8)
        let valid = try dte(["validate"])
        XCTAssertEqual(valid.status, 0, valid.out)

        let applied = try dte(["apply", "--auto-approve"], env: ["DTE_TOKEN": envToken])
        XCTAssertEqual(applied.status, 0, applied.out + applied.err)
        XCTAssertEqual(site.received.last, .init(path: "/create", authorization: "Bearer " + fileToken), "dte.yaml's token_file comes before DTE_TOKEN")
        let path = repository + "/.dte/local.token"
        XCTAssertTrue(applied.err.contains("warning: the token file \(path) for site local can be read by other users (mode 640)"), applied.err)

        let flagFile = folder + "/flag.token"
        try writeToken(flagToken, to: flagFile)
        let plan = try dte(["plan", "--token-file", "local=" + flagFile], env: ["DTE_TOKEN": envToken])
        XCTAssertEqual(plan.status, 0, plan.err)
        XCTAssertEqual(site.received.last, .init(path: "/status", authorization: "Bearer " + flagToken), "--token-file comes first")

        try "version: 1\n".write(toFile: repository + "/dte.yaml", atomically: true, encoding: .utf8)
        let status = try dte(["status"], env: ["DTE_TOKEN": envToken])
        XCTAssertEqual(status.status, 0, status.err)
        XCTAssertEqual(site.received.last, .init(path: "/status", authorization: "Bearer " + envToken))
        assertHidden(fileToken, in: [applied, plan, status])
        assertHidden(flagToken, in: [applied, plan, status])
        assertHidden(envToken, in: [applied, plan, status])

        // a token_file that is not there is an error naming it and where it was configured
        try "version: 1\nsites:\n  local: { token_file: .dte/gone.token }\n".write(toFile: repository + "/dte.yaml", atomically: true, encoding: .utf8)
        let gone = try dte(["plan"], env: ["DTE_TOKEN": envToken])
        XCTAssertEqual(gone.status, 1)
        XCTAssertTrue(gone.err.contains("cannot refresh site local: cannot read the token file \(repository)/.dte/gone.token "
                                        + "(from token_file \(repository)/.dte/gone.token for site local in dte.yaml)"), gone.err)
        // a site dte.yaml names that the repository does not have gets a warning
        try "version: 1\nsites:\n  lcoal: { token_file: .dte/local.token }\n".write(toFile: repository + "/dte.yaml", atomically: true, encoding: .utf8)
        let typo = try dte(["plan"], env: ["DTE_TOKEN": envToken])
        XCTAssertEqual(typo.status, 0, typo.err)
        XCTAssertTrue(typo.err.contains("warning: dte.yaml has settings under sites: for lcoal, but the repository has no site lcoal"), typo.err)
        // and the schema is checked
        try "version: 1\nsites:\n  local: { token_flie: x, oidc_account: -x }\n".write(toFile: repository + "/dte.yaml", atomically: true, encoding: .utf8)
        let bad = try dte(["validate"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.out.contains("unknown key \"token_flie\" in sites.local"), bad.out)
        XCTAssertTrue(bad.out.contains("sites.local.oidc_account must be an oidc-agent account name"), bad.out)
    }

    func testRefusedTokenNamesTheSiteAndTheRemedy() throws {
        let good = newToken(), stale = newToken()
        site.accept([good])
        XCTAssertEqual(try dte(["apply", "--auto-approve"], env: ["DTE_TOKEN": good]).status, 0)
        let remedy = "set DTE_TOKEN or token_file for site local in dte.yaml, or pass --token-file local=PATH"

        let refused = try dte(["plan"], env: ["DTE_TOKEN": stale])
        XCTAssertEqual(refused.status, 1)
        XCTAssertEqual(refused.out, "")
        XCTAssertTrue(refused.err.contains("cannot refresh site local: the site refused the token from DTE_TOKEN "
                                           + "(HTTP 401 invalid_token from \(site.url)/status: the token's signature is not from the site's issuer); "
                                           + "get a fresh token, or " + remedy), refused.err)

        let none = try dte(["status"])
        XCTAssertEqual(none.status, 1)
        XCTAssertTrue(none.err.contains("the site requires a bearer token and none was sent (HTTP 401 invalid_token from \(site.url)/status: "
                                        + "no bearer token in the request); " + remedy), none.err)

        let logs = try dte(["logs", "twin.tok.hello"], env: ["DTE_TOKEN": stale])
        XCTAssertEqual(logs.status, 1)
        XCTAssertTrue(logs.err.contains("cannot get the log of twin.tok.hello from site local: the site refused the token from DTE_TOKEN "
                                        + "(HTTP 401 invalid_token from \(site.url)/getLogs"), logs.err)

        try writeTwin(["hello": "local", "world": "local"])
        let applied = try dte(["apply", "--auto-approve", "--refresh=false"], env: ["DTE_TOKEN": stale])
        XCTAssertEqual(applied.status, 1)
        XCTAssertTrue(applied.out.contains("twin.tok.world: failed: site local: the site refused the token from DTE_TOKEN "
                                           + "(HTTP 401 invalid_token from \(site.url)/create"), applied.out)
        XCTAssertTrue(applied.out.contains(remedy), applied.out)
        assertHidden(stale, in: [refused, none, logs, applied])
    }

    func testForbiddenNamesTheEntitlement() throws {
        let token = newToken()
        site.accept([token])
        XCTAssertEqual(try dte(["apply", "--auto-approve"], env: ["DTE_TOKEN": token]).status, 0)
        site.setMode(.forbid)
        for command in [["plan"], ["status"], ["plan", "--json"]] {
            let r = try dte(command, env: ["DTE_TOKEN": token])
            XCTAssertEqual(r.status, 1, command.joined(separator: " "))
            XCTAssertTrue(r.err.contains("cannot refresh site local: the token's identity lacks the entitlement the site requires: "
                                         + "the caller lacks the entitlement \(TokenCheckingSite.entitlement) "
                                         + "(HTTP 403 insufficient_scope from \(site.url)/status); "
                                         + "ask the site or your project for it, or use a token of an identity that has it (this one came from DTE_TOKEN)"),
                          r.err)
            assertHidden(token, in: [r])
        }
    }

    func testOIDCAgentIsAskedForTheSitesIssuerOrTheConfiguredAccount() throws {
        let token = newToken()
        site.accept([token])
        let script = folder + "/bin/oidc-token"
        // stands in for oidc-agent's client: records how it was called, prints a token
        try """
        #!/bin/sh
        printf '%s\\n' "$@" > "\(folder)/oidc-arguments"
        echo '\(token)'

        """.write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        let applied = try dte(["apply", "--auto-approve"])
        XCTAssertEqual(applied.status, 0, applied.out + applied.err)
        XCTAssertEqual(site.received.last, .init(path: "/create", authorization: "Bearer " + token))
        XCTAssertEqual(try String(contentsOfFile: folder + "/oidc-arguments", encoding: .utf8), "--aud=dte-agent\n\(Self.issuer)\n")

        try "version: 1\nsites:\n  local: { oidc_account: egi-dev }\n".write(toFile: repository + "/dte.yaml", atomically: true, encoding: .utf8)
        let plan = try dte(["plan"])
        XCTAssertEqual(plan.status, 0, plan.err)
        XCTAssertEqual(site.received.last, .init(path: "/status", authorization: "Bearer " + token))
        XCTAssertEqual(try String(contentsOfFile: folder + "/oidc-arguments", encoding: .utf8), "--aud=dte-agent\negi-dev\n")
        assertHidden(token, in: [applied, plan])

        try "#!/bin/sh\necho 'Could not connect to oidc-agent' >&2\nexit 1\n".write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        let failed = try dte(["plan"])
        XCTAssertEqual(failed.status, 1)
        XCTAssertTrue(failed.err.contains("cannot refresh site local: oidc-token --aud=dte-agent egi-dev failed (exit 1): Could not connect to oidc-agent; "
                                          + "start oidc-agent and load the account (oidc-add egi-dev), or set DTE_TOKEN"), failed.err)

        try FileManager.default.removeItem(atPath: script)
        let missing = try dte(["plan"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.err.contains("dte.yaml names the oidc-agent account egi-dev for site local, but oidc-token is not on PATH"), missing.err)
    }

    func testMalformedTokensAreRefusedWithoutBeingShown() throws {
        // a recorded resource, so that plan asks the site
        let token = newToken()
        site.accept([token])
        XCTAssertEqual(try dte(["apply", "--auto-approve"], env: ["DTE_TOKEN": token]).status, 0)
        site.forget()

        let control = try dte(["plan"], env: ["DTE_TOKEN": "abc\u{1B}secretpart"])
        XCTAssertEqual(control.status, 1)
        XCTAssertTrue(control.err.contains("the token from DTE_TOKEN has a control character at byte 4"), control.err)
        XCTAssertFalse(control.err.contains("secretpart"), control.err)

        let file = folder + "/big.token"
        try writeToken(String(repeating: "a", count: 20_000), to: file)
        let big = try dte(["plan", "--token-file", "local=" + file])
        XCTAssertEqual(big.status, 1)
        XCTAssertTrue(big.err.contains("is 20000 bytes long, more than the 16384 a bearer token may have"), big.err)

        try writeToken("two words", to: file)
        let spaced = try dte(["plan", "--token-file", "local=" + file])
        XCTAssertEqual(spaced.status, 1)
        XCTAssertTrue(spaced.err.contains("has a character a bearer token cannot have at byte 4"), spaced.err)
        XCTAssertFalse(spaced.err.contains("words"), spaced.err)

        try writeToken("   \n", to: file)
        let empty = try dte(["plan", "--token-file", "local=" + file])
        XCTAssertEqual(empty.status, 1)
        XCTAssertTrue(empty.err.contains("the token from --token-file local=\(file) is empty"), empty.err)
        XCTAssertEqual(site.received, [], "nothing was sent with a malformed token")
    }

    func testPlainHTTPCarriesATokenOnlyToLoopback() throws {
        let token = newToken()
        site.accept([token])
        XCTAssertEqual(try dte(["apply", "--auto-approve"], env: ["DTE_TOKEN": token]).status, 0)
        let remote = try dte(["plan", "--agent", "local=http://dte.example.org:4555"], env: ["DTE_TOKEN": token])
        XCTAssertEqual(remote.status, 1)
        XCTAssertTrue(remote.err.contains("refusing to send the token from DTE_TOKEN in clear over http to http://dte.example.org:4555"), remote.err)
        assertHidden(token, in: [remote])
    }

    func testWaitingAcrossSitesSendsEachSiteItsToken() throws {
        try addSite("west")
        let east = site, west = sites["west"]!
        let eastToken = newToken(), westToken = newToken()
        east.accept([eastToken])
        west.accept([westToken])
        try FileManager.default.createDirectory(atPath: repository + "/.dte", withIntermediateDirectories: true)
        try writeToken(eastToken, to: repository + "/.dte/local.token")
        try writeToken(westToken, to: repository + "/.dte/west.token")
        try """
        version: 1
        sites:
          local: { token_file: .dte/local.token }
          west: { token_file: .dte/west.token }

        """.write(toFile: repository + "/dte.yaml", atomically: true, encoding: .utf8)
        try writeTwin(["hello": "local", "world": "west"], after: ["world": "hello"])
        let applied = try dte(["apply", "--auto-approve"])
        XCTAssertEqual(applied.status, 0, applied.out + applied.err)
        XCTAssertEqual(east.received, [.init(path: "/create", authorization: "Bearer " + eastToken),
                                       .init(path: "/status", authorization: "Bearer " + eastToken)], "the wait asks east with east's token")
        XCTAssertEqual(west.received, [.init(path: "/create", authorization: "Bearer " + westToken)])

        // the wait ends at once when the site refuses the token: asking again cannot help
        try dte(["apply", "--auto-approve", "--destroy"])
        east.onRequest { path in if path == "/status" { east.setMode(.refuseAll) } }
        west.forget()
        let started = Date()
        let refused = try dte(["apply", "--auto-approve"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
        XCTAssertTrue(refused.out.contains("twin.tok.world: failed: cannot learn whether twin.tok.hello finished: site local: the site refused the token from "
                                           + "token_file \(repository)/.dte/local.token for site local in dte.yaml"), refused.out)
        XCTAssertEqual(west.received.map(\.path), [], "nothing was submitted on west")
        assertHidden(eastToken, in: [applied, refused])
        assertHidden(westToken, in: [applied, refused])
    }
}
