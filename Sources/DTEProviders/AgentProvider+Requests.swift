import AsyncHTTPClient
import DTEApply
import Foundation
import NIOCore

extension AgentProvider {
    /// An HTTP client for apply: connections are retried until a request's deadline; redirects
    /// are not followed (the token must reach only the site's endpoint). `trust`: the TLS roots
    /// (nil: the system's). Shut it down when done.
    public static func makeClient(trust: AgentTrust? = nil) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.tlsConfiguration = trust?.tlsConfiguration
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// An HTTP client for one interactive command: an agent that refuses the connection is
    /// reported at once (the shared client retries connecting until the request's deadline,
    /// which for a followed log never comes); redirects are not followed. Shut it down when done.
    public static func makeInteractiveClient(trust: AgentTrust? = nil) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        configuration.redirectConfiguration = .disallow
        configuration.tlsConfiguration = trust?.tlsConfiguration
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// The error for a request that got no answer: a TLS certificate the client does not trust
    /// is named as such (asking again cannot help), anything else is `.unreachable`.
    func noAnswer(_ error: any Error) -> ProviderError {
        if let untrusted = AgentTrust.untrustedCertificate(error) {
            return ProviderError(.rejected, site: site,
                                 "the agent at \(endpoint) presented a TLS certificate this client does not trust (\(untrusted)); "
                                 + "if the site uses a private CA, set agent.ca_certificate in the site's descriptor to its PEM file")
        }
        return ProviderError(.unreachable, site: site, "cannot reach the agent at \(endpoint): \(error)")
    }

    /// POSTs `body` as JSON to `path` (or GETs `path` when `body` is nil) with the site's token,
    /// and returns the answer with the token that was sent (nil: none). HTTP 401 and 403 are thrown as `.unauthenticated` and `.forbidden`
    /// naming the site, the URL, the agent's reason and what to do; a token that cannot be had, or
    /// would go over plain http to another machine, as `.credentials`; no answer as `.unreachable`.
    func send<T: Encodable>(_ path: String, _ body: T?, deadline: NIODeadline) async throws -> (HTTPClientResponse, sent: String?) {
        let url = endpoint + path
        let bearer = try await token.token()
        var request = HTTPClientRequest(url: url)
        request.method = body == nil ? .GET : .POST
        if body != nil { request.headers.add(name: "Content-Type", value: "application/json") }
        if let bearer {
            guard Self.protectsToken(endpoint) else {
                throw ProviderError(.credentials, site: site, "refusing to send the token from \(token.description) in clear over http to \(endpoint): "
                                    + "use an https:// endpoint for site \(site) (--agent \(site)=https://…), or no token (plain http carries one only to a loopback address)")
            }
            request.headers.add(name: "Authorization", value: "Bearer " + bearer)
        }
        if let body { request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body))) }
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, deadline: deadline)
        } catch {
            throw noAnswer(error)
        }
        let status = response.status.code
        guard status == 401 || status == 403 else { return (response, bearer) }
        if status == 401 { token.discardKept() }
        let text = (try? await response.body.collect(upTo: 16 << 10)).map { String(buffer: $0) } ?? ""
        throw refusal(status: status, url: url, challenge: response.headers["WWW-Authenticate"].first, body: text, sent: bearer)
    }

    /// The error for a 401 or 403 answer.
    func refusal(status: UInt, url: String, challenge: String?, body: String, sent: String?) -> ProviderError {
        let parameters = challenge.map { Self.challengeParameters(String($0.prefix(4096))) } ?? [:]
        let reason = Self.excerpt(parameters["error_description"] ?? body, limit: 300, redacting: sent)
        let code = parameters["error"].map { " " + Self.excerpt($0, limit: 40, redacting: sent) } ?? ""
        let because = reason.isEmpty ? "" : ": " + reason
        let answer = "HTTP \(status)\(code) from \(url)"
        if status == 403 {
            return ProviderError(.forbidden, site: site,
                                 "the token's identity lacks the entitlement the site requires\(reason.isEmpty ? " (the site did not say which)" : because) (\(answer)); "
                                 + "ask the site or your project for it, or use a token of an identity that has it (this one came from \(token.description))")
        }
        guard sent != nil else {
            return ProviderError(.unauthenticated, site: site,
                                 "the site requires a bearer token and none was sent (\(answer)\(because)); \(token.remedy)"
                                 + " (oidc-agent's oidc-token is asked when it is on PATH and the site declares an issuer)")
        }
        return ProviderError(.unauthenticated, site: site,
                             "the site refused the token from \(token.description) (\(answer)\(because)); get a fresh token, or \(token.remedy)")
    }

    /// Whether a token may travel to `endpoint`: over https, a unix socket, or plain http to a
    /// loopback address.
    static func protectsToken(_ endpoint: String) -> Bool {
        guard let url = URL(string: endpoint), let scheme = url.scheme?.lowercased() else { return false }
        switch scheme {
        case "https", "http+unix", "https+unix", "unix": return true
        case "http":
            let host = (url.host ?? "").lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            var v4 = in_addr()
            return host == "localhost" || host == "::1" || (inet_pton(AF_INET, host, &v4) == 1 && host.hasPrefix("127."))
        default: return false
        }
    }

    /// The parameters of a `WWW-Authenticate: Bearer k="v", …` challenge (RFC 6750 §3): tokens and
    /// quoted strings with backslash escapes; keys lowercased. What cannot be read is dropped.
    static func challengeParameters(_ header: String) -> [String: String] {
        var s = Substring(header)
        s = s.drop { $0 == " " }
        if s.lowercased().hasPrefix("bearer") { s = s.dropFirst(6) }
        var out: [String: String] = [:]
        while !s.isEmpty {
            s = s.drop { $0 == " " || $0 == "," }
            let key = s.prefix { $0 != "=" && $0 != "," && $0 != " " }
            s = s.dropFirst(key.count).drop { $0 == " " }
            guard s.first == "=" else { continue }
            s = s.dropFirst().drop { $0 == " " }
            var value = ""
            if s.first == "\"" {
                s = s.dropFirst()
                while let c = s.first {
                    s = s.dropFirst()
                    if c == "\"" { break }
                    if c == "\\", let next = s.first {
                        value.append(next)
                        s = s.dropFirst()
                    } else {
                        value.append(c)
                    }
                }
            } else {
                value = String(s.prefix { $0 != "," && $0 != " " })
                s = s.dropFirst(value.count)
            }
            if !key.isEmpty { out[key.lowercased()] = value }
        }
        return out
    }

    /// A site's text for a message: one line, control characters dropped, at most `limit`
    /// characters, the token (if any) replaced by `[token]`.
    static func excerpt(_ text: String, limit: Int, redacting token: String?) -> String {
        var t = token.map { redacting($0, in: text) } ?? text
        t = String(t.unicodeScalars.map { CharacterSet.controlCharacters.contains($0) ? " " : Character($0) })
        t = t.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        return t.count > limit ? String(t.prefix(limit)) + "…" : t
    }

    /// `text` with every occurrence of `token` replaced by `[token]`.
    static func redacting(_ token: String, in text: String) -> String {
        token.isEmpty ? text : text.replacingOccurrences(of: token, with: "[token]")
    }
}
