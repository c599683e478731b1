import Foundation
import Hummingbird
import Logging
import NIOCore
import PodWire

/// The HTTP API: interLink's plugin endpoints plus `/healthz`, `/metrics` and `/v1/capacity`.
public enum AgentAPI {
    /// The largest request body accepted (a pod with its ConfigMaps and Secrets).
    public static let maxBodyBytes = 32 * 1024 * 1024

    public static func router(controller: PodController, access: AccessControl = .local,
                              logger: Logger) -> Router<AgentRequestContext> {
        let router = Router(context: AgentRequestContext.self)
        router.add(middleware: ErrorLoggingMiddleware(logger: logger))
        router.add(middleware: AuthMiddleware(access: access, logger: logger))

        let create: @Sendable (Request, AgentRequestContext) async throws -> Response = { request, context in
            let data = try await decodeCreateBody(request)
            let namespace = data.pod.metadata.namespace
            guard let caller = context.caller, access.policy.mayUse(namespace: namespace, caller) else {
                throw AgentError(.forbidden, "you are not entitled to create pods in namespace '\(namespace.prefix(63))': "
                                    + "this site requires \(access.policy.requirement(namespace: namespace))")
            }
            let answer = try await controller.create(data, owner: caller)
            return try json(answer)
        }
        router.post("/create", use: create)

        let delete: @Sendable (Request, AgentRequestContext) async throws -> Response = { request, context in
            let pod = try await decode(Pod.self, from: request, what: "a Kubernetes Pod")
            let text = try await controller.delete(pod, visibility: context.visibility(access))
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        router.post("/delete", use: delete)
        router.delete("/delete", use: delete)

        let status: @Sendable (Request, AgentRequestContext) async throws -> Response = { request, context in
            let uids = try await decodeStatusBody(request)
            if uids.isEmpty { return try json(await controller.ping()) }
            // The statuses are kept encoded: the answer is their bytes, copied into one list.
            let entries = await controller.encodedStatuses(of: uids, visibility: context.visibility(access))
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: WireJSON.list(entries)))
        }
        router.get("/status", use: status)
        router.post("/status", use: status)

        let logs: @Sendable (Request, AgentRequestContext) async throws -> Response = { request, context in
            let query = try await decode(LogStruct.self, from: request, what: "a LogStruct")
            return try await logResponse(query, controller: controller, visibility: context.visibility(access))
        }
        router.get("/getLogs", use: logs)
        router.post("/getLogs", use: logs)

        // About the caller only: may it act on pods of this namespace (so that a client told 404
        // for a pod can tell "gone" from "not yours"; docs/agent.md).
        router.post("/v1/access") { request, context in
            let query = try await decode(AccessQuery.self, from: request, what: "{\"namespace\": NAME}")
            guard !query.namespace.isEmpty, query.namespace.utf8.count <= 253 else {
                throw AgentError(.badRequest, "namespace must be 1 to 253 bytes")
            }
            guard let caller = context.caller else { throw AgentError(.forbidden, "no caller") }
            let allowed = access.policy.mayUse(namespace: query.namespace, caller)
            return try json(AccessAnswer(identity: caller.identity, namespace: query.namespace, allowed: allowed,
                                         requirement: allowed ? nil : access.policy.requirement(namespace: query.namespace)))
        }

        // interLink's Slurm plugin's endpoint: sinfo's summary.
        router.get("/system-info") { _, _ in try json(await SystemInfo.current(controller.configuration, logger: logger)) }

        // Unauthenticated: says only whether the agent works, nothing an attacker can use.
        router.get("/healthz") { _, _ in try json(await controller.publicHealth()) }
        router.get("/v1/health") { _, _ in try json(await controller.health()) }
        router.get("/v1/capacity") { _, _ in try json(await controller.ping()) }
        router.get("/v1/usage") { request, context in
            try await UsageAPI.respond(request, context: context, access: access, controller: controller)
        }
        router.get("/metrics") { _, _ in
            let text = controller.metrics.render(await controller.metricsSnapshot())
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        return router
    }

    // MARK: - Bodies

    /// The request body, at most `maxBodyBytes` (413 beyond: the body is not read further).
    /// How long a client may take to send a request body (a slow sender cannot hold a handler).
    public static let bodyReadSeconds = 30

    static func body(_ request: Request) async throws -> ByteBuffer {
        do {
            return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                group.addTask {
                    var request = request
                    return try await request.collectBody(upTo: maxBodyBytes)
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(bodyReadSeconds))
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let buffer = first else {
                    throw AgentError(.badRequest, "the request body was not sent within \(bodyReadSeconds) s")
                }
                return buffer
            }
        } catch let error as AgentError {
            throw error
        } catch is NIOTooManyBytesError {
            throw AgentError(.tooLarge, "the request body is larger than \(maxBodyBytes) bytes")
        } catch {
            throw AgentError(.badRequest, "the request body could not be read")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, from request: Request, what: String) async throws -> T {
        let buffer = try await body(request)
        return try decode(type, buffer: buffer, what: what)
    }

