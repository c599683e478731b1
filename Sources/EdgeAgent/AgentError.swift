import Foundation
import HTTPTypes
import Hummingbird

/// An operational error of the agent: what went wrong, how to fix it, and the HTTP status a
/// caller gets for it (4xx for problems in the request, 5xx for problems on the site).
public struct AgentError: Error, Sendable, CustomStringConvertible, HTTPResponseError {
    /// What kind of failure this is; callers branch on it, never on the message.
    public enum Code: String, Sendable {
        case badRequest, invalidPod, unsupported, forbidden, notFound, conflict, backendFailure, storeFailure, internalFailure
    }

    public var code: Code
    public var message: String
    public var cause: String?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause.map { String(describing: $0) }
    }

    public static func invalid(_ message: String) -> AgentError { AgentError(.invalidPod, message) }

    public var description: String {
        if let cause { return "\(message) (\(cause))" }
        return message
    }

    public var status: HTTPResponse.Status {
        switch code {
        case .badRequest, .invalidPod: .badRequest
        case .unsupported: .unprocessableContent
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .backendFailure: .badGateway
        case .storeFailure, .internalFailure: .internalServerError
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: description + "\n")))
    }
}
