import DTEApply
import DTEProcess
import Foundation

/// What the user configured about tokens, for every site of one command. `source(…)` picks one
/// site's token source; the first of these that applies wins:
///
/// 1. `--token-file SITE=PATH` on the command line;
/// 2. `sites.<site>.token_file` in dte.yaml (relative to the repository root);
/// 3. the environment variable `DTE_TOKEN` (sent to every site);
/// 4. oidc-agent: `oidc-token [--aud=<audience>] <account>` when `oidc-token` is on `PATH` and the
///    site declares an OIDC issuer (`agent.issuer`) or dte.yaml names an `oidc_account` for it;
///    the account is that `oidc_account`, else the issuer URL;
/// 5. no token.
public struct TokenSettings: Sendable {
    public static let environmentVariable = "DTE_TOKEN"
    public static let oidcTokenProgram = "oidc-token"

    /// Site → absolute path, from `--token-file`.
    public var flagFiles: [String: String]
    /// Site → absolute path, from dte.yaml's `sites.<site>.token_file`.
    public var repositoryFiles: [String: String]
    /// Site → oidc-agent account, from dte.yaml's `sites.<site>.oidc_account`.
    public var oidcAccounts: [String: String]
    /// `DTE_TOKEN` (unset or empty: nil).
    var environmentToken: String?
    /// The `oidc-token` executable found on `PATH`.
    public var oidcToken: String?

    public init(flagFiles: [String: String] = [:], repositoryFiles: [String: String] = [:], oidcAccounts: [String: String] = [:],
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.flagFiles = flagFiles
        self.repositoryFiles = repositoryFiles
        self.oidcAccounts = oidcAccounts
        environmentToken = environment[Self.environmentVariable].flatMap { $0.isEmpty ? nil : $0 }
        oidcToken = Self.executable(named: Self.oidcTokenProgram, path: environment["PATH"] ?? "")
    }

    /// Where `site`'s token comes from (see the type's documentation for the order).
    public func source(site: String, issuer: String?, audience: String?,
                       warn: @escaping @Sendable (String) -> Void = TokenSource.warnOnStandardError) -> TokenSource {
        let origin: TokenSource.Origin
        var fixed: String?
        if let path = flagFiles[site] {
            origin = .flagFile(path)
        } else if let path = repositoryFiles[site] {
            origin = .repositoryFile(path)
        } else if let token = environmentToken {
            origin = .environment
            fixed = token
        } else if let account = oidcAccounts[site] ?? issuer {
            if let program = oidcToken {
                origin = .oidcAgent(program: program, account: account, audience: audience)
            } else if oidcAccounts[site] != nil {
                origin = .oidcAgentMissing(account: account)
            } else {
                origin = .none
            }
        } else {
            origin = .none
        }
        return TokenSource(site: site, origin: origin, fixed: fixed, warn: warn)
    }

    /// The first executable file `name` in the colon-separated `path`.
    static func executable(named name: String, path: String) -> String? {
        for dir in path.split(separator: ":") where dir.hasPrefix("/") {
            let candidate = String(dir) + "/" + name
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDir), !isDir.boolValue,
               FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        return nil
    }
}

/// One site's bearer token, fetched for each request from where `TokenSettings` said. The token
/// is never printed: messages name where it came from, never what it is.
public final class TokenSource: @unchecked Sendable {
    public enum Origin: Sendable, Hashable {
        /// `--token-file SITE=PATH` (the absolute path).
        case flagFile(String)
        /// dte.yaml's `sites.<site>.token_file` (the absolute path).
        case repositoryFile(String)
        /// `DTE_TOKEN`.
        case environment
        /// `oidc-token [--aud=<audience>] <account>`.
        case oidcAgent(program: String, account: String, audience: String?)
        /// dte.yaml names an oidc-agent account but `oidc-token` is not on PATH.
        case oidcAgentMissing(account: String)
        case none
    }

    /// A bearer token longer than this is refused (EGI Check-in's carry a few kB of entitlements).
    public static let maximumTokenBytes = 16 << 10
    /// A token file longer than this is not read.
    static let maximumFileBytes = 64 << 10
    /// How long oidc-token may take (oidc-agent may ask the user to unlock an account).
    static let oidcTokenTimeout: TimeInterval = 60