    package static func decode<T: Decodable>(_ type: T.Type, buffer: ByteBuffer, what: String) throws -> T {
        guard buffer.readableBytes > 0 else { throw AgentError(.badRequest, "the request body is empty; expected \(what)") }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw AgentError(.badRequest, "the request body is not \(what): \(describe(error))")
        }
    }

    /// `/create` takes one object (interLink 0.5+) or a one-element list (0.3–0.4).
    static func decodeCreateBody(_ request: Request) async throws -> RetrievedPodData {
        try decodeCreate(try await body(request))
    }

    /// The body of `/create`, decoded (the fuzz target's entry too).
    package static func decodeCreate(_ buffer: ByteBuffer) throws -> RetrievedPodData {
        let first = buffer.readableBytesView.first { ![9, 10, 13, 32].contains($0) }
        if first == UInt8(ascii: "[") {
            let list = try decode([RetrievedPodData].self, buffer: buffer, what: "a list of RetrievedPodData")
            guard list.count == 1, let only = list.first else {
                throw AgentError(.badRequest, "/create takes one pod; the list has \(list.count)")
            }
            return only
        }
        return try decode(RetrievedPodData.self, buffer: buffer, what: "a RetrievedPodData object")
    }

    /// `/status` takes a list of pods; an empty body is treated as the ping too.
    static func decodeStatusBody(_ request: Request) async throws -> [String] {
        try decodeStatus(try await body(request))
    }

    /// The body of `/status`: the UIDs of the listed pods, or none (the ping). Only
    /// `metadata.uid` of each pod is read (interLink sends whole pods; the rest is checked
    /// and skipped by a byte scanner, no `JSONDecoder`).
    package static func decodeStatus(_ buffer: ByteBuffer) throws(AgentError) -> [String] {
        try StatusBodyScanner.uids(buffer)
    }

    /// The same with Foundation's decoder: what the scanner must answer for valid bodies
    /// (compared in the tests).
    package static func decodeStatusWithDecoder(_ buffer: ByteBuffer) throws -> [String] {
        if buffer.readableBytesView.allSatisfy({ [9, 10, 13, 32].contains($0) }) { return [] }
        return try decode([StatusQuery].self, buffer: buffer, what: "a JSON list of pods").map(\.uid)
    }

    /// A pod of a `/status` body: its UID only.
    struct StatusQuery: Decodable {
        var uid: String
        enum Keys: String, CodingKey { case metadata, uid }
        init(from decoder: any Decoder) throws {
            let pod = try decoder.container(keyedBy: Keys.self)
            guard pod.contains(.metadata), try !pod.decodeNil(forKey: .metadata) else {
                uid = ""
                return
            }
            let metadata = try pod.nestedContainer(keyedBy: Keys.self, forKey: .metadata)
            uid = try metadata.decodeIfPresent(String.self, forKey: .uid) ?? ""
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context):
            return context.underlyingError.map { "\(context.debugDescription) (\($0.localizedDescription))" }
                ?? context.debugDescription + at(context.codingPath)
        case DecodingError.keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)'" + at(context.codingPath)
        case DecodingError.typeMismatch(let type, let context):
            return "expected \(type)" + at(context.codingPath)
        case DecodingError.valueNotFound(let type, let context):
            return "expected \(type), found null" + at(context.codingPath)
        default:
            return "\(error)"
        }
    }

    private static func at(_ path: [any CodingKey]) -> String {
        path.isEmpty ? "" : " at " + path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    static func json<T: Encodable>(_ value: T) throws -> Response {
        let data = try WireJSON.encoder().encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: - Logs

    static func logResponse(_ query: LogStruct, controller: PodController, visibility: PodVisibility) async throws -> Response {
        let options = query.opts
        if options.tail > 0 && options.limitBytes > 0 {
            throw AgentError(.badRequest, "Tail and Bytes cannot be used together")
        }
        if options.sinceSeconds > 0 && options.sinceTime != nil {
            throw AgentError(.badRequest, "SinceSeconds and SinceTime cannot be used together")
        }
        guard options.tail >= 0, options.limitBytes >= 0, options.sinceSeconds >= 0 else {
            throw AgentError(.badRequest, "Tail, Bytes and SinceSeconds cannot be negative")
        }
        guard let record = await controller.logTarget(uid: query.podUID, namespace: query.namespace, name: query.podName,
                                                              visibility: visibility) else {
            throw AgentError(.notFound, "pod \(query.podUID.isEmpty ? query.podName : query.podUID) is not known to this agent")
        }
        let prefix: String
        if record.initContainers.contains(query.containerName) {
            prefix = "init-\(query.containerName)"
        } else if record.containers.contains(query.containerName) {
            prefix = "run-\(query.containerName)"
        } else {
            throw AgentError(.notFound, "pod \(record.uid) has no container '\(query.containerName)'")
        }
        let path = "\(record.podDir)/\(prefix).out"
        let now = Date().timeIntervalSince1970
        let headers: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
        guard options.follow else {
            return Response(status: .ok, headers: headers,
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: LogReader.read(path: path, options: options, now: now))))
        }
        let uid = record.uid
        let podDir = record.podDir
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            try await follow(path: path, podDir: podDir, prefix: prefix, options: options, now: now, writer: &writer) {
                await controller.isFinished(uid: uid)
            }
            try await writer.finish(nil)
        })
    }

    /// Streams the log: what exists (tail applied), then new lines as they are written,
    /// until the container has ended and everything is sent, or the byte limit is reached.
    static func follow(path: String, podDir: String, prefix: String, options: LogOptions, now: Double,
                       writer: inout any ResponseBodyWriter, finished: @Sendable () async -> Bool) async throws {
        // What exists: the last `Tail` lines, or (with no byte limit) at most the last
        // `logResponseBytes`; found by reading back from the end, never the whole file.
        var offset = 0
        if let handle = SafeFile.open(path), options.tail > 0 || options.limitBytes == 0 {
            offset = LogReader.tailStart(handle, lines: options.tail > 0 ? options.tail : Int.max,
                                         maxBytes: Limits.logResponseBytes).offset
        }
        var sent = 0
        let since = LogReader.since(options, now: now)
        while true {
            let ended = ContainerRecord.read(podDir: podDir, prefix: prefix)?.exitCode != nil
            let podEnded = await finished()
            let data = readFrom(path: path, offset: offset)
            var (lines, consumed) = LogReader.parse(data)
            if consumed == 0 && data.count == LogReader.chunkBytes {
                // A line longer than a chunk: sent as it is.
                lines = LogReader.parse(data + Data([10])).lines
                consumed = data.count
            }
            offset += consumed
            var chunk = LogReader.render(lines, options: options, since: since, applyTail: false)
            if options.limitBytes > 0, sent + chunk.count > options.limitBytes {
                chunk = chunk.prefix(options.limitBytes - sent)
            }
            if !chunk.isEmpty {
                try await writer.write(ByteBuffer(bytes: chunk))
                sent += chunk.count
            }
            if options.limitBytes > 0, sent >= options.limitBytes { return }
            if (ended || podEnded) && consumed == 0 { return }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// At most one chunk of the log from `offset` (nothing when the file is not a regular file).
    static func readFrom(path: String, offset: Int) -> Data {
        guard let handle = SafeFile.open(path), offset < handle.size else { return Data() }
        return handle.read(at: offset, count: min(LogReader.chunkBytes, handle.size - offset))
    }
}

/// Logs 5xx failures with their cause (4xx are the caller's problem and are only answered).
struct ErrorLoggingMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as AgentError {
            if error.code == .unavailable {
                logger.warning("request answered 503", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            } else if error.status.code >= 500 {
                logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            }
            throw error
        }
    }
}

