import PodWire

/// A container's startup, liveness or readiness probe, checked and resolved: what the runner
/// checks, and when. The job script runs the probes beside the container (`RunnerScript`):
///
/// - the startup probe first, from `initialDelaySeconds` after the container started, every
///   `periodSeconds`, until it succeeds; `failureThreshold` failures in a row stop the container;
/// - then the liveness and readiness probes, each on its own period: `failureThreshold` liveness
///   failures in a row stop the container (TERM, then KILL after the grace period, as the
///   kubelet does; with `restartPolicy: Never` it ends, its exit code recorded), readiness sets
///   the container's `ready` (`successThreshold` successes make it ready, `failureThreshold`
///   failures unready) in `<kind>-<name>.ready`, which the agent reports.
///
/// Checks: `exec` (the command in the container, its exit code), `httpGet` (plain HTTP from the
/// compute node, 200–399 is success: the container shares the node's network, so the host is
/// `127.0.0.1` unless given) and `tcpSocket` (a connection is success). Every value is checked
/// here and quoted into the script: a probe is data, never shell.
struct ProbePlan: Sendable, Hashable {
    enum Kind: String, Sendable, CaseIterable { case startup, liveness, readiness }

    enum Check: Sendable, Hashable {
        case exec([String])
        case http(host: String, port: Int, path: String, headers: [String])
        case tcp(host: String, port: Int)
    }

    var kind: Kind
    var check: Check
    var initialDelay: Int
    var period: Int
    var timeout: Int
    var successThreshold: Int
    var failureThreshold: Int
    /// Seconds between TERM and KILL when the probe stops the container.
    var grace: Int

    static let delays = 0...86_400
    static let periods = 1...86_400
    static let timeouts = 1...3_600
    static let thresholds = 1...1_000
    static let maximumHeaders = 32

    /// The container's probes, in the order they run.
    static func plans(for container: Container) throws(AgentError) -> [ProbePlan] {
        var plans: [ProbePlan] = []
        for (kind, probe) in [(Kind.startup, container.startupProbe), (.liveness, container.livenessProbe),
                              (.readiness, container.readinessProbe)] {
            if let probe { plans.append(try make(probe, kind: kind, container: container)) }
        }
        return plans
    }

