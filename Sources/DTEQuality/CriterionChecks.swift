import Foundation

/// The checks of each criterion on one checkout. Each returns the criterion's report: its
/// subcriteria (baseline ids) with the evidence seen and a hint.
struct CriterionChecks {
    typealias Report = QualityReport.CriterionReport
    typealias Sub = QualityReport.Subcriterion
    typealias Evidence = QualityReport.Evidence

    let checkout: Checkout
    let settings: QualitySettings
    var files: RepositoryFiles { checkout.files }

    static let licenseReadLimit = 256 << 10
    static let metadataReadLimit = 1 << 20
    static let ciReadLimit = 256 << 10

    func run(_ c: QualityCriterion) -> Report {
        switch c {
        case .acc: return acc()
        case .lic: return lic()
        case .met: return met()
        case .doc: return doc()
        case .ver: return ver()
        case .sty, .sec, .uni: return command(c)
        case .wor: return wor()
        case .man: return man()
        case .del: return del()
        }
    }

    /// A short commit id for messages.
    var commitText: String { checkout.commit.map { String($0.prefix(12)) } ?? "(no commit)" }

    func one(_ id: String, _ description: String, _ valid: Bool, _ message: String, hint: String) -> (String, Sub) {
        (id, Sub(description: description, valid: valid, evidence: [Evidence(valid: valid, message: message, tool: "dte")], hint: hint))
    }

    // MARK: QC.Acc

    func acc() -> Report {
        let message = checkout.isGit
            ? "source code is managed with git (commit \(commitText))"
            : "\(files.root) is not a git work tree: the source code is not under version control"
        let s = one("QC.Acc01", "Is the source code managed with a version control system?", checkout.isGit, message,
                    hint: "Keep the code in a git repository (git init, commit, and publish it on a code hosting platform).")
        return Report(valid: checkout.isGit, subcriteria: [s.0: s.1])
    }

    // MARK: QC.Lic

    static let licenseNames = ["LICENSE", "LICENSE.md", "LICENSE.txt", "LICENSE.rst", "LICENCE", "LICENCE.md", "LICENCE.txt",
                               "COPYING", "COPYING.md", "COPYING.txt"]

    func lic() -> Report {
        let hintFile = "Add a LICENSE file with the text of an OSI-approved licence (e.g. Apache-2.0, MIT, GPL-3.0) at the root of the repository."
        guard let found = files.find(names: Self.licenseNames) else {
            let a = one("QC.Lic01", "Is the code licensed to be freely used, modified and distributed?", false,
                        "no LICENSE, LICENCE or COPYING file at the root of the repository", hint: hintFile)
            let b = one("QC.Lic01.1", "Is the licence file at the root of the repository?", false, "no licence file at the root", hint: hintFile)
            return Report(valid: false, subcriteria: [a.0: a.1, b.0: b.1])
        }
        var subs: [String: Sub] = [:]
        let atRoot = one("QC.Lic01.1", "Is the licence file at the root of the repository?", true, "\(found.path) is at the root", hint: hintFile)
        subs[atRoot.0] = atRoot.1
        switch files.read(found.path, limit: Self.licenseReadLimit) {
        case .failure(let why):
            let a = one("QC.Lic01", "Is the code licensed to be freely used, modified and distributed?", false,
                        "\(found.path) could not be read: \(why)", hint: hintFile)
            subs[a.0] = a.1
            subs["QC.Lic01.1"] = Sub(description: atRoot.1.description, valid: false,
                                     evidence: [Evidence(valid: false, message: "\(found.path) is not a readable file: \(why)", tool: "dte")], hint: hintFile)
            return Report(valid: false, subcriteria: subs)
        case .success(let r):
            let rec = LicenseCatalog.recognise(r.bytes)
            let recognised = rec.id != nil
            let a = one("QC.Lic01", "Is the code licensed to be freely used, modified and distributed?", recognised,
                        recognised ? "\(found.path): \(rec.id ?? "") (from the \(rec.how))" : "\(found.path): the licence is not recognised (no SPDX-License-Identifier line and no known licence text)",
                        hint: hintFile)
            subs[a.0] = a.1
            let b = one("QC.Lic02", "Is the licence approved by the Open Source Initiative?", rec.osiApproved,
                        rec.osiApproved ? "\(rec.id ?? "") is OSI-approved" : "\(rec.id ?? "the licence of \(found.path)") is not an OSI-approved licence",
                        hint: "Use a licence from the OSI list (https://opensource.org/licenses); SPDX identifiers are at https://spdx.org/licenses.")
            subs[b.0] = b.1
            return Report(valid: recognised && rec.osiApproved, subcriteria: subs)
        }
    }

