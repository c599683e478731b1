import Foundation
import Hummingbird
import Logging
import NIOCore

/// An HTTP server on a loopback port that stands in for a webhook receiver, GitHub or GitLab:
/// it records every POST (path as sent, headers, body) and answers with the statuses it is told,
/// in order (then 201).
final class LoopbackReceiver: @unchecked Sendable {
    struct Received: Sendable {
        var path: String
        var headers: [String: String]
        var body: Data
    }

    // Mutable state is guarded by `lock`.
    private let lock = NSLock()
    private var answers: [Int]
    private var received: [Received] = []
    private var task: Task<Void, any Error>?
    private(set) var url = ""

    private init(answers: [Int]) { self.answers = answers }

    static func start(answers: [Int] = []) async throws -> LoopbackReceiver {
        let receiver = LoopbackReceiver(answers: answers)
        let router = Router()
        router.post("**") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for h in request.headers { headers[h.name.canonicalName.lowercased()] = h.value }
            let status = receiver.record(Received(path: request.uri.path, headers: headers, body: Data(body.readableBytesView)))
            return Response(status: .init(code: status), body: .init(byteBuffer: ByteBuffer(string: status < 300 ? "{}" : "{\"message\":\"no\"}")))
        }
        var logger = Logger(label: "loopback-receiver")
        logger.logLevel = .critical
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        receiver.task = Task { try await app.runService() }
        for await port in stream {
            receiver.url = "http://127.0.0.1:\(port)"
            return receiver
        }
        throw CancellationError()
    }

    private func record(_ r: Received) -> Int {
        lock.withLock {
            received.append(r)
            return answers.isEmpty ? 201 : answers.removeFirst()
        }
    }

    var requests: [Received] { lock.withLock { received } }

    func stop() { task?.cancel() }
}
