import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `bench drain --metrics`: scrapes the daemon's `/metrics` as Prometheus would, once the daemon
/// has logged its port and then every `interval` seconds, until stopped.
final class MetricsScraper: Sendable {
    private let task: Task<(scrapes: Int, failures: Int), Never>

    init(daemonLog: String, interval: Double) {
        task = Task.detached {
            var url: URL?
            var scrapes = 0
            var failures = 0
            while !Task.isCancelled {
                if url == nil, let log = try? String(contentsOfFile: daemonLog, encoding: .utf8),
                    let match = log.firstMatch(of: /serving (http:\/\/127\.0\.0\.1:\d+\/metrics)/)
                {
                    url = URL(string: String(match.1))
                }
                guard let url else {
                    try? await Task.sleep(nanoseconds: 5_000_000)
                    continue
                }
                let answer = try? await URLSession.shared.data(from: url)
                if let (_, response) = answer, (response as? HTTPURLResponse)?.statusCode == 200 { scrapes += 1 } else { failures += 1 }
                try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
            }
            return (scrapes, failures)
        }
    }

    func stop() async -> (scrapes: Int, failures: Int) {
        task.cancel()
        return await task.value
    }
}
