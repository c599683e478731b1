import ArgumentParser
import DTECompiler
import Foundation

extension DTE {
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a DTE repository: the local development cluster, one example twin, the DTE types, dte.yaml, .gitignore and CI files.",
            discussion: """
                Writes sites/local.yaml (the cluster scripts/dev-cluster.sh starts), templates/demo.yaml (a twin of three \
                small jobs), templates/dte/types.yaml, recipes/, dte.yaml, .gitignore, .github/workflows/dte.yml and \
                .gitlab-ci.yml. The result validates and plans at once: dte validate, dte plan. DIR must be empty or \
                missing; --force writes into a folder that is not, replacing files of the same names (nothing else is \
                touched). Exit status: 0 written, 1 refused or failed, 64 usage error.
                """
        )

        @Argument(help: "The folder to create the repository in (made when missing).")
        var directory: String = "."
        @Flag(help: "Write into a folder that is not empty, replacing files of the scaffold's names.")
        var force = false

        func run() throws {
            let fm = FileManager.default
            let dir = SourceSet.absolute(directory, relativeTo: fm.currentDirectoryPath)
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: dir, isDirectory: &isDir) {
                guard isDir.boolValue else { throw CommandFailure("\(directory) exists and is not a folder") }
                let entries = (try? fm.contentsOfDirectory(atPath: dir)) ?? []
                if !entries.isEmpty && !force {
                    throw CommandFailure("\(directory) is not empty (\(entries.count) entr\(entries.count == 1 ? "y" : "ies")); "
                                         + "choose a new folder, or pass --force to add the scaffold (files of the same names are replaced)")
                }
            }
            // Check everything before writing anything: no link to follow, no folder where a file goes.
            var replaced: Set<String> = []
            for f in InitScaffold.files {
                var path = dir
                for part in f.path.split(separator: "/") {
                    path = (path as NSString).appendingPathComponent(String(part))
                    var st = stat()
                    guard lstat(path, &st) == 0 else { break }
                    let rel = String(path.dropFirst(dir.count + 1))
                    if st.st_mode & S_IFMT == S_IFLNK {
                        throw CommandFailure("\(rel) in \(directory) is a symbolic link; dte init does not write through links")
                    }
                    if rel == f.path {
                        guard st.st_mode & S_IFMT == S_IFREG else { throw CommandFailure("\(rel) in \(directory) exists and is not a file") }
                        replaced.insert(f.path)
                    } else if st.st_mode & S_IFMT != S_IFDIR {
                        throw CommandFailure("\(rel) in \(directory) exists and is not a folder")
                    }
                }
            }
            for f in InitScaffold.files {
                let path = (dir as NSString).appendingPathComponent(f.path)
                do {
                    try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    try Data(f.text.utf8).write(to: URL(fileURLWithPath: path), options: replaced.contains(f.path) ? .atomic : .withoutOverwriting)
                } catch {
                    throw CommandFailure("cannot write \(f.path) in \(directory): \(error.localizedDescription)")
                }
                print("\(replaced.contains(f.path) ? "replaced" : "created ") \(f.path)")
            }
            let cd = directory == "." ? "" : "cd \(directory) && "
            print("""

                A DTE repository for the local development cluster (sites/local.yaml) with the demo twin. Next:
                  \(cd)git init && dte validate && dte plan
                start the cluster with the DTE project's scripts/dev-cluster.sh, then dte apply; docs/ci.md explains the CI files.
                """)
        }
    }
}