    public let site: String
    public let origin: Origin
    private let fixed: String?
    private let warn: @Sendable (String) -> Void
    // guards `warnedAboutMode` and `cached`
    private let lock = NSLock()
    private var warnedAboutMode = false
    private var cached: (token: String, until: Date)?

    init(site: String, origin: Origin, fixed: String?, warn: @escaping @Sendable (String) -> Void) {
        self.site = site
        self.origin = origin
        self.fixed = fixed
        self.warn = warn
    }

    /// A source that never has a token (a site reached without authentication).
    public static func noToken(site: String) -> TokenSource {
        TokenSource(site: site, origin: .none, fixed: nil, warn: { _ in })
    }

    /// Prints `warning: <message>` on standard error, each message once per process.
    @Sendable public static func warnOnStandardError(_ message: String) {
        guard Warned.shared.first(message) else { return }
        FileHandle.standardError.write(Data(("warning: " + message + "\n").utf8))
    }

    private final class Warned: @unchecked Sendable {
        static let shared = Warned()
        // `seen` is guarded by `lock`
        private let lock = NSLock()
        private var seen = Set<String>()
        func first(_ message: String) -> Bool { lock.withLock { seen.insert(message).inserted } }
    }

    /// Where the token comes from, as messages name it.
    public var description: String {
        switch origin {
        case .flagFile(let path): return "--token-file \(site)=\(path)"
        case .repositoryFile(let path): return "token_file \(path) for site \(site) in dte.yaml"
        case .environment: return TokenSettings.environmentVariable
        case .oidcAgent(_, let account, let audience): return "oidc-token " + (audience.map { "--aud=\($0) " } ?? "") + account
        case .oidcAgentMissing(let account): return "oidc-token \(account) (oidc_account for site \(site) in dte.yaml)"
        case .none: return "no token source"
        }
    }

    /// What the user can do to give this site a token.
    public var remedy: String {
        "set \(TokenSettings.environmentVariable) or token_file for site \(site) in dte.yaml, or pass --token-file \(site)=PATH"
    }

    /// The token for the next request (nil: send none). Files are read anew each time; a token
    /// from oidc-token is kept until a minute before it expires.
    /// Errors: `ProviderError` of kind `.credentials`, naming the source, never the token.
    public func token() async throws -> String? {
        switch origin {
        case .none: return nil
        case .environment: return try checked(Array((fixed ?? "").utf8))
        case .flagFile(let path), .repositoryFile(let path): return try checked(readFile(path))
        case .oidcAgentMissing(let account):
            throw failure("dte.yaml names the oidc-agent account \(account) for site \(site), but \(TokenSettings.oidcTokenProgram) is not on PATH; "
                          + "install oidc-agent, or \(remedy)")
        case .oidcAgent(let program, let account, let audience):
            if let hit = lock.withLock({ cached }), hit.until > Date() { return hit.token }
            let raw = try await runOIDCToken(program: program, account: account, audience: audience)
            let token = try checked(raw)
            if let expiry = Self.expiry(ofJWT: token), expiry.timeIntervalSinceNow > 60 {
                lock.withLock { cached = (token, expiry.addingTimeInterval(-60)) }
            }
            return token
        }
    }

    /// Forgets a kept oidc-agent token (the site refused it): the next request asks oidc-token again.
    public func discardKept() {
        lock.withLock { cached = nil }
    }

    func failure(_ message: String) -> ProviderError {
        ProviderError(.credentials, site: site, message)
    }

    func checked(_ bytes: [UInt8]) throws -> String {
        do {
            return try Self.bearerToken(bytes)
        } catch {
            throw failure("the token from \(description) \(error.reason); \(remedy)")
        }
    }

    /// Why a token cannot be sent.
    public struct Malformed: Error, Sendable {
        public var reason: String
    }

