import ArgumentParser
import CancelConsole
import CancelQueue
import Foundation
import ZeusAPI

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the queue, sending state and recent failures (read-only; never blocks the daemon).",
        discussion: """
            --check exits 0 when healthy, 1 when attention is needed (halted, paused too long, failed
            jobs in the window, the earliest due job overdue), 2 when the database cannot be read,
            and prints one summary line: usable from cron, Nagios-style monitors and systemd timers.
            """)

    @OptionGroup var database: DatabaseOption

    @Flag(help: "Machine-readable JSON (shape documented in the README).")
    var json = false

    @Option(help: ArgumentHelp("Show one order and its whole attempt timeline.", valueName: "order-number"))
    var order: String?

    @Flag(help: "Health check: one line, exit 0 (ok), 1 (attention) or 2 (unreadable).")
    var check = false

    @Option(name: .customLong("max-pause"), help: ArgumentHelp("--check: a maintenance pause longer than this needs attention.", valueName: "s"))
    var maxPause: Double = HealthThresholds().maximumPause

    @Option(name: .customLong("max-overdue"), help: ArgumentHelp("--check: the earliest due job late by more than this needs attention.", valueName: "s"))
    var maxOverdue: Double = HealthThresholds().maximumOverdue

    @Option(name: .customLong("failure-window"), help: ArgumentHelp("--check: failed jobs updated within this window need attention.", valueName: "s"))
    var failureWindow: Double = HealthThresholds().failureWindow

    func validate() throws {
        for (value, flag) in [(maxPause, "--max-pause"), (maxOverdue, "--max-overdue"), (failureWindow, "--failure-window")] {
            try requireWithin(value, Limits.threshold, source: flag)
        }
    }

    func run() async throws {
        let now = QueueClock.now()
        let thresholds = HealthThresholds(maximumPause: maxPause, maximumOverdue: maxOverdue, failureWindow: failureWindow)
        let startOfDay = Calendar.current.startOfDay(for: Date()).timeIntervalSince1970
        let report: StatusReport
        do {
            let factory = try QueueFactory(database)
            if let order {
                let (timeline, location) = try await factory.withQueue(.read) { (try await $0.timeline(orderNumber: order), $0.location) }
                try show(order: order, timeline: timeline, in: location, now: now)
                return
            }
            report = try await factory.withQueue(.read) { try await $0.statusReport(startOfDay: startOfDay, thresholds: thresholds) }
        } catch {
            guard check else { throw error }
            emit("UNKNOWN - cannot read the queue: \(LogText.escaped("\(error)", limit: 1000))")
            throw ExitCode(2)
        }
        if json {
            emit(try encode(report))
        } else if check {
            emit(report.checkLine)
        } else {
            emit(StatusText(colour: standardOutputIsTerminal).render(report))
        }
        if check && report.health.status != .ok { throw ExitCode(1) }
    }

    private func show(order: String, timeline: OrderTimeline?, in database: String, now: Double) throws {
        // Escaped once, with every error message, where the command fails (CancelQ.main).
        guard let timeline else { throw CommandFailure("no order \(order) in \(database)") }
        emit(json ? try encode(timeline) : TimelineText(colour: standardOutputIsTerminal).render(timeline, now: now))
    }

    private func encode(_ value: some Encodable) throws -> String { try JSONText.encode(value) }
}
