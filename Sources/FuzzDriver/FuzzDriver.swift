import Foundation

/// The one input the executable fuzzes: each fuzz executable exports it under libFuzzer's
/// conventional name (`@_cdecl("LLVMFuzzerTestOneInput")`), which libFuzzer's runtime archive
/// refers to; the driver calls it in both modes.
@_silgen_name("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt

#if FUZZING
/// libFuzzer's driver (linked by `-sanitize=fuzzer`): it parses libFuzzer's command line (corpus
/// folders, -max_total_time, …) and calls the callback with every input it makes.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
#endif

/// The `main` of a fuzz executable. Built with `-sanitize=fuzzer -D FUZZING` (`scripts/fuzz.sh`
/// does), it hands libFuzzer's command line to libFuzzer; otherwise it runs each file given (or
/// every file of each folder) through the input once — a replay of a corpus or of a crash the
/// fuzzer saved. SwiftPM points the executable's `main` at the caller's `@main` type, so
/// libFuzzer's own `main` is not the one that runs.
public enum FuzzDriver {
    public static func main(name: String) -> Never {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in testOneInput(data, size) })
        #else
        var count = 0
        for argument in CommandLine.arguments.dropFirst() {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isFolder) else {
                FileHandle.standardError.write(Data("\(name): \(argument) does not exist\n".utf8))
                exit(64)
            }
            let files = isFolder.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []).sorted().map { "\(argument)/\($0)" }
                : [argument]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                _ = data.withUnsafeBytes { testOneInput($0.bindMemory(to: UInt8.self).baseAddress, $0.count) }
                count += 1
            }
        }
        print("\(name): \(count) inputs ran without a crash")
        exit(0)
        #endif
    }
}
