import ArgumentParser
import AsyncHTTPClient
import DTEApply
import DTECompiler
import DTEPlanner
import DTEProviders
import Foundation

/// How to reach the sites' agents: `--agent SITE=URL` and `--token-file SITE=PATH`.
struct AgentOptions: ParsableArguments {
    @Option(name: .customLong("agent"), help: ArgumentHelp("Reach SITE's agent at URL instead of its descriptor's endpoint (repeatable).", valueName: "site=url"))
    var agents: [String] = []

    @Option(name: .customLong("token-file"),
            help: ArgumentHelp("Send SITE's agent the bearer token in PATH, read anew for every request (repeatable; "
                               + "before dte.yaml's token_file, DTE_TOKEN and oidc-token).", valueName: "site=path"))
    var tokenFiles: [String] = []

    func validate() throws {
        for a in agents where !a.contains("=") { throw ValidationError("--agent takes SITE=URL, got \"\(a)\"") }
        var seen = Set<String>()
        for t in tokenFiles {
            guard let (site, path) = Self.pair(t), !site.isEmpty, !path.isEmpty, !path.contains("\0") else {
                throw ValidationError("--token-file takes SITE=PATH, got \"\(t)\"")
            }
            guard seen.insert(site).inserted else { throw ValidationError("--token-file names site \(site) twice") }
        }
    }

    static func pair(_ s: String) -> (String, String)? {
        guard let eq = s.firstIndex(of: "=") else { return nil }
        return (String(s[..<eq]), String(s[s.index(after: eq)...]))
    }

    var settings: AgentSettings {
        AgentSettings(overrides: Dictionary(agents.compactMap(Self.pair), uniquingKeysWith: { _, last in last }),
                      tokenFiles: Dictionary(tokenFiles.compactMap(Self.pair), uniquingKeysWith: { _, last in last }))
    }
}

/// What `AgentOptions` gave: site → URL, site → token file (as typed).
struct AgentSettings {
    var overrides: [String: String] = [:]
    var tokenFiles: [String: String] = [:]
}

/// The agents one command talks to: per site its endpoint (`--agent`, else the descriptor's) and
/// its token source (`TokenSettings`) and its TLS roots (`agent.ca_certificate`, else the
/// system's), over one HTTP client per set of roots. Call `shutdown()` (or `shutdownNow()` from
/// synchronous code) when done.
struct SiteAgents: Sendable {
    private let clients: [HTTPClient]
    private let providers: [String: AgentProvider]

    /// `sites`: the repository's sites (their endpoints and issuers). A `--token-file` for a site
    /// that is neither there nor given with `--agent` is an error; a dte.yaml `sites:` entry for
    /// an unknown site gets a warning. Token file paths: `--token-file` relative to
    /// `workingDirectory`, dte.yaml's relative to the repository root; `~/` is the home folder.
    init(sites: [SiteInfo], settings: AgentSettings, config: RepositoryConfig?, workingDirectory: String, interactive: Bool) throws {
        let known = Set(sites.map(\.name)).union(settings.overrides.keys)
        for site in settings.tokenFiles.keys.sorted() where !known.contains(site) {
            throw CommandFailure("--token-file \(site)=…: no such site (sites: \(known.sorted().joined(separator: ", ")))")
        }
        let configured = config?.siteCredentials ?? [:]
        if !sites.isEmpty {
            for site in configured.keys.sorted() where !known.contains(site) {
                TokenSource.warnOnStandardError("dte.yaml has settings under sites: for \(site), but the repository has no site \(site)")
            }
        }
        func absolute(_ path: String, _ base: String) -> String {
            SourceSet.absolute((path as NSString).expandingTildeInPath, relativeTo: base)
        }
        let root = config?.root ?? workingDirectory
        let tokens = TokenSettings(flagFiles: settings.tokenFiles.mapValues { absolute($0, workingDirectory) },
                                   repositoryFiles: configured.compactMapValues { $0.tokenFile.map { absolute($0, root) } },
                                   oidcAccounts: configured.compactMapValues(\.oidcAccount))
        var endpoints = Dictionary(sites.compactMap { s in s.endpoint.map { (s.name, $0) } }, uniquingKeysWith: { a, _ in a })
        for (k, v) in settings.overrides { endpoints[k] = v }
        let info = Dictionary(sites.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        // One client per distinct CA file (most repositories: none, one client for every site).
        var trusts: [String: AgentTrust] = [:]
        for site in sites {
            guard let ca = site.caCertificate, endpoints[site.name] != nil else { continue }
            do {
                trusts[site.name] = try AgentTrust(site: site.name, path: absolute(ca, root), display: ca)
            } catch {
                throw CommandFailure(error.description + "; fix the path in the site descriptor (relative to the repository root)")
            }
        }
        func make(_ trust: AgentTrust?) -> HTTPClient {
            interactive ? AgentProvider.makeInteractiveClient(trust: trust) : AgentProvider.makeClient(trust: trust)
        }
        var byTrust: [AgentTrust?: HTTPClient] = [:]
        var providers: [String: AgentProvider] = [:]
        for (site, endpoint) in endpoints {
            let trust = trusts[site]
            let client = byTrust[trust] ?? make(trust)
            byTrust[trust] = client
            let token = tokens.source(site: site, issuer: info[site]?.issuer, audience: info[site]?.audience)
            providers[site] = AgentProvider(site: site, endpoint: endpoint, token: token, client: client)
        }
        self.providers = providers
        clients = Array(byTrust.values)
    }

    /// The site's agent; nil when it has no endpoint.
    func provider(_ site: String) -> AgentProvider? { providers[site] }

    func shutdown() async {
        for client in clients { try? await client.shutdown() }
    }

    /// Starts shutting the clients down without waiting (for a `defer` in synchronous code).
    func shutdownNow() {
        for client in clients { client.shutdown { _ in } }
    }
}