    // MARK: QC.Met

    func met() -> Report {
        let hint = "Add a CITATION.cff (Citation File Format 1.2: cff-version, message, title, authors) or a codemeta.json at the root."
        var evidence: [Evidence] = []
        var valid = false
        for (name, check) in [("CITATION.cff", SoftwareMetadata.citationProblems), ("codemeta.json", SoftwareMetadata.codemetaProblems)] {
            guard let found = files.find(names: [name]) else { continue }
            switch files.read(found.path, limit: Self.metadataReadLimit) {
            case .failure(let why):
                evidence.append(Evidence(valid: false, message: "\(found.path) could not be read: \(why)", tool: "dte"))
            case .success(let r) where r.truncated:
                evidence.append(Evidence(valid: false, message: "\(found.path) is larger than \(Self.metadataReadLimit >> 20) MiB", tool: "dte"))
            case .success(let r):
                let problems = check(r.bytes)
                if problems.isEmpty {
                    valid = true
                    evidence.append(Evidence(valid: true, message: "\(found.path) is valid", tool: "dte"))
                } else {
                    evidence.append(Evidence(valid: false, message: problems.joined(separator: "; "), tool: "dte"))
                }
            }
        }
        if evidence.isEmpty {
            evidence.append(Evidence(valid: false, message: "neither CITATION.cff nor codemeta.json at the root of the repository", tool: "dte"))
        }
        let sub = Sub(description: "Is the software citable (a valid metadata file along with the code)?", valid: valid, evidence: evidence, hint: hint)
        return Report(valid: valid, subcriteria: ["QC.Met01": sub])
    }

    // MARK: QC.Doc

    static let docExtensions = ["", ".md", ".rst", ".txt", ".adoc", ".markdown"]

    func docFile(_ base: String, folders: [String]) -> (valid: Bool, message: String) {
        let names = Self.docExtensions.map { base + $0 }
        for folder in folders {
            guard let found = files.find(in: folder, names: names) else { continue }
            switch found.entry {
            case .file(let size) where size > 0: return (true, "\(found.path) (\(size) bytes)")
            case .file: return (false, "\(found.path) is empty")
            case .refused(let why): return (false, why)
            case .directory: return (false, "\(found.path) is a folder, not a file")
            case .missing: continue
            }
        }
        let places = folders.map { $0.isEmpty ? "the root" : $0 + "/" }.joined(separator: ", ")
        return (false, "no \(base) file in \(places)")
    }

    func doc() -> Report {
        let checks: [(String, String, String, [String], String)] = [
            ("QC.Doc06.1", "Is the software's scope outlined in a README?", "README", [""],
             "Add a README (Markdown or reStructuredText) at the root: what the software does, how to install, test and use it."),
            ("QC.Doc06.2", "Is there a guide on how to contribute?", "CONTRIBUTING", ["", "docs", ".github"],
             "Add a CONTRIBUTING file describing how to propose changes (branches, pull requests, tests)."),
            ("QC.Doc06.3", "Does the project set a code of conduct?", "CODE_OF_CONDUCT", ["", "docs", ".github"],
             "Add a CODE_OF_CONDUCT file (e.g. the Contributor Covenant)."),
        ]
        var subs: [String: Sub] = [:]
        for (id, description, base, folders, hint) in checks {
            let r = docFile(base, folders: folders)
            subs[id] = Sub(description: description, valid: r.valid, evidence: [Evidence(valid: r.valid, message: r.message, tool: "dte")], hint: hint)
        }
        return Report(valid: subs.values.allSatisfy(\.valid), subcriteria: subs)
    }

    // MARK: QC.Ver

    func ver() -> Report {
        let hint = "Tag the release you deploy with a Semantic Versioning tag (e.g. git tag v1.2.0 && git push --tags)."
        let semver = checkout.headTags.filter(SemanticVersion.isValid)
        let message: String
        if let tag = semver.sorted().last {
            message = "release tag \(tag) on commit \(commitText) is SemVer compliant"
        } else if !checkout.headTags.isEmpty {
            message = "tag \(checkout.headTags.sorted().joined(separator: ", ")) on commit \(commitText) is not SemVer compliant"
        } else {
            let others = checkout.allTags.filter(SemanticVersion.isValid)
            let seen = others.isEmpty ? "" : " (SemVer tags on other commits: \(others.suffix(5).joined(separator: ", ")))"
            message = checkout.isGit ? "no release tag on the assessed commit \(commitText)\(seen)" : "not a git repository: no release tags"
        }
        let s = one("QC.Ver01", "Is the release compliant with Semantic Versioning?", !semver.isEmpty, message, hint: hint)
        return Report(valid: !semver.isEmpty, subcriteria: [s.0: s.1])
    }

