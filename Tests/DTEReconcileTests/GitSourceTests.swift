import DTEReconcile
import Foundation
import Testing

@Suite("GitSource")
struct GitSourceTests {
    @Test("hostile remotes, branches and revisions are refused before git runs", arguments: [
        ("ext::sh -c 'touch /tmp/pwned'", "main", "remote helpers"),
        ("--upload-pack=touch /tmp/pwned", "main", "must not start with \"-\""),
        ("/srv/repo.git\nx", "main", "control characters"),
        ("", "main", "1 to 4096 bytes"),
        ("/srv/repo.git", "../../etc", "not a valid branch name"),
        ("/srv/repo.git", "-f", "not a valid branch name"),
        ("/srv/repo.git", "a b", "not a valid branch name"),
        ("/srv/repo.git", "x.lock", "not a valid branch name"),
    ])
    func refused(_ url: String, _ branch: String, _ why: String) {
        let p = ReconcileSource.problem(url: url, branch: branch)
        #expect(p?.contains(why) == true, "\(p ?? "accepted")")
    }

    @Test("ordinary remotes and branches pass; only full commit ids pin")
    func accepted() {
        #expect(ReconcileSource.problem(url: "https://git.example.org/flood.git", branch: "main") == nil)
        #expect(ReconcileSource.problem(url: "git@git.example.org:flood.git", branch: "release/2026.12") == nil)
        #expect(ReconcileSource.problem(url: "/srv/git/flood.git", branch: "feature-x") == nil)
        #expect(ReconcileSource.problem(url: "ssh://[::1]/srv/flood.git", branch: "main") == nil, "an IPv6 address is not a remote helper")
        #expect(ReconcileSource.isCommitID(String(repeating: "a", count: 40)))
        #expect(!ReconcileSource.isCommitID("abc1234"), "an abbreviation cannot be fetched shallow")
        #expect(!ReconcileSource.isCommitID("HEAD~1"))
    }

    @Test("a fetch from a remote that does not exist is an error quoting git, and leaves no checkout")
    func missingRemote() async throws {
        let dir = NSTemporaryDirectory() + "dte-git-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            _ = try await GitFetcher(cacheDirectory: dir).fetch(url: dir + "/nothing.git", branch: "main", revision: nil)
            Issue.record("a missing remote cannot be fetched")
        } catch {
            #expect(error.message.contains("git fetch failed"), "\(error.message)")
        }
    }
}