    static func make(_ probe: Probe, kind: Kind, container: Container) throws(AgentError) -> ProbePlan {
        let what = "container '\(container.name)': \(kind.rawValue)Probe"
        func number(_ value: Int?, _ field: String, _ range: ClosedRange<Int>, default fallback: Int) throws(AgentError) -> Int {
            guard let value else { return fallback }
            guard range.contains(value) else {
                throw AgentError.invalid("\(what).\(field) \(value) is out of range \(range.lowerBound)–\(range.upperBound)")
            }
            return value
        }
        let handlers = [probe.exec != nil, probe.httpGet != nil, probe.tcpSocket != nil, probe.grpc != nil].filter { $0 }.count
        guard handlers == 1 else { throw AgentError.invalid("\(what) needs exactly one of exec, httpGet, tcpSocket and grpc") }
        let check: Check
        if let exec = probe.exec {
            guard !exec.command.isEmpty else { throw AgentError.invalid("\(what).exec.command is empty") }
            for word in exec.command where PodValidation.hasNUL(word) {
                throw AgentError.invalid("\(what).exec.command cannot contain NUL bytes")
            }
            check = .exec(exec.command)
        } else if let http = probe.httpGet {
            if let scheme = http.scheme, scheme.uppercased() != "HTTP" {
                throw AgentError(.unsupported, "\(what).httpGet.scheme \(scheme.prefix(16)): the probes speak plain HTTP only")
            }
            let path = http.path.flatMap { $0.isEmpty ? nil : $0 } ?? "/"
            guard path.hasPrefix("/"), path.utf8.count <= 2048, path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw AgentError.invalid("\(what).httpGet.path '\(path.prefix(100))' must start with / and hold printable ASCII without spaces")
            }
            guard http.httpHeaders.count <= maximumHeaders else {
                throw AgentError.invalid("\(what).httpGet.httpHeaders: at most \(maximumHeaders) headers")
            }
            var headers: [String] = []
            for header in http.httpHeaders {
                guard isToken(header.name), header.value.utf8.count <= 4096,
                      header.value.utf8.allSatisfy({ ($0 >= 0x20 && $0 < 0x7F) || $0 == 0x09 }) else {
                    throw AgentError.invalid("\(what).httpGet.httpHeaders: '\(header.name.prefix(64))' is not a header name with a printable value")
                }
                headers.append("\(header.name): \(header.value)")
            }
            check = .http(host: try host(http.host, what: "\(what).httpGet"), port: try port(http.port, container, what: "\(what).httpGet"),
                          path: path, headers: headers)
        } else if let tcp = probe.tcpSocket {
            check = .tcp(host: try host(tcp.host, what: "\(what).tcpSocket"), port: try port(tcp.port, container, what: "\(what).tcpSocket"))
        } else {
            throw AgentError(.unsupported, "\(what): gRPC probes are not supported (use exec, httpGet or tcpSocket)")
        }
        let success = try number(probe.successThreshold, "successThreshold", thresholds, default: 1)
        if kind != .readiness && success != 1 {
            throw AgentError.invalid("\(what).successThreshold must be 1 for a \(kind.rawValue) probe (as Kubernetes requires)")
        }
        return ProbePlan(kind: kind, check: check,
                         initialDelay: try number(probe.initialDelaySeconds, "initialDelaySeconds", delays, default: 0),
                         period: try number(probe.periodSeconds, "periodSeconds", periods, default: 10),
                         timeout: try number(probe.timeoutSeconds, "timeoutSeconds", timeouts, default: 1),
                         successThreshold: success,
                         failureThreshold: try number(probe.failureThreshold, "failureThreshold", thresholds, default: 3),
                         grace: try number(probe.terminationGracePeriodSeconds, "terminationGracePeriodSeconds", delays, default: 30))
    }

    /// The host to probe: the node itself unless an IP address or DNS name is given.
    static func host(_ text: String?, what: String) throws(AgentError) -> String {
        guard let text, !text.isEmpty else { return "127.0.0.1" }
        guard PodAnnotations.isIPAddress(text) || PodValidation.isDNSSubdomain(text.lowercased()) else {
            throw AgentError.invalid("\(what).host '\(text.prefix(100))' is not an IP address or DNS name")
        }
        return text
    }

    /// A port number, or the number of the container port of that name.
    static func port(_ reference: PortReference, _ container: Container, what: String) throws(AgentError) -> Int {
        switch reference {
        case .number(let n):
            guard (1...65_535).contains(n) else { throw AgentError.invalid("\(what).port \(n) is not a port number (1–65535)") }
            return n
        case .name(let name):
            guard let port = container.ports.first(where: { $0.name == name }), (1...65_535).contains(port.containerPort) else {
                throw AgentError.invalid("\(what).port '\(name.prefix(64))' names no port of the container")
            }
            return port.containerPort
        }
    }

    /// An HTTP header name (RFC 9110 token).
    static func isToken(_ text: String) -> Bool {
        (1...256).contains(text.utf8.count) && text.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }

    /// The arguments of `dte_probe` after the container's pid, start time and file prefix.
    func schedule(checkFunction: String) -> String {
        "\(kind.rawValue) \(checkFunction) \(initialDelay) \(period) \(timeout) \(successThreshold) \(failureThreshold) \(grace)"
    }

    /// The body of the check function (one attempt; success is exit status 0). `exec` is the
    /// runtime's lines that run a command in the container.
    func checkLines(exec: ([String]) -> [String]) -> [String] {
        switch check {
        case .exec(let command): return exec(command)
        case .http(let host, let port, let path, let headers):
            return ["dte_http_get \(Shell.words([host, String(port), path] + headers))"]
        case .tcp(let host, let port):
            return ["dte_tcp_open \(Shell.words([host, String(port)]))"]
        }
    }
}
