import NIOHTTP1

/// The `/_sim/...` control API: plain HTTP, so integrators can drive it with curl.
enum SimulatorControl {
    static func handle(method: HTTPMethod, uri: String, state: SimulatorState) -> (HTTPResponseStatus, String) {
        let (path, query) = split(uri)
        switch (method, path) {
        case (.GET, "/_sim/health"):
            return (.ok, "ok\n")
        case (.GET, "/_sim/requests"):
            let lines = state.requests.map {
                "\($0.sequence)\t\($0.orderNumber ?? "-")\t\($0.answer)\t\($0.cancelled ? "cancelled" : "-")"
            }
            return (.ok, lines.map { $0 + "\n" }.joined())
        case (.POST, "/_sim/maintenance"):
            let on = query["on"].map { ["1", "true", "on", "yes"].contains($0) } ?? true
            state.setMaintenance(on)
            return (.ok, "maintenance \(on ? "on" : "off")\n")
        case (.POST, "/_sim/latency"):
            guard let seconds = query["seconds"].flatMap(Double.init), seconds >= 0 else {
                return (.badRequest, "latency needs seconds=S (0 or more)\n")
            }
            state.setLatency(seconds)
            return (.ok, "latency \(seconds) s\n")
        case (.POST, "/_sim/fault"):
            guard
                let kind = query["kind"],
                let fault = SimulatorFault(
                    kind: kind, status: query["status"], code: query["code"],
                    seconds: query["seconds"].flatMap(Double.init))
            else {
                return (.badRequest,
                    "fault needs kind=failure|not-found|maintenance|answer|delay|hang|cut|trickle|html|garbage|status "
                        + "(answer: status= code=; delay: seconds=; trickle: seconds= per byte, default 0.5, above 0; "
                        + "status: code=HTTP status)\n")
            }
            let times = query["times"].flatMap(Int.init) ?? 1
            state.addFault(fault, times: times, order: query["order"])
            return (.ok, "fault \(kind) x\(times) for \(query["order"] ?? "every order")\n")
        case (.POST, "/_sim/missing"):
            guard let order = query["order"] else { return (.badRequest, "missing needs order=ORDER\n") }
            if query["on"] == "0" { state.forgetMissing(order) } else { state.markMissing(order) }
            return (.ok, "\(order) \(query["on"] == "0" ? "exists" : "missing")\n")
        case (.POST, "/_sim/reset"):
            state.reset()
            return (.ok, "reset\n")
        default:
            return (.notFound, "unknown control \(method.rawValue) \(path); see README (gateway simulator)\n")
        }
    }

    static func split(_ uri: String) -> (String, [String: String]) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var query: [String: String] = [:]
        if parts.count == 2 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                query[percentDecoded(kv[0])] = kv.count == 2 ? percentDecoded(kv[1]) : ""
            }
        }
        return (String(parts[0]), query)
    }

    static func percentDecoded(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else if byte == UInt8(ascii: "+") {
                bytes.append(0x20)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
