import DTETestSupport
import EdgeAgent
import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PodWire
import Testing

/// The real `dte-agent` with OIDC on, against an issuer made in the test (discovery, JWKS and
/// UserInfo on loopback), submitting held jobs to the real Slurm.
@Suite(.serialized) final class OIDCAccessTests {
    static let audience = "dte-test"
    static let member = "urn:mace:egi.eu:group:dte-test.eu#aai.test"
    static let secretMember = "urn:mace:egi.eu:group:dte-test.eu:secret:role=member#aai.test"

    let issuer: TestIssuer
    let agent: TestAgentProcess
    let folder: String
    let logFile: String
    /// Every token sent, for the scan of the agent's log.
    var tokens: [String] = []
    /// Jobs created (cancelled at the end whatever happens).
    var jobs: [String] = []

    init() async throws {
        try SlurmCluster.require()
        folder = NSTemporaryDirectory() + "dte-oidc-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        logFile = folder + "/agent.log"
        issuer = try await TestIssuer.start()
        agent = try startTestAgent(dataDir: folder + "/agent", arguments: [
            "--oidc-issuer", issuer.url, "--oidc-audience", Self.audience, "--oidc-key-refresh", "1",
            "--entitlement", Self.member, "--namespace-entitlement", "secret=\(Self.secretMember)",
            "--max-pods-per-identity", "3", "--hold-jobs", "--log-level", "debug",
        ], logFile: logFile)
    }

    deinit {
        agent.process.terminate()
        agent.process.waitUntilExit()
        issuer.stop()
        for job in jobs { _ = CommandRunner.runBlocking("scancel", [job], environment: nil) }
        try? FileManager.default.removeItem(atPath: folder)
    }

    struct Answer {
        var status: Int
        var body: String
        var authenticate: String?
    }

