import Foundation
import Hummingbird
import Logging
import PodWire

/// A site on a free loopback port that requires `Authorization: Bearer <token>` the way dte-agent
/// does with an OIDC issuer (401 + RFC 6750 challenge for a missing or unknown token, 403
/// `insufficient_scope` when told the identity lacks the entitlement), speaks interLink's wire
/// format (`/create`, `/status`, `/delete`, `/getLogs`: pods it created are reported as finished
/// with exit code 0), and records every request's path and Authorization header.
final class TokenCheckingSite: @unchecked Sendable {
    struct Received: Equatable {
        var path: String
        var authorization: String?
    }

    /// How the site answers a request with an accepted token.
    enum Mode { case accept, forbid, refuseAll }

    // all mutable state is guarded by `lock`
    private let lock = NSLock()
    private var accepted: Set<String>
    private var mode = Mode.accept
    private var requests: [Received] = []
    private var pods: [String: (name: String, namespace: String, job: String)] = [:]
    private var task: Task<Void, any Error>?
    private var hook: (@Sendable (String) -> Void)?
    private(set) var url = ""

    static let entitlement = "urn:mace:egi.eu:group:dev.intertwin.eu:flood:role=member#aai.egi.eu"

    init(accepting tokens: Set<String>) throws {
        accepted = tokens
        let router = Router()
        for path in ["create", "status", "delete", "getLogs"] {
            router.post(RouterPath(stringLiteral: path)) { [unowned self] request, _ in
                var request = request
                let body = try await request.collectBody(upTo: 1 << 20)
                return answer("/" + path, authorization: request.headers[.authorization], body: Data(buffer: body))
            }
        }
        let started = DispatchSemaphore(value: 0)
        let port = Port()
        var quiet = Logger(label: "token-checking-site")
        quiet.logLevel = .critical  // stopping it mid-connection is expected
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: { channel in
            port.set(channel.localAddress?.port ?? 0)
            started.signal()
        }, logger: quiet)
        task = Task { try await app.run() }
        guard started.wait(timeout: .now() + 10) == .success, port.value > 0 else {
            task?.cancel()
            throw NSError(domain: "TokenCheckingSite", code: 1, userInfo: [NSLocalizedDescriptionKey: "the stand-in site did not start"])
        }
        url = "http://127.0.0.1:\(port.value)"
    }

    private final class Port: @unchecked Sendable {
        // written once by the server's callback before the semaphore is signalled, read after
        var value = 0
        func set(_ v: Int) { value = v }
    }

    func stop() {
        task?.cancel()
    }

    func accept(_ tokens: Set<String>) { lock.withLock { accepted = tokens } }
    func setMode(_ m: Mode) { lock.withLock { mode = m } }
    var received: [Received] { lock.withLock { requests } }
    func forget() { lock.withLock { requests = [] } }
    /// Called with each request's path before the site looks at it.
    func onRequest(_ f: @escaping @Sendable (String) -> Void) { lock.withLock { hook = f } }

    private func answer(_ path: String, authorization: String?, body: Data) -> Response {
        lock.withLock { hook }?(path)
        return lock.withLock {
            requests.append(Received(path: path, authorization: authorization))
            let token = authorization.flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
            guard let token, accepted.contains(token), mode != .refuseAll else {
                let why = authorization == nil ? "no bearer token in the request" : "the token's signature is not from the site's issuer"
                return Response(status: .unauthorized,
                                headers: [.wwwAuthenticate: #"Bearer realm="dte-agent", error="invalid_token", error_description="\#(why)""#],
                                body: .init(byteBuffer: ByteBuffer(string: "unauthorized\n")))
            }
            if mode == .forbid {
                let why = "the caller lacks the entitlement \(Self.entitlement)"
                return Response(status: .forbidden,
                                headers: [.wwwAuthenticate: #"Bearer error="insufficient_scope", error_description="\#(why)""#],
                                body: .init(byteBuffer: ByteBuffer(string: "forbidden\n")))
            }
            switch path {
            case "/create":
                guard let data = try? JSONDecoder().decode(RetrievedPodData.self, from: body) else { return Response(status: .badRequest) }
                let m = data.pod.metadata
                let job = pods[m.uid]?.job ?? String(1000 + pods.count)
                pods[m.uid] = (m.name, m.namespace, job)
                return json(CreateResponse(podUID: m.uid, podJID: job))
            case "/status":
                guard let list = try? JSONDecoder().decode([Pod].self, from: body) else { return Response(status: .badRequest) }
                let done = ContainerState(terminated: .init(exitCode: 0, reason: "Completed"))
                return json(list.compactMap { p in
                    pods[p.metadata.uid].map { k in
                        PodStatus(name: k.name, uid: p.metadata.uid, namespace: k.namespace, jobID: k.job,
                                  containers: [ContainerStatus(name: k.name, state: done)], initContainers: [])
                    }
                })
            case "/getLogs":
                return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "hello from the site\n")))
            default:
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "deleted\n")))
            }
        }
    }

    private func json<T: Encodable>(_ value: T) -> Response {
        let data = (try? JSONEncoder().encode(value)) ?? Data()
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
