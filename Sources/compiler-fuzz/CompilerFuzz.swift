import CompilerFuzzing
import FuzzDriver

/// One input through the YAML loader and the compiler, under the name libFuzzer and
/// `FuzzDriver` call.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    CompilerFuzzTargets.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@main
struct CompilerFuzz {
    static func main() { FuzzDriver.main(name: "compiler-fuzz") }
}
