import ArgumentParser
import DTEQuality
import Foundation

extension DTE {
    /// `dte quality PATH-or-GIT-URL [--json] [--sqaaas URL]`: the SQAaaS software criteria and badge
    /// of a twin's source repository.
    struct QualityCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "quality",
            abstract: "Assess a source repository against the SQAaaS software criteria and award its badge (bronze, silver, gold).",
            discussion: """
                SOURCE is a git URL (https://, ssh://, git://, file:// or user@host:path; cloned shallow into a temporary \
                folder) or a folder of the repository (relative to it; a path or link that leaves it is refused). \
                QC.Sty, QC.Sec and QC.Uni run the commands of the quality: section of dte.yaml (argument lists, never a shell, \
                with a timeout). With --sqaaas the assessment is asked of a SQAaaS service instead (SOURCE must then be a URL the \
                service can clone). Exit status: 0 when assessed (whatever the badge), 1 on an error, 64 on a usage error.
                """
        )

        @OptionGroup var location: LocationOptions

        @Argument(help: "A git URL or a folder of the repository.")
        var source: String

        @Flag(help: "Print the report as JSON in the shape of SQAaaS's assessment output.")
        var json = false

        @Option(help: ArgumentHelp("Ask this SQAaaS service (its API URL, e.g. https://api.sqaaas.eosc-synergy.eu/v1).", valueName: "url"))
        var sqaaas: String?

        @Option(help: ArgumentHelp("With --sqaaas: the branch to assess (default: the repository's default branch).", valueName: "name"))
        var branch: String?

        func validate() throws {
            do {
                _ = try QualitySource.parse(source)
            } catch {
                throw ValidationError(error.message)
            }
            if let sqaaas {
                guard case .git = try? QualitySource.parse(source) else {
                    throw ValidationError("--sqaaas needs a git URL the service can clone, not the folder \(source)")
                }
                do { _ = try SQAaaSClient(url: sqaaas) } catch { throw ValidationError(error.message) }
            }
        }

        func run() async throws {
            let root = location.workingDirectory
            let report: QualityReport
            do {
                if let sqaaas {
                    report = try await SQAaaSClient(url: sqaaas).assess(repo: source, branch: branch)
                } else {
                    let settings = try QualitySettings.load(repositoryRoot: root)
                    report = try await QualityAssessor(repositoryRoot: root, settings: settings).assess(source)
                }
            } catch {
                throw CommandFailure(error.message)
            }
            print(json ? report.json() : report.text(), terminator: "")
        }
    }
}
