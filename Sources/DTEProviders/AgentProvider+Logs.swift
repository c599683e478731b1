import AsyncHTTPClient
import DTEApply
import Foundation
import NIOCore
import PodWire

extension AgentProvider {
    /// Reads a container's log through the agent's `/getLogs` (interLink's `LogStruct`), handing
    /// each chunk to `write` as it arrives. Without `options.follow` the answer is the log as it
    /// is now; with it, the agent keeps the answer open until the container has ended.
    ///
    /// Errors: `.unreachable` when the agent cannot be reached (or the stream breaks off),
    /// `.unauthenticated`, `.forbidden` or `.credentials` for the token (see `send`), `.rejected`
    /// with the agent's reason otherwise (HTTP 404: the pod or container is unknown to it).
    /// Errors thrown by `write` are passed on.
    public func logs(of pod: PodRef, container: String, options: LogOptions,
                     write: (Data) throws -> Void) async throws {
        let query = LogStruct(namespace: pod.namespace, podUID: pod.uid, podName: pod.name, containerName: container, opts: options)
        // a followed log lasts as long as the job runs
        let deadline: NIODeadline = options.follow ? .distantFuture : .now() + timeout
        let (response, sent) = try await send("/getLogs", query, deadline: deadline)
        guard response.status.code == 200 else {
            let body = (try? await response.body.collect(upTo: 64 << 10)).map { String(buffer: $0) } ?? ""
            throw ProviderError(.rejected, site: site, "the agent at \(endpoint) answered HTTP \(response.status.code) for the log of "
                                + "\(pod.namespace)/\(pod.name) container \(container): \(Self.excerpt(body, limit: 500, redacting: sent))")
        }
        var iterator = response.body.makeAsyncIterator()
        while true {
            let chunk: ByteBuffer?
            do {
                chunk = try await iterator.next()
            } catch {
                throw ProviderError(.unreachable, site: site, "the log stream from the agent at \(endpoint) broke off: \(error)")
            }
            guard let chunk else { return }
            try write(Data(chunk.readableBytesView))
        }
    }
}
