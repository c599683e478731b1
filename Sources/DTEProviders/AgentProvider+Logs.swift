import AsyncHTTPClient
import DTEApply
import Foundation
import NIOCore
import PodWire

extension AgentProvider {
    /// An HTTP client for one interactive command: an agent that refuses the connection is
    /// reported at once (the shared client retries connecting until the request's deadline,
    /// which for a followed log never comes). Shut it down when done.
    public static func makeInteractiveClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Reads a container's log through the agent's `/getLogs` (interLink's `LogStruct`), handing
    /// each chunk to `write` as it arrives. Without `options.follow` the answer is the log as it
    /// is now; with it, the agent keeps the answer open until the container has ended.
    ///
    /// Errors: `.unreachable` when the agent cannot be reached (or the stream breaks off),
    /// `.rejected` with the agent's reason otherwise (HTTP 404: the pod or container is unknown
    /// to it). Errors thrown by `write` are passed on.
    public func logs(of pod: PodRef, container: String, options: LogOptions,
                     write: (Data) throws -> Void) async throws {
        var request = HTTPClientRequest(url: endpoint + "/getLogs")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let query = LogStruct(namespace: pod.namespace, podUID: pod.uid, podName: pod.name, containerName: container, opts: options)
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(query)))
        // a followed log lasts as long as the job runs
        let deadline: NIODeadline = options.follow ? .distantFuture : .now() + timeout
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, deadline: deadline)
        } catch {
            throw ProviderError(.unreachable, site: site, "cannot reach the agent at \(endpoint): \(error)")
        }
        guard response.status.code == 200 else {
            let body = (try? await response.body.collect(upTo: 64 << 10)).map { String(buffer: $0) } ?? ""
            throw ProviderError(.rejected, site: site, "the agent at \(endpoint) answered HTTP \(response.status.code) for the log of "
                                + "\(pod.namespace)/\(pod.name) container \(container): \(body.prefix(500).trimmingCharacters(in: .whitespacesAndNewlines))")
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
