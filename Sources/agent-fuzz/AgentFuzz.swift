import AgentFuzzing
import FuzzDriver

/// One input through the agent's targets (request bodies, files a job writes, tokens, the
/// config file), under the name libFuzzer and `FuzzDriver` call.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    FuzzTargets.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

@main
struct AgentFuzz {
    static func main() { FuzzDriver.main(name: "agent-fuzz") }
}
