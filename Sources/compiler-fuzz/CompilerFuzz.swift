import CompilerFuzzing
import Foundation

#if FUZZING
/// libFuzzer's driver (linked by `-sanitize=fuzzer`): it parses libFuzzer's command line (corpus
/// folders, -max_total_time, …) and calls the callback with every input it makes.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// One input through the compiler; also under libFuzzer's conventional name, which its runtime
/// archive refers to.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    CompilerFuzzTargets.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// Built with `-sanitize=fuzzer -D FUZZING` (`scripts/fuzz.sh compiler` does): libFuzzer's command line.
@main
struct CompilerFuzz {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
    }
}
#else
/// Without libFuzzer: runs each file (or every file of each folder) given through the compiler
/// once — a replay of a corpus or of a crash the fuzzer saved.
@main
struct CompilerFuzzReplay {
    static func main() {
        var count = 0
        for argument in CommandLine.arguments.dropFirst() {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isFolder) else {
                FileHandle.standardError.write(Data("compiler-fuzz: \(argument) does not exist\n".utf8))
                exit(64)
            }
            let files = isFolder.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []).sorted().map { "\(argument)/\($0)" }
                : [argument]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                CompilerFuzzTargets.run(data)
                count += 1
            }
        }
        print("compiler-fuzz: \(count) inputs ran without a crash")
    }
}
#endif