/// `/system-info` as interLink's Slurm plugin serves it: whether Slurm answers and `sinfo -s`.
public struct SystemInfo: Codable, Sendable {
    public var status: String
    public var timestamp: String
    public var slurmConnected: Bool
    public var sinfoOutput: String?
    public var error: String?

    enum CodingKeys: String, CodingKey {
        case status, timestamp, slurmConnected = "slurm_connected", sinfoOutput = "sinfo_output", error
    }

    /// Asks `sinfo -s` (at most `backend-timeout`; its output capped at 64 KiB); the cause of a
    /// failure goes to the log, the answer says only that it failed.
    static func current(_ configuration: AgentConfiguration, logger: Logger) async -> SystemInfo {
        let now = ISO8601DateFormatter().string(from: Date())
        guard configuration.backend == .slurm else {
            return SystemInfo(status: "warning", timestamp: now, slurmConnected: false, error: "the agent's backend is \(configuration.backend.rawValue)")
        }
        do {
            let result = try await CommandRunner.run("sinfo", ["-s"], timeout: configuration.backendTimeouts.call)
            guard result.status == 0 else {
                logger.warning("sinfo -s failed", metadata: ["status": "\(result.status)", "stderr": "\(result.stderr.prefix(2000))"])
                return SystemInfo(status: "warning", timestamp: now, slurmConnected: false, error: "sinfo -s exited with \(result.status)")
            }
            return SystemInfo(status: "ok", timestamp: now, slurmConnected: true, sinfoOutput: String(result.stdout.prefix(65_536)))
        } catch {
            logger.warning("sinfo -s failed", metadata: ["error": "\(error)"])
            return SystemInfo(status: "warning", timestamp: now, slurmConnected: false, error: "sinfo -s could not be run: \(error.message)")
        }
    }
}
