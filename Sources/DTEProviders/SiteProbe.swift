import AsyncHTTPClient
import DTEApply
import Foundation
import NIOCore

/// What probing a site's agent found (`SiteProbe.read`): the facts, before any threshold.
public struct SiteProbeReading: Sendable, Codable, Hashable {
    public var site: String
    /// Why the agent could not be reached (`/healthz` gave no answer in time); nil: it answered.
    public var unreachable: String?
    /// `/healthz`'s word: `ok`, `starting` or `degraded` (or what else it said, shortened).
    public var health: String?
    /// Why the token was refused (`/v1/health` answered 401/403, or no token could be had); nil: accepted, or not asked.
    public var tokenRefused: String?
    /// The authenticated call failed otherwise (e.g. HTTP 500, an answer that is not JSON).
    public var detailsProblem: String?
    /// The agent's last poll of its batch system failed (its reason), or never ran yet.
    public var backendProblem: String?
    public var freeCPUs: Int?
    public var freeGPUs: Int?
    /// Pods of the state on this site that were asked about, and how many of them failed.
    public var podsAsked: Int
    public var podsFailing: Int?
    /// Seconds `/healthz` took.
    public var responseTime: Double

    public init(site: String, unreachable: String? = nil, health: String? = nil, tokenRefused: String? = nil, detailsProblem: String? = nil,
                backendProblem: String? = nil, freeCPUs: Int? = nil, freeGPUs: Int? = nil, podsAsked: Int = 0, podsFailing: Int? = nil,
                responseTime: Double = 0) {
        self.site = site
        self.unreachable = unreachable
        self.health = health
        self.tokenRefused = tokenRefused
        self.detailsProblem = detailsProblem
        self.backendProblem = backendProblem
        self.freeCPUs = freeCPUs
        self.freeGPUs = freeGPUs
        self.podsAsked = podsAsked
        self.podsFailing = podsFailing
        self.responseTime = responseTime
    }
}

/// A Nagios/ARGO service state; the raw value is the probe's exit status.
public enum ProbeState: Int32, Sendable, Codable, Comparable {
    case ok = 0, warning = 1, critical = 2, unknown = 3

    public var word: String {
        switch self {
        case .ok: "OK"
        case .warning: "WARNING"
        case .critical: "CRITICAL"
        case .unknown: "UNKNOWN"
        }
    }

    /// Worse first: CRITICAL > UNKNOWN > WARNING > OK (Nagios' order for combining checks).
    var severity: Int { [0, 1, 3, 2][Int(rawValue)] }
    public static func < (a: ProbeState, b: ProbeState) -> Bool { a.severity < b.severity }
}

/// `dte check site` and the post-apply monitoring: probe a site's agent and judge what was found.
public enum SiteProbe {
    /// Failing-pod thresholds: WARNING at `warningFailing` or more, CRITICAL at `criticalFailing` or more.
    public struct Thresholds: Sendable, Hashable {
        public var warningFailing: Int
        public var criticalFailing: Int
        public init(warningFailing: Int = 1, criticalFailing: Int = 5) {
            self.warningFailing = warningFailing
            self.criticalFailing = criticalFailing
        }
    }

    /// The judgement: state, the message after the state word, and Nagios perfdata.
    public struct Result: Sendable, Hashable {
        public var site: String
        public var state: ProbeState
        public var message: String
        public var perfdata: String

        public init(site: String, state: ProbeState, message: String, perfdata: String) {
            self.site = site
            self.state = state
            self.message = message
            self.perfdata = perfdata
        }

        /// `DTE SITE vega OK - agent reachable, … | cpus_free=12;; …`: the probe's one status line.
        public var statusLine: String {
            "DTE SITE \(site) \(state.word) - \(message)" + (perfdata.isEmpty ? "" : " | " + perfdata)
        }
        /// `CRITICAL - agent unreachable: …`: what the apply history keeps.
        public var summary: String { "\(state.word) - \(message)" }
    }

