import Foundation
import HTTPTypes
import Hummingbird

/// An operational error of the agent: what went wrong, how to fix it, and the HTTP status a
/// caller gets for it (4xx for problems in the request, 5xx for problems on the site).
///
/// Callers get `message` only; `cause` (a tool's stderr, a database error) is for the
/// agent's log and is never sent over HTTP.
public struct AgentError: Error, Sendable, CustomStringConvertible, HTTPResponseError {
    /// What kind of failure this is; callers branch on it, never on the message.
    public enum Code: String, Sendable {
        case badRequest, invalidPod, unsupported, forbidden, notFound, conflict, tooLarge
        /// The batch system did not answer in time or cannot be reached: retry later (503).
        case unavailable
        case backendFailure, storeFailure, internalFailure
    }

    /// Seconds a caller is asked to wait before retrying an `unavailable` answer.
    public static let retryAfterSeconds = 5

    public var code: Code
    public var message: String
    public var cause: String?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause.map { String(describing: $0) }
    }

    /// An error whose details (e.g. a tool's stderr) go to the log only.
    public init(_ code: Code, _ message: String, detail: String) {
        self.code = code
        self.message = message
        let trimmed = detail.trimmingCharacters(in: .whitespacesAndNewlines)
        self.cause = trimmed.isEmpty ? nil : String(trimmed.prefix(2000))
    }

    public static func invalid(_ message: String) -> AgentError { AgentError(.invalidPod, message) }

    /// The batch system cannot be reached or did not answer within the deadline.
    public static func unavailable(_ message: String, detail: String = "") -> AgentError {
        AgentError(.unavailable, message, detail: detail)
    }

    /// For the log: the message with its cause.
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
        case .tooLarge: .contentTooLarge
        case .unavailable: .serviceUnavailable
        case .backendFailure: .badGateway
        case .storeFailure, .internalFailure: .internalServerError
        }
    }

    public var headers: HTTPFields {
        var fields: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
        if code == .unavailable { fields[.retryAfter] = String(Self.retryAfterSeconds) }
        return fields
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: message + "\n")))
    }
}
