import Foundation

/// Assesses twins' source repositories against the SQAaaS software criteria and remembers each
/// assessment per source and commit for the life of the process (the hook runs in pre-plan and
/// pre-apply; the second asks again and gets the first answer while the commit is the same).
public actor QualityAssessor {
    public let repositoryRoot: String
    public let settings: QualitySettings
    private var cache: [String: QualityReport] = [:]
    /// How many assessments were made (not answered from the cache); for tests and diagnostics.
    public private(set) var assessmentsMade = 0

    public init(repositoryRoot: String, settings: QualitySettings) {
        self.repositoryRoot = repositoryRoot
        self.settings = settings
    }

    /// Assesses `source` (a git URL or a folder of the repository).
    public func assess(_ source: String) async throws(QualityError) -> QualityReport {
        let parsed = try QualitySource.parse(source)
        let git = GitRunner(timeout: settings.gitTimeout)
        let root = repositoryRoot
        let settings = settings
        // What identifies the content: the remote's HEAD (without cloning) or the folder's commit.
        let identity: Result<(key: String, remote: (head: String, tags: [(name: String, commit: String)])?), QualityError> = await Self.offload {
            do throws(QualityError) {
                switch parsed {
                case .git(let url):
                    let remote = try git.remoteHead(url)
                    return .success(("\(url)\n\(remote.head)", remote))
                case .path(let p):
                    let real = try Checkout.folder(p, repositoryRoot: root)
                    let head = (try? git.local(real))?.head
                    return .success(("\(real)\n\(head ?? "-")", nil))
                }
            } catch {
                return .failure(error)
            }
        }
        let (key, remote) = try identity.get()
        if let hit = cache[key] { return hit }
        let made: Result<QualityReport, QualityError> = await Self.offload {
            do throws(QualityError) {
                let checkout = try Checkout.make(parsed, repositoryRoot: root, git: git, remote: remote)
                defer { checkout.cleanup() }
                return .success(Self.assess(checkout, settings: settings))
            } catch {
                return .failure(error)
            }
        }
        let report = try made.get()
        assessmentsMade += 1
        // A folder without commits is not cached: its content has no identity.
        if !key.hasSuffix("\n-") { cache[key] = report }
        return report
    }

    /// Runs every criterion on a checkout.
    public static func assess(_ checkout: Checkout, settings: QualitySettings) -> QualityReport {
        let checks = CriterionChecks(checkout: checkout, settings: settings)
        var report: [String: QualityReport.CriterionReport] = [:]
        for c in QualityCriterion.allCases { report[c.rawValue] = checks.run(c) }
        let name: String
        switch checkout.source {
        case .git(let url):
            var n = url.split(separator: "/").last.map(String.init) ?? url
            if n.hasSuffix(".git") { n = String(n.dropLast(4)) }
            name = n.split(separator: ":").last.map(String.init) ?? n
        case .path(let p):
            name = (checkout.files.root as NSString).lastPathComponent.isEmpty ? p : (checkout.files.root as NSString).lastPathComponent
        }
        let tag = checkout.headTags.filter(SemanticVersion.isValid).sorted().last ?? checkout.headTags.sorted().last
        return QualityReport(repository: .init(name: name, url: checkout.source.description, tag: tag, commit: checkout.commit), report: report)
    }

    /// Runs blocking work (git, configured commands) off the cooperative thread pool.
    static func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: work()) }
        }
    }
}