    /// Probes `provider`'s agent within `timeout` seconds: `/healthz` (reachable, without the
    /// token), `/v1/health` with the token (token accepted, backend up, free cpus/gpus) and
    /// `/status` for `pods` (the state's pods on the site: how many failed). Never throws: what
    /// goes wrong is in the reading.
    public static func read(_ provider: AgentProvider, pods: [PodRef], timeout: Double) async -> SiteProbeReading {
        let deadline = NIODeadline.now() + .milliseconds(Int64(min(max(timeout, 0.1), 3600) * 1000))
        var reading = SiteProbeReading(site: provider.site, podsAsked: pods.count)
        let started = NIODeadline.now()
        do {
            var request = HTTPClientRequest(url: provider.endpoint + "/healthz")
            request.method = .GET
            let response = try await provider.client.execute(request, deadline: deadline)
            let body = try await response.body.collect(upTo: 64 << 10)
            reading.responseTime = Double((NIODeadline.now() - started).nanoseconds) / 1e9
            guard response.status.code == 200, let word = try? JSONDecoder().decode(HealthWord.self, from: Data(body.readableBytesView)) else {
                reading.detailsProblem = "/healthz answered HTTP \(response.status.code), not a dte-agent's health JSON"
                return reading
            }
            reading.health = AgentProvider.excerpt(word.status, limit: 40, redacting: nil)
        } catch {
            reading.responseTime = Double((NIODeadline.now() - started).nanoseconds) / 1e9
            reading.unreachable = Self.reason(error)
            return reading
        }
        do {
            let (status, body, sent) = try await provider.get("/v1/health", deadline: deadline, limit: 1 << 20)
            if status == 200, let h = try? JSONDecoder().decode(AgentHealthWire.self, from: body) {
                if let e = h.lastPollError {
                    reading.backendProblem = AgentProvider.excerpt(e, limit: 200, redacting: sent)
                }
                reading.freeCPUs = h.capacity?.freeCPUs
                reading.freeGPUs = h.capacity?.freeGPUs
            } else {
                reading.detailsProblem = "/v1/health answered HTTP \(status)"
                    + (status == 200 ? ", not the agent's health JSON" : ": " + AgentProvider.excerpt(String(decoding: body.prefix(1000), as: UTF8.self), limit: 200, redacting: sent))
                return reading
            }
        } catch let e as ProviderError where e.isAuthorization {
            reading.tokenRefused = e.message
            return reading
        } catch {
            reading.detailsProblem = Self.reason(error)
            return reading
        }
        guard !pods.isEmpty else {
            reading.podsFailing = 0
            return reading
        }
        do {
            let remaining = Double((deadline - NIODeadline.now()).nanoseconds) / 1e9
            let observed = try await AgentProvider(site: provider.site, endpoint: provider.endpoint, token: provider.token, client: provider.client,
                                                   timeout: .milliseconds(Int64(max(remaining, 0.05) * 1000))).status(pods)
            reading.podsFailing = observed.filter { $0.phase == .failed }.count
        } catch {
            reading.detailsProblem = "/status: " + Self.reason(error)
        }
        return reading
    }

    /// The state and status line for `reading`.
    public static func judge(_ reading: SiteProbeReading, thresholds: Thresholds = Thresholds()) -> Result {
        func result(_ state: ProbeState, _ message: String) -> Result {
            Result(site: reading.site, state: state, message: message, perfdata: perfdata(reading))
        }
        if let why = reading.unreachable { return result(.critical, "agent unreachable: \(why)") }
        if let why = reading.tokenRefused { return result(.critical, "agent reachable, token refused: \(why)") }
        if let problem = reading.detailsProblem { return result(.unknown, "agent reachable, cannot read its state: \(problem)") }
        if reading.health == "starting" { return result(.warning, "agent reachable, starting: its first poll of the batch system has not run yet") }
        if let problem = reading.backendProblem { return result(.critical, "agent reachable, backend down: \(problem)") }
        if reading.health != "ok" { return result(.critical, "agent reachable, health \(reading.health ?? "unknown")") }
        let failing = reading.podsFailing ?? 0
        let free = "\(reading.freeCPUs.map(String.init) ?? "?") cpus / \(reading.freeGPUs.map(String.init) ?? "?") gpus free"
        let pods = "\(failing) pod\(failing == 1 ? "" : "s") failing" + (reading.podsAsked > 0 ? " of \(reading.podsAsked)" : "")
        let line = "agent reachable, backend up, \(free), \(pods)"
        if failing >= thresholds.criticalFailing { return result(.critical, line + " (critical at \(thresholds.criticalFailing))") }
        if failing >= thresholds.warningFailing { return result(.warning, line + " (warning at \(thresholds.warningFailing))") }
        return result(.ok, line)
    }

    /// `cpus_free=12;; gpus_free=2;; pods_failing=0;; response_time=0.012s;;`: what is known.
    static func perfdata(_ r: SiteProbeReading) -> String {
        var parts: [String] = []
        if let c = r.freeCPUs { parts.append("cpus_free=\(c);;") }
        if let g = r.freeGPUs { parts.append("gpus_free=\(g);;") }
        if let f = r.podsFailing { parts.append("pods_failing=\(f);;") }
        parts.append(String(format: "response_time=%.3fs;;", r.responseTime))
        return parts.joined(separator: " ")
    }

    /// One line for an error (a provider error's message, else its description).
    static func reason(_ error: any Error) -> String {
        let text = (error as? ProviderError)?.message ?? "\(error)"
        return AgentProvider.excerpt(text, limit: 300, redacting: nil)
    }

    struct HealthWord: Decodable { var status: String }
    struct AgentHealthWire: Decodable {
        var status: String
        var lastPollError: String?
        var capacity: Capacity?
        struct Capacity: Decodable {
            var freeCPUs: Int
            var freeGPUs: Int
        }
    }
}