    func call(_ path: String, token: String?, body: Data = Data("[]".utf8), method: String = "POST",
              authorization: String? = nil) async throws -> Answer {
        var request = URLRequest(url: URL(string: agent.url + path)!)
        request.httpMethod = method
        if method != "GET" { request.httpBody = body }
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let token {
            tokens.append(token)
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        }
        if let authorization { request.setValue(authorization, forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        if path == "/create", http.statusCode == 200, let created = try? JSONDecoder().decode(CreateResponse.self, from: data) {
            jobs.append(created.podJID)
        }
        return Answer(status: http.statusCode, body: String(decoding: data, as: UTF8.self),
                      authenticate: http.value(forHTTPHeaderField: "WWW-Authenticate"))
    }

    func token(_ subject: String, entitlements: [String]? = [member], _ overrides: [String: Any] = [:],
               kid: String = "k1") async throws -> String {
        try await issuer.token(issuer.claims(subject: subject, entitlements: entitlements, overrides), kid: kid)
    }

    func pod(_ name: String, namespace: String) -> RetrievedPodData {
        Fixtures.pod(name, namespace: namespace, containers: [Fixtures.container("main", ["true"])])
    }

    /// Slurm's state of a job (`squeue`), nil when slurmctld no longer holds it.
    static func slurmState(_ job: String) -> String? {
        guard case .success(let result) = CommandRunner.runBlocking("squeue", ["-h", "-j", job, "-o", "%T"], environment: nil),
              result.status == 0 else { return nil }
        let state = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return state.isEmpty ? nil : state
    }

    /// Nothing a test sent is in the agent's log (called at the end of every test).
    func expectNoTokenInTheLog() throws {
        let log = try String(contentsOfFile: logFile, encoding: .utf8)
        #expect(log.contains("dte-agent listening"))
        for token in tokens {
            #expect(!log.contains(token))
            if let signature = token.split(separator: ".").last, signature.count > 16 { #expect(!log.contains(signature)) }
        }
    }

    // MARK: -

    @Test func everyBadTokenIsRefusedWithTheReason() async throws {
        let now = Int(Date().timeIntervalSince1970)
        let missing = try await call("/status", token: nil)
        #expect(missing.status == 401)
        #expect(missing.authenticate?.contains("error=\"invalid_request\"") == true)

        let notBearer = try await call("/status", token: nil, authorization: "Basic dXNlcjpwYXNz")
        #expect(notBearer.status == 401)

        let cases: [(String, String, String)] = [
            ("malformed", "not.a.jwt", "not base64url"),
            ("expired", try await token("alice", ["exp": now - 600, "iat": now - 4000, "nbf": now - 4000]), "expired"),
            ("not yet valid", try await token("alice", ["nbf": now + 900]), "not valid yet"),
            ("issued in the future", try await token("alice", ["iat": now + 900]), "future"),
            ("no expiry", try await token("alice", ["exp": NSNull()]), "no expiry"),
            ("wrong issuer", try await token("alice", ["iss": "https://evil.example.org"]), "issuer"),
            ("wrong audience", try await issuer.token(issuer.claims(subject: "alice", audience: "other-service",
                                                                    entitlements: [Self.member])), "aud"),
            ("alg none", TestIssuer.unsignedToken(issuer.claims(subject: "alice", entitlements: [Self.member])), "algorithm none"),
            ("HS256 with the public key", try await issuer.hmacWithPublicKeyToken(
                issuer.claims(subject: "alice", entitlements: [Self.member])), "algorithm HS256"),
            ("unknown kid", try await signedByUnpublishedKey(), "does not publish"),
        ]
        for (what, token, reason) in cases {
            let answer = try await call("/status", token: token)
            #expect(answer.status == 401, "\(what): \(answer.status) \(answer.body)")
            #expect(answer.authenticate?.contains("error=\"invalid_token\"") == true, "\(what): \(answer.authenticate ?? "-")")
            #expect(answer.body.contains(reason), "\(what): \(answer.body)")
        }
        // The tampered signature of a good token fails too.
        var good = try await token("alice")
        good.removeLast(4)
        good += "AAAA"
        #expect(try await call("/status", token: good).status == 401)
        // Not one of these tokens reaches a route: the agent is up and a good token is answered.
        #expect(try await call("/status", token: try await token("alice")).status == 200)
        try expectNoTokenInTheLog()
    }

    private func signedByUnpublishedKey() async throws -> String {
        try await issuer.addKey(kid: "never-published", publish: false)
        return try await token("alice", kid: "never-published")
    }

    @Test func aRotatedKeyIsFetchedWhenATokenNamesIt() async throws {
        #expect(try await call("/status", token: try await token("alice")).status == 200)
        try await issuer.addKey(kid: "k2", publish: false, rsa: true)
        let early = try await call("/status", token: try await token("alice", kid: "k2"))
        #expect(early.status == 401)
        issuer.publish(kid: "k2")
        try await Task.sleep(for: .milliseconds(1100))   // the agent refetches at most once a second here
        let rotated = try await call("/status", token: try await token("alice", kid: "k2"))
        #expect(rotated.status == 200, "\(rotated.body)")
        try expectNoTokenInTheLog()
    }

    @Test func entitlementsDecideWhoMayCall() async throws {
        let none = try await call("/status", token: try await token("mallory", entitlements: ["urn:mace:egi.eu:group:other.eu#aai.test"]))
        #expect(none.status == 403)
        #expect(none.authenticate?.contains("insufficient_scope") == true)
        #expect(none.body.contains(Self.member))
        // A member of a subgroup counts for the group; the authority part is ignored.
        let sub = try await token("sam", entitlements: ["urn:mace:egi.eu:group:dte-test.eu:students:role=member#other.authority"])
        #expect(try await call("/status", token: sub).status == 200)
        // No entitlements in the token: the issuer's UserInfo is asked.
        issuer.setUserInfo(subject: "uma", entitlements: [Self.member])
        #expect(try await call("/status", token: try await token("uma", entitlements: nil)).status == 200)
        issuer.setUserInfo(subject: "ulrich", entitlements: [])
        #expect(try await call("/status", token: try await token("ulrich", entitlements: nil)).status == 403)
        try expectNoTokenInTheLog()
    }

    @Test func aPodInANamespaceTheCallerMayNotUseDoesNotExistForIt() async throws {
        let alice = try await token("alice", entitlements: [Self.member, Self.secretMember])
        let bob = try await token("bob")
        let secret = pod("hidden", namespace: "secret")
        let uid = secret.pod.metadata.uid
        let created = try await call("/create", token: alice, body: try JSONEncoder().encode(secret))
        #expect(created.status == 200, "\(created.body)")
        let job = try JSONDecoder().decode(CreateResponse.self, from: Data(created.body.utf8)).podJID

        // Bob cannot create there, and for him the pod does not exist.
        #expect(try await call("/create", token: bob, body: try JSONEncoder().encode(pod("mine", namespace: "secret"))).status == 403)
        let ref = Pod(metadata: ObjectMeta(name: "hidden", namespace: "secret", uid: uid), spec: PodSpec(containers: []))
        let status = try await call("/status", token: bob, body: try JSONEncoder().encode([ref]))
        #expect(status.status == 200)
        #expect(try JSONDecoder().decode([PodStatus].self, from: Data(status.body.utf8)).isEmpty)
        let lying = Pod(metadata: ObjectMeta(name: "hidden", namespace: "open", uid: uid), spec: PodSpec(containers: []))
        #expect(try JSONDecoder().decode([PodStatus].self, from: Data(try await call("/status", token: bob,
                                                                                      body: try JSONEncoder().encode([lying])).body.utf8)).isEmpty)
        let logs = LogStruct(namespace: "open", podUID: uid, podName: "hidden", containerName: "main", opts: LogOptions())
        #expect(try await call("/getLogs", token: bob, body: try JSONEncoder().encode(logs)).status == 404)
        let delete = try await call("/delete", token: bob, body: try JSONEncoder().encode(lying))
        #expect(delete.status == 404)
        // Reusing the UID from another namespace does not reach the job either.
        #expect(try await call("/create", token: bob, body: try JSONEncoder().encode(
            Fixtures.pod("hidden", uid: uid, namespace: "open", containers: [Fixtures.container("main", ["true"])]))).status == 409)
        // Its job is untouched.
        #expect(Self.slurmState(job) == "PENDING")

        // Alice sees and deletes it.
        let hers = try await call("/status", token: alice, body: try JSONEncoder().encode([ref]))
        #expect(try JSONDecoder().decode([PodStatus].self, from: Data(hers.body.utf8)).first?.jobID == job)
        #expect(try await call("/delete", token: alice, body: try JSONEncoder().encode(ref)).status == 200)
        try expectNoTokenInTheLog()
    }

    @Test func oneIdentityCannotFillTheAgent() async throws {
        let carol = try await token("carol")
        var created: [Pod] = []
        for index in 0..<3 {
            let pod = pod("carol-\(index)", namespace: "open")
            let answer = try await call("/create", token: carol, body: try JSONEncoder().encode(pod))
            #expect(answer.status == 200, "\(answer.body)")
            created.append(pod.pod)
        }
        let fourth = try await call("/create", token: carol, body: try JSONEncoder().encode(pod("carol-3", namespace: "open")))
        #expect(fourth.status == 409)
        #expect(fourth.body.contains("max-pods-per-identity 3"))
        let dave = try await token("dave")
        let other = pod("dave-0", namespace: "open")
        #expect(try await call("/create", token: dave, body: try JSONEncoder().encode(other)).status == 200)
        for pod in created + [other.pod] {
            let owner = pod.metadata.name.hasPrefix("carol") ? carol : dave
            #expect(try await call("/delete", token: owner, body: try JSONEncoder().encode(pod)).status == 200)
        }
        try expectNoTokenInTheLog()
    }

    @Test func theAuthorizationHeaderIsReadAsRFC6750Writes() async throws {
        let good = try await token("alice")
        tokens.append(good)
        // the scheme in any case, extra spaces before it and spaces or tabs around the token
        for header in ["Bearer \(good)", "bearer \(good)", "BEARER   \(good) \t", "  Bearer \(good)"] {
            #expect(try await call("/status", token: nil, authorization: header).status == 200, "\(header.prefix(12))")
        }
        // no token, no separator, another scheme, or a token with something after it
        for header in ["Bearer", "Bearer    ", "Bearer\t\(good)", "Bearer\(good)", "Bearers \(good)", "Basic \(good)", "Bearer \(good) x"] {
            let answer = try await call("/status", token: nil, authorization: header)
            #expect(answer.status == 401, "\(header.prefix(12)): \(answer.status)")
        }
        try expectNoTokenInTheLog()
    }

    /// The cache of verified tokens (read without the verifier's actor) ends with the token: an
    /// expired token is refused even though it was accepted before.
    @Test func aCachedTokenIsAcceptedOnlyUntilItExpires() async throws {
        let clock = NIOLockedValueBox(Date().timeIntervalSince1970)
        var settings = AccessSettings()
        settings.issuers = [issuer.url]
        settings.audience = Self.audience
        settings.leewaySeconds = 5
        let verifier = OIDCVerifier(settings: settings, client: HTTPClient.shared, logger: Logger(label: "test"),
                                    now: { clock.withLockedValue { $0 } })
        let start = Int(clock.withLockedValue { $0 })
        let token = try await token("erin", ["exp": start + 60, "iat": start, "nbf": start])
        #expect(verifier.cached(token) == nil, "never verified, not cached")
        let caller = try await verifier.verify(token)
        #expect(caller.subject == "erin")
        #expect(verifier.cached(token)?.subject == "erin")
        clock.withLockedValue { $0 += 64 }
        #expect(verifier.cached(token)?.subject == "erin", "within the leeway")
        clock.withLockedValue { $0 += 2 }
        #expect(verifier.cached(token) == nil, "past expiry and leeway")
        await #expect(throws: AuthFailure.self) { try await verifier.verify(token) }
    }

    /// `/v1/access` answers about the caller only: what it may act on, and what it lacks.
    @Test func accessSaysWhetherTheCallerMayActOnANamespace() async throws {
        let alice = try await token("alice")
        func ask(_ namespace: String, _ token: String?) async throws -> (Int, AccessAnswer?) {
            let answer = try await call("/v1/access", token: token, body: try JSONEncoder().encode(AccessQuery(namespace: namespace)))
            return (answer.status, try? JSONDecoder().decode(AccessAnswer.self, from: Data(answer.body.utf8)))
        }
        let open = try await ask("open", alice)
        #expect(open.0 == 200 && open.1?.allowed == true && open.1?.requirement == nil && open.1?.identity.hasPrefix("alice@") == true)
        let secret = try await ask("secret", alice)
        #expect(secret.0 == 200 && secret.1?.allowed == false)
        #expect(secret.1?.requirement?.contains(Self.secretMember) == true, "\(String(describing: secret.1))")
        let insider = try await ask("secret", try await token("bob", entitlements: [Self.member, Self.secretMember]))
        #expect(insider.1?.allowed == true)
        #expect(try await ask("secret", nil).0 == 401)
        #expect(try await ask("", alice).0 == 400)
        #expect(try await ask(String(repeating: "n", count: 300), alice).0 == 400)
        try expectNoTokenInTheLog()
    }

    @Test func healthzIsOpenAndSaysNothingElse() async throws {
        let health = try await call("/healthz", token: nil, method: "GET")
        #expect(health.status == 200)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(health.body.utf8)) as? [String: Any])
        #expect(Array(object.keys) == ["status"])
        for path in ["/v1/health", "/metrics", "/v1/capacity"] {
            #expect(try await call(path, token: nil, method: "GET").status == 401, "\(path)")
        }
        #expect(try await call("/v1/health", token: try await token("alice"), method: "GET").status == 200)
        try expectNoTokenInTheLog()
    }
}
