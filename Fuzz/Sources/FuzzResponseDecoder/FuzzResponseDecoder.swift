import FuzzDriver
import ZeusAPI

/// libFuzzer entry: any bytes must decode to an answer or a typed error, never trap or hang.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzResponseDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let answer = try? PaymentReturnResponse.decode(bytes) {
        // An accepted answer carries fields of plausible length.
        precondition(answer.status.count <= 64 && answer.code.count <= 64, "implausible field accepted")
    }
    return 0
}

// SwiftPM links an executable with `main` aliased to `FuzzResponseDecoder_main`; hand control to libFuzzer.
@_cdecl("FuzzResponseDecoder_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv) { data, size in fuzzResponseDecoder(data, size) }
}
