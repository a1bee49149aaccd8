import FuzzDriver
import ZeusAPI

/// libFuzzer entry: the input is split at NUL bytes into client IP, key and order number. The
/// encoder must refuse or produce a body within the gateway's limit, with the order escaped.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestEncoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let fields = UnsafeBufferPointer(start: data, count: size).split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
    guard fields.count == 3 else { return 0 }
    let texts = fields.map { String(decoding: $0, as: UTF8.self) }
    guard let request = try? PaymentReturnRequest(clientIP: texts[0], key: texts[1], orderNumber: texts[2]) else { return 0 }
    precondition(request.body.count <= ZeusLimits.maximumRequestBytes, "body over 8192 bytes")
    let body = String(decoding: request.body, as: UTF8.self)
    // Markup characters of the order number never appear raw inside its element.
    let inner = body.split(separator: "<order_number>")[1].split(separator: "</order_number>")[0]
    precondition(!inner.contains("<") && !inner.contains(">") && !inner.contains("\""), "unescaped order number")
    return 0
}

// SwiftPM links an executable with `main` aliased to `FuzzRequestEncoder_main`; hand control to libFuzzer.
@_cdecl("FuzzRequestEncoder_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv) { data, size in fuzzRequestEncoder(data, size) }
}