    // MARK: QC.Sty, QC.Sec, QC.Uni

    /// Languages seen at the root, from the files their tools use.
    func languages() -> [String] {
        let names = Set(files.list(""))
        func has(_ n: String) -> Bool { names.contains(n) }
        func ext(_ e: String) -> Bool { names.contains { $0.hasSuffix(e) } }
        var found: [String] = []
        if has("pyproject.toml") || has("setup.py") || has("setup.cfg") || has("requirements.txt") || ext(".py") { found.append("python") }
        if has("Package.swift") { found.append("swift") }
        if has("go.mod") { found.append("go") }
        if has("package.json") { found.append("javascript") }
        if has("Cargo.toml") { found.append("rust") }
        if has("pom.xml") || has("build.gradle") || has("build.gradle.kts") { found.append("java") }
        if has("CMakeLists.txt") || has("meson.build") { found.append("c++") }
        if has("DESCRIPTION") && has("NAMESPACE") { found.append("r") }
        if has("Project.toml") { found.append("julia") }
        if ext(".sh") { found.append("shell") }
        return found
    }

    func command(_ c: QualityCriterion) -> Report {
        let (id, description): (String, String) = switch c {
        case .sty: ("QC.Sty01", "Does the code comply with the style standards of its languages?")
        case .sec: ("QC.Sec02", "Does a static application security test (SAST) pass?")
        default: ("QC.Uni01", "Do the unit tests pass?")
        }
        let configured = settings.commands[c] ?? [:]
        let seen = languages()
        var toRun: [(String, [String])] = seen.compactMap { l in configured[l].map { (l, $0) } }
        if let any = configured["any"] { toRun.append(("any", any)) }
        let hint = "Configure the \(c.rawValue) command for each language in dte.yaml (quality.commands.\(c.rawValue).<language>: [program, args…]) and make it pass."
        guard !toRun.isEmpty else {
            let langs = seen.isEmpty ? "no language recognised at the root" : "languages seen: \(seen.joined(separator: ", "))"
            let reason = "no \(c.rawValue) command configured for this repository (\(langs)); set quality.commands.\(c.rawValue).<language> in dte.yaml"
            let sub = Sub(description: description, valid: false, evidence: [Evidence(valid: false, message: reason, tool: "dte")], hint: hint)
            return Report(valid: false, filteredReason: [reason], subcriteria: [id: sub])
        }
        var evidence: [Evidence] = []
        for (language, argv) in toRun {
            let shown = argv.joined(separator: " ")
            do {
                let r = try CommandRunner.run(argv, in: files.root, timeout: settings.commandTimeout, outputLimit: settings.outputLimit)
                let message: String
                if r.timedOut {
                    message = "\(language): `\(shown)` did not finish within \(Int(settings.commandTimeout)) s and was stopped"
                } else if r.succeeded {
                    message = "\(language): `\(shown)` passed"
                } else {
                    let last = r.output.split(whereSeparator: \.isNewline).suffix(3).joined(separator: " / ")
                    message = "\(language): `\(shown)` failed (exit status \(r.exitStatus.map(String.init) ?? "signal"))" + (last.isEmpty ? "" : ": \(last)")
                }
                let data = Evidence.CommandData(argv: argv, exitStatus: r.exitStatus, timedOut: r.timedOut, seconds: (r.seconds * 1000).rounded() / 1000,
                                                output: r.output, outputTruncated: r.truncated)
                evidence.append(Evidence(valid: r.succeeded, message: message, tool: argv[0], data: data))
            } catch {
                evidence.append(Evidence(valid: false, message: "\(language): `\(shown)` could not be started: \(error.message)", tool: argv[0]))
            }
        }
        let valid = evidence.allSatisfy(\.valid)
        return Report(valid: valid, subcriteria: [id: Sub(description: description, valid: valid, evidence: evidence, hint: hint)])
    }

    // MARK: QC.Wor, QC.Man, QC.Del

    /// CI definitions in the repository (paths relative to the root).
    func ciFiles() -> [String] {
        var found: [String] = []
        for f in [".gitlab-ci.yml", "Jenkinsfile", ".travis.yml", "azure-pipelines.yml", "bitbucket-pipelines.yml", ".drone.yml", ".woodpecker.yml"] {
            if case .file = files.entry(f) { found.append(f) }
        }
        for folder in [".github/workflows", ".woodpecker", ".sqa", ".circleci"] {
            for name in files.list(folder, limit: 200) where name.hasSuffix(".yml") || name.hasSuffix(".yaml") {
                let path = folder + "/" + name
                if case .file = files.entry(path) { found.append(path) }
            }
        }
        return found
    }