    /// The token in `bytes` with surrounding whitespace and newlines trimmed. Refused: an empty
    /// one, one over `maximumTokenBytes`, and one with a character RFC 6750's `b64token` does not
    /// have (letters, digits, `-._~+/`, trailing `=`): control characters, spaces, quotes, non-ASCII.
    /// The reason names the position, never the token.
    public static func bearerToken(_ bytes: [UInt8]) throws(Malformed) -> String {
        let isSpace = { (b: UInt8) in b == 0x20 || (0x09...0x0D).contains(b) }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else {
            throw Malformed(reason: "is empty")
        }
        let token = bytes[first...last]
        guard token.count <= maximumTokenBytes else {
            throw Malformed(reason: "is \(token.count) bytes long, more than the \(maximumTokenBytes) a bearer token may have")
        }
        var padding = false
        for (offset, b) in token.enumerated() {
            let allowed: Bool
            switch b {
            case UInt8(ascii: "="): padding = true; allowed = true
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                allowed = !padding
            default: allowed = false
            }
            guard allowed else {
                let what = b < 0x20 || b == 0x7F ? "a control character" : "a character a bearer token cannot have"
                throw Malformed(reason: "has \(what) at byte \(offset + 1) (a bearer token is letters, digits and -._~+/ with = padding at the end)")
            }
        }
        return String(decoding: token, as: UTF8.self)
    }

    /// Reads a token file: a regular file of at most `maximumFileBytes`. One that others may read
    /// gets a warning (once).
    func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw failure("cannot read the token file \(path) (from \(description)): \(String(cString: strerror(errno))); \(remedy)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw failure("the token file \(path) (from \(description)) is not a regular file; write the token into a file (mode 0600)")
        }
        if info.st_mode & 0o044 != 0, firstModeWarning() {
            warn("the token file \(path) for site \(site) can be read by other users (mode \(String(info.st_mode & 0o777, radix: 8))); "
                 + "chmod 600 \(path)")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("cannot read the token file \(path) (from \(description)): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes += buffer[0..<n]
            if bytes.count > Self.maximumFileBytes {
                throw failure("the token file \(path) (from \(description)) is larger than \(Self.maximumFileBytes) bytes; it must hold only the token")
            }
        }
        return bytes
    }

    /// Whether the file-mode warning is yet to be given (and from now on, given).
    private func firstModeWarning() -> Bool {
        lock.withLock {
            defer { warnedAboutMode = true }
            return !warnedAboutMode
        }
    }

    /// Asks oidc-agent for a token: `oidc-token [--aud=<audience>] <account>`, no shell.
    func runOIDCToken(program: String, account: String, audience: String?) async throws -> [UInt8] {
        var arguments: [String] = []
        if let audience { arguments.append("--aud=" + audience) }
        // an account or issuer that looks like an option is refused, never passed on
        guard !account.hasPrefix("-"), audience.map({ !$0.hasPrefix("-") }) ?? true else {
            throw failure("refusing to run \(program) with an argument that starts with \"-\" (\(description))")
        }
        arguments.append(account)
        let result = await BoundedProcess.run([program] + arguments, environment: BoundedProcess.inheritedEnvironment(),
                                              timeout: Self.oidcTokenTimeout, outputLimit: Self.maximumFileBytes, errorLimit: Self.maximumFileBytes)
        if let why = result.launchError { throw failure("\(description) could not be started (\(why)); \(remedy)") }
        guard !result.timedOut else {
            throw failure("\(description) did not answer within \(Int(Self.oidcTokenTimeout)) s (is oidc-agent running and the account loaded? oidc-add \(account)); \(remedy)")
        }
        guard result.status == 0 else {
            let said = AgentProvider.excerpt(String(decoding: result.stderr, as: UTF8.self), limit: 300, redacting: nil)
            let how = result.status.map { "exit \($0)" } ?? "signal \(result.signal ?? 0)"
            throw failure("\(description) failed (\(how))\(said.isEmpty ? "" : ": " + said); "
                          + "start oidc-agent and load the account (oidc-add \(account)), or \(remedy)")
        }
        guard !result.stdoutTruncated else {
            throw failure("\(description) wrote more than \(Self.maximumFileBytes) bytes; it must print only the token; \(remedy)")
        }
        return result.stdout
    }

    /// The `exp` of a JWT (read, not verified: only to know how long to keep it).
    static func expiry(ofJWT token: String) -> Date? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1].count <= maximumTokenBytes else { return nil }
        var b64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        b64 += String(repeating: "=", count: (4 - b64.count % 4) % 4)
        guard let data = Data(base64Encoded: b64),
              let claims = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let exp = (claims["exp"] as? NSNumber)?.doubleValue, exp.isFinite, exp > 0, exp < 1e11 else { return nil }
        return Date(timeIntervalSince1970: exp)
    }
}
