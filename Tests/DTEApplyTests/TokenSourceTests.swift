import DTEApply
@testable import DTEProviders
import Foundation
import XCTest

/// Which token source a site gets (the documented order), what counts as a bearer token, and how
/// an agent's refusal is read. Real files in a scratch folder; no network.
final class TokenSourceTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "dte-tokensource-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: folder + "/bin", withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testPrecedenceFlagThenRepositoryFileThenEnvironmentThenOIDCAgentThenNone() throws {
        let program = folder + "/bin/oidc-token"
        try "#!/bin/sh\nexit 1\n".write(toFile: program, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: program)
        let environment = ["DTE_TOKEN": "from-env", "PATH": "/nonexistent:" + folder + "/bin"]
        let issuer = "https://aai.example.org/realms/x"
        let all = TokenSettings(flagFiles: ["a": "/flag"], repositoryFiles: ["a": "/repo-a", "b": "/repo-b"],
                                oidcAccounts: ["e": "egi"], environment: environment)
        XCTAssertEqual(all.oidcToken, program)
        XCTAssertEqual(all.source(site: "a", issuer: issuer, audience: "dte").origin, .flagFile("/flag"))
        XCTAssertEqual(all.source(site: "b", issuer: issuer, audience: "dte").origin, .repositoryFile("/repo-b"))
        XCTAssertEqual(all.source(site: "c", issuer: issuer, audience: "dte").origin, .environment)

        let noEnvironment = TokenSettings(oidcAccounts: ["e": "egi"], environment: ["DTE_TOKEN": "", "PATH": folder + "/bin"])
        XCTAssertEqual(noEnvironment.source(site: "c", issuer: issuer, audience: "dte").origin,
                       .oidcAgent(program: program, account: issuer, audience: "dte"), "the site's issuer names the account")
        XCTAssertEqual(noEnvironment.source(site: "e", issuer: issuer, audience: nil).origin,
                       .oidcAgent(program: program, account: "egi", audience: nil), "a configured account comes before the issuer")
        XCTAssertEqual(noEnvironment.source(site: "e", issuer: nil, audience: nil).origin, .oidcAgent(program: program, account: "egi", audience: nil))
        XCTAssertEqual(noEnvironment.source(site: "d", issuer: nil, audience: nil).origin, .none, "no issuer, no account: no token")

        let noAgent = TokenSettings(oidcAccounts: ["e": "egi"], environment: ["PATH": "/nonexistent"])
        XCTAssertNil(noAgent.oidcToken)
        XCTAssertEqual(noAgent.source(site: "c", issuer: issuer, audience: "dte").origin, .none)
        XCTAssertEqual(noAgent.source(site: "e", issuer: issuer, audience: "dte").origin, .oidcAgentMissing(account: "egi"))
    }

    func testSourcesGiveTheTokenOrSayWhyNot() async throws {
        let file = folder + "/t"
        try " \n tok.en_1~+/==\r\n".write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        let warnings = Warnings()
        let settings = TokenSettings(flagFiles: ["a": file], environment: ["DTE_TOKEN": "env.token", "PATH": ""])
        let a = settings.source(site: "a", issuer: nil, audience: nil, warn: warnings.add)
        let got = try await a.token()
        XCTAssertEqual(got, "tok.en_1~+/==")
        XCTAssertEqual(warnings.all, [])
        let env = try await settings.source(site: "z", issuer: nil, audience: nil).token()
        XCTAssertEqual(env, "env.token")
        let none = try await TokenSource.noToken(site: "n").token()
        XCTAssertNil(none)

        // read anew each time; a readable-by-others file warns once
        try "second\n".write(toFile: file, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o604], ofItemAtPath: file)
        let second = try await a.token()
        XCTAssertEqual(second, "second")
        _ = try await a.token()
        XCTAssertEqual(warnings.all, ["the token file \(file) for site a can be read by other users (mode 604); chmod 600 \(file)"])

        try FileManager.default.removeItem(atPath: file)
        do {
            _ = try await a.token()
            XCTFail("a missing file gave a token")
        } catch let e as ProviderError {
            XCTAssertEqual(e.kind, .credentials)
            XCTAssertEqual(e.site, "a")
            XCTAssertTrue(e.message.hasPrefix("cannot read the token file \(file) (from --token-file a=\(file)): No such file or directory; set DTE_TOKEN"),
                          e.message)
        }
        try FileManager.default.createDirectory(atPath: file, withIntermediateDirectories: false)
        do {
            _ = try await a.token()
            XCTFail("a folder gave a token")
        } catch let e as ProviderError {
            XCTAssertTrue(e.message.contains("is not a regular file"), e.message)
        }
    }

    func testOIDCTokenIsKeptUntilAMinuteBeforeItExpires() async throws {
        let program = folder + "/bin/oidc-token"
        let count = folder + "/count"
        func jwt(expiresIn seconds: Double) -> String {
            let payload = Data(#"{"exp":\#(Int(Date().timeIntervalSince1970 + seconds)),"sub":"x"}"#.utf8).base64EncodedString()
                .replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            return "eyJhbGciOiJSUzI1NiJ9.\(payload).c2ln"
        }
        for (lifetime, expectedRuns) in [(3600.0, 1), (30.0, 3)] {
            let token = jwt(expiresIn: lifetime)
            try "#!/bin/sh\necho run >> '\(count)'\necho '\(token)'\n".write(toFile: program, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: program)
            try? FileManager.default.removeItem(atPath: count)
            let source = TokenSettings(environment: ["PATH": folder + "/bin"]).source(site: "s", issuer: "https://i.example.org", audience: "aud")
            for _ in 0..<3 {
                let got = try await source.token()
                XCTAssertEqual(got, token)
            }
            let runs = try String(contentsOfFile: count, encoding: .utf8).split(separator: "\n").count
            XCTAssertEqual(runs, expectedRuns, "a token valid for \(lifetime) s")
            // a refused token (HTTP 401) is not kept
            source.discardKept()
            _ = try await source.token()
            XCTAssertEqual(try String(contentsOfFile: count, encoding: .utf8).split(separator: "\n").count, expectedRuns + 1)
        }
    }

    func testBearerTokenTrimsAndRefusesWhatCannotBeSent() throws {
        XCTAssertEqual(try TokenSource.bearerToken(Array("\t abc.DEF-_~+/=\n\n".utf8)), "abc.DEF-_~+/=")
        func reason(_ s: [UInt8]) -> String {
            do {
                _ = try TokenSource.bearerToken(s)
                return "accepted"
            } catch {
                return error.reason
            }
        }
        XCTAssertEqual(reason(Array(" \n\t".utf8)), "is empty")
        XCTAssertEqual(reason(Array("ab\ncd".utf8)), "has a control character at byte 3 (a bearer token is letters, digits and -._~+/ with = padding at the end)")
        XCTAssertTrue(reason(Array("ab cd".utf8)).hasPrefix("has a character a bearer token cannot have at byte 3"))
        XCTAssertTrue(reason(Array("ab=cd".utf8)).hasPrefix("has a character a bearer token cannot have at byte 4"), "= only at the end")
        XCTAssertTrue(reason(Array("tökén".utf8)).hasPrefix("has a character a bearer token cannot have at byte 2"))
        XCTAssertTrue(reason(Array("a\"b".utf8)).hasPrefix("has a character a bearer token cannot have at byte 2"))
        XCTAssertEqual(reason([UInt8](repeating: 0x61, count: TokenSource.maximumTokenBytes)), "accepted")
        XCTAssertEqual(reason([UInt8](repeating: 0x61, count: TokenSource.maximumTokenBytes + 1)),
                       "is 16385 bytes long, more than the 16384 a bearer token may have")
    }

    func testChallengeAndExcerpt() {
        XCTAssertEqual(AgentProvider.challengeParameters(#"Bearer realm="dte", error="invalid_token", error_description="the token \"x\" expired""#),
                       ["realm": "dte", "error": "invalid_token", "error_description": #"the token "x" expired"#])
        XCTAssertEqual(AgentProvider.challengeParameters("Bearer error=insufficient_scope,scope=openid"),
                       ["error": "insufficient_scope", "scope": "openid"])
        XCTAssertEqual(AgentProvider.challengeParameters(#"Bearer ,,= "broken"#), [:])
        XCTAssertEqual(AgentProvider.challengeParameters(#"Bearer error_description="unterminated"#), ["error_description": "unterminated"])
        XCTAssertEqual(AgentProvider.excerpt("bad token abc.def\nsecond\u{7} line", limit: 100, redacting: "abc.def"), "bad token [token] second line")
        XCTAssertEqual(AgentProvider.excerpt(String(repeating: "x", count: 50), limit: 10, redacting: nil), "xxxxxxxxxx…")
    }

    func testPlainHTTPCarriesATokenOnlyToLoopback() {
        for ok in ["https://dte.example.org:4555", "http://127.0.0.1:4555", "http://localhost:1", "http://[::1]:4555", "http+unix://%2Ftmp%2Fa.sock"] {
            XCTAssertTrue(AgentProvider.protectsToken(ok), ok)
        }
        for bad in ["http://dte.example.org:4555", "http://10.0.0.1", "ftp://x", "not a url", "http://127.0.0.1.example.org"] {
            XCTAssertFalse(AgentProvider.protectsToken(bad), bad)
        }
    }
}

/// Collects warnings a token source gives.
final class Warnings: @unchecked Sendable {
    // `list` is guarded by `lock`
    private let lock = NSLock()
    private var list: [String] = []
    var add: @Sendable (String) -> Void { { [self] message in lock.withLock { list.append(message) } } }
    var all: [String] { lock.withLock { list } }
}