    func wor() -> Report {
        let ci = ciFiles()
        let s = one("QC.Wor01", "Is every change to the main branch checked automatically (a CI definition in the repository)?", !ci.isEmpty,
                    ci.isEmpty ? "no CI definition found (.github/workflows, .gitlab-ci.yml, Jenkinsfile, .sqa/, …)" : "CI definitions: \(ci.prefix(5).joined(separator: ", "))",
                    hint: "Add a CI workflow that builds and tests every change (e.g. .github/workflows/ci.yml or .gitlab-ci.yml).")
        return Report(valid: !ci.isEmpty, subcriteria: [s.0: s.1])
    }

    func firstPresent(_ candidates: [String]) -> String? {
        for c in candidates {
            switch files.entry(c) {
            case .file(let size) where size > 0: return c
            case .directory where !files.list(c, limit: 1).isEmpty: return c + "/"
            default: continue
            }
        }
        return nil
    }

    func man() -> Report {
        let issue = firstPresent([".github/ISSUE_TEMPLATE", ".github/ISSUE_TEMPLATE.md", "ISSUE_TEMPLATE.md", "docs/ISSUE_TEMPLATE.md", ".gitlab/issue_templates"])
        let pull = firstPresent([".github/pull_request_template.md", ".github/PULL_REQUEST_TEMPLATE.md", ".github/PULL_REQUEST_TEMPLATE",
                                 "pull_request_template.md", "PULL_REQUEST_TEMPLATE.md", "docs/pull_request_template.md", ".gitlab/merge_request_templates"])
        let a = one("QC.Man01.2", "Are issues described from a template?", issue != nil,
                    issue.map { "issue templates: \($0)" } ?? "no issue template (.github/ISSUE_TEMPLATE/, .gitlab/issue_templates/)",
                    hint: "Add issue templates (bug report, feature request) under .github/ISSUE_TEMPLATE/ or .gitlab/issue_templates/.")
        let b = one("QC.Man02.4", "Are pull (merge) requests described from a template?", pull != nil,
                    pull.map { "pull request template: \($0)" } ?? "no pull request template (.github/pull_request_template.md, .gitlab/merge_request_templates/)",
                    hint: "Add a pull request template (.github/pull_request_template.md or .gitlab/merge_request_templates/).")
        return Report(valid: issue != nil || pull != nil, subcriteria: [a.0: a.1, b.0: b.1])
    }

    static let artifactDefinitions = ["Dockerfile", "Containerfile", "apptainer.def", "Singularity", "singularity.def", "pyproject.toml", "setup.py",
                                      "package.json", "Package.swift", "Cargo.toml", "go.mod", "pom.xml", "build.gradle", "build.gradle.kts",
                                      "DESCRIPTION", "Project.toml", "debian/control"]
    static let publishMarkers = ["docker push", "docker/build-push-action", "podman push", "buildah push", "twine upload",
                                 "pypa/gh-action-pypi-publish", "npm publish", "cargo publish", "mvn deploy", "gradle publish",
                                 "gh release create", "softprops/action-gh-release", "goreleaser", "apptainer push", "singularity push",
                                 "oras push", "helm push", "poetry publish", "flit publish", "uv publish", "package-registry publish"]

    func del() -> Report {
        let artifact = Self.artifactDefinitions.first { if case .file = files.entry($0) { return true } else { return false } }
        var publishing: String?
        for path in ciFiles().prefix(50) {
            guard case .success(let r) = files.read(path, limit: Self.ciReadLimit) else { continue }
            let text = String(decoding: r.bytes, as: UTF8.self).lowercased()
            if let m = Self.publishMarkers.first(where: { text.contains($0) }) { publishing = "\(path) (\(m))"; break }
        }
        let a = one("QC.Del01", "Is the code built as an artifact (a build definition in the repository)?", artifact != nil,
                    artifact.map { "artifact definition: \($0)" } ?? "no artifact definition (Dockerfile, Containerfile, pyproject.toml, package.json, Package.swift, …)",
                    hint: "Add the definition of the deliverable: a container recipe or a package manifest.")
        let b = one("QC.Del02", "Is the artifact published to a public registry by the CI?", publishing != nil,
                    publishing.map { "published by \($0)" } ?? "no CI step publishes an artifact (docker push, twine upload, npm publish, a release action, …)",
                    hint: "Publish the built artifact from CI to a public registry (container registry, PyPI, a release page).")
        return Report(valid: artifact != nil && publishing != nil, subcriteria: [a.0: a.1, b.0: b.1])
    }
}
