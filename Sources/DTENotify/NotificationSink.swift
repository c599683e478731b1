import AsyncHTTPClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1

/// Why a notification did not arrive; the message names the sink and never holds a secret.
public struct NotifyError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Somewhere a `NotificationEvent` is delivered: a webhook, a commit status on GitHub or GitLab.
public protocol NotificationSink: Sendable {
    /// For reports: `webhook https://…`, `github owner/name`.
    var name: String { get }
    func send(_ event: NotificationEvent) async throws(NotifyError)
}

/// How hard a sink tries: attempts per event, the backoff between them (doubling from `initialDelay`
/// up to `maxDelay`), and how long one request may take.
public struct RetryPolicy: Sendable, Hashable {
    public var attempts: Int
    public var initialDelay: Duration
    public var maxDelay: Duration
    public var requestTimeout: Duration

    public init(attempts: Int = 4, initialDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(8),
                requestTimeout: Duration = .seconds(10)) {
        self.attempts = min(max(attempts, 1), 10)
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.requestTimeout = requestTimeout
    }

    /// The wait before attempt `n + 1` (n ≥ 1): initialDelay · 2^(n-1), at most maxDelay.
    public func delay(afterAttempt n: Int) -> Duration {
        var d = initialDelay
        for _ in 1..<max(n, 1) where d < maxDelay { d *= 2 }
        return min(d, maxDelay)
    }
}

/// POSTs JSON with retries: 5xx answers, 429 and connection errors are retried with exponential
/// backoff; any other 4xx is final (retrying the same request cannot help). Answers are read up
/// to 64 KiB, for the message.
struct JSONPoster: Sendable {
    static let maxAnswerBytes = 64 << 10

    var client: HTTPClient
    var policy: RetryPolicy
    var sink: String

    func post(_ url: String, body: Data, headers: [(String, String)]) async throws(NotifyError) {
        var lastProblem = ""
        for attempt in 1...policy.attempts {
            if attempt > 1 {
                do { try await Task.sleep(for: policy.delay(afterAttempt: attempt - 1)) } catch {
                    throw NotifyError("\(sink): cancelled after \(attempt - 1) attempt\(attempt == 2 ? "" : "s") (\(lastProblem))")
                }
            }
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "dte-notify/1")
            for (k, v) in headers { request.headers.add(name: k, value: v) }
            request.body = .bytes(ByteBuffer(bytes: body))
            let status: HTTPResponseStatus
            let answer: String
            do {
                let timeout = TimeAmount.milliseconds(Int64((policy.requestTimeout / .milliseconds(1)).rounded()))
                let response = try await client.execute(request, timeout: timeout)
                status = response.status
                var text = ""
                if let buffer = try? await response.body.collect(upTo: Self.maxAnswerBytes) {
                    text = String(buffer: buffer)
                }
                answer = clipped(text.trimmingCharacters(in: .whitespacesAndNewlines), to: 200)
            } catch {
                lastProblem = "cannot reach \(Self.origin(url)): \(Self.describe(error))"
                continue
            }
            if (200..<300).contains(status.code) { return }
            lastProblem = "\(Self.origin(url)) answered \(status.code) \(status.reasonPhrase)" + (answer.isEmpty ? "" : ": \(answer)")
            if status.code >= 500 || status.code == 429 { continue }
            throw NotifyError("\(sink): \(lastProblem) (not retried: the request itself was refused)")
        }
        throw NotifyError("\(sink): \(lastProblem) (gave up after \(policy.attempts) attempt\(policy.attempts == 1 ? "" : "s"))")
    }

    /// scheme://host[:port], for messages (paths may hold ids users did not mean to print).
    static func origin(_ url: String) -> String {
        guard let c = URLComponents(string: url), let scheme = c.scheme, let host = c.host else { return "the sink" }
        return "\(scheme)://\(host)" + (c.port.map { ":\($0)" } ?? "")
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout: return "connection timed out"
            case .deadlineExceeded: return "no answer in time"
            case .remoteConnectionClosed: return "the connection was closed"
            default: return "\(e)"
            }
        }
        return clipped("\(error)", to: 200)
    }
}

/// A secret in a file: the webhook's HMAC key, a GitHub or GitLab token. The file must be a regular
/// file of at most 64 KiB that only its owner can read or write (mode 0600 or stricter); anything
/// else is refused with the reason. A trailing newline is dropped. Read on every send, so a
/// rotated secret is picked up.
public struct SecretFile: Sendable, Hashable {
    public static let maxBytes = 64 << 10
    /// The path as configured (for messages) and as opened.
    public var display: String
    public var path: String

    /// `path` relative to `root` unless absolute; `~/` is the home folder.
    public init(_ path: String, root: String) {
        display = path
        if path.hasPrefix("~/") {
            self.path = (NSHomeDirectory() as NSString).appendingPathComponent(String(path.dropFirst(2)))
        } else if path.hasPrefix("/") {
            self.path = path
        } else {
            self.path = (root as NSString).appendingPathComponent(path)
        }
    }

    public func read(what: String) throws(NotifyError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw NotifyError("cannot read the \(what) file \(display): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw NotifyError("the \(what) file \(display) is not a regular file")
        }
        let mode = info.st_mode & 0o777
        if mode & 0o077 != 0 {
            throw NotifyError("the \(what) file \(display) can be read or written by other users (mode \(String(mode, radix: 8)));"
                              + " refusing to use it: chmod 600 \(display)")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw NotifyError("cannot read the \(what) file \(display): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes += buffer[0..<n]
            if bytes.count > Self.maxBytes {
                throw NotifyError("the \(what) file \(display) is larger than \(Self.maxBytes) bytes; it must hold only the \(what)")
            }
        }
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes.removeLast() }
        if bytes.isEmpty { throw NotifyError("the \(what) file \(display) is empty") }
        return bytes
    }

    /// A token for an HTTP header: visible ASCII only (a newline would split the header).
    public func readToken(what: String) throws(NotifyError) -> String {
        let bytes = try read(what: what)
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw NotifyError("the \(what) file \(display) holds characters a token cannot have (spaces, control or non-ASCII characters)")
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
