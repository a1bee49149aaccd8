import CancelQueue
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Wakes the daemon when another process writes the database, instead of polling: inotify on the
/// database's directory, filtered to the database and its `-wal` file. An idle daemon then sleeps
/// until the next due time or full scan. Where inotify is unavailable, `start` returns nil and the
/// loop falls back to a short polling interval.
///
/// The watch is on only while the daemon is idle (`setWatching`): busy, every write of its own WAL
/// woke this thread and the loop (two context switches a job), and the loop's per-turn check sees
/// other processes' commits anyway.
final class ChangeWatcher: ChangeNotifications, @unchecked Sendable {
    // @unchecked: the descriptors are set once in `start` and closed once, after the thread ended;
    // the watch descriptor is changed by the loop only, and the kernel serialises add and remove.
    private let inotify: Int32
    private let stopPipe: (read: Int32, write: Int32)
    private let directory: String
    private let names: Set<String>
    private let onChange: @Sendable () -> Void
    private let finished = DispatchSemaphore(value: 0)
    private var watchDescriptor: Int32

    private init(
        inotify: Int32, stopPipe: (Int32, Int32), directory: String, watch: Int32, names: Set<String>,
        onChange: @escaping @Sendable () -> Void
    ) {
        self.inotify = inotify
        self.stopPipe = stopPipe
        self.directory = directory
        self.watchDescriptor = watch
        self.names = names
        self.onChange = onChange
    }

    static let events = UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO)

    func setWatching(_ on: Bool) {
        if on, watchDescriptor < 0 {
            watchDescriptor = inotify_add_watch(inotify, directory, Self.events)
        } else if !on, watchDescriptor >= 0 {
            inotify_rm_watch(inotify, watchDescriptor)
            watchDescriptor = -1
        }
    }

    static func start(databasePath: String, onChange: @escaping @Sendable () -> Void) -> ChangeWatcher? {
        #if canImport(Glibc)
            let url = URL(fileURLWithPath: databasePath)
            let directory = url.deletingLastPathComponent().path
            let file = url.lastPathComponent
            let descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
            guard descriptor >= 0 else { return nil }
            let watch = inotify_add_watch(descriptor, directory, events)
            guard watch >= 0 else {
                close(descriptor)
                return nil
            }
            var fds: [Int32] = [0, 0]
            guard pipe(&fds) == 0 else {
                close(descriptor)
                return nil
            }
            let watcher = ChangeWatcher(
                inotify: descriptor, stopPipe: (fds[0], fds[1]), directory: directory, watch: watch,
                names: [file, file + "-wal"], onChange: onChange)
            let thread = Thread { watcher.watch() }
            thread.name = "cancelq-change-watcher"
            thread.start()
            return watcher
        #else
            return nil
        #endif
    }

    func stop() {
        var byte: UInt8 = 1
        _ = write(stopPipe.write, &byte, 1)
        finished.wait()
        close(inotify)
        close(stopPipe.read)
        close(stopPipe.write)
    }

    private func watch() {
        defer { finished.signal() }
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            var fds = [pollfd(fd: inotify, events: Int16(POLLIN), revents: 0), pollfd(fd: stopPipe.read, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 2, -1) >= 0 || errno == EINTR else { return }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            let count = read(inotify, &buffer, buffer.count)
            guard count > 0 else { continue }
            if events(in: buffer[..<count]).contains(where: names.contains) { onChange() }
        }
    }

    /// The file names in a buffer of `struct inotify_event` records.
    private func events(in bytes: ArraySlice<UInt8>) -> [String] {
        var names: [String] = []
        var offset = bytes.startIndex
        let header = 16  // wd, mask, cookie, len: four 32-bit fields
        while offset + header <= bytes.endIndex {
            let length = bytes[(offset + 12)..<(offset + 16)].withUnsafeBytes { Int($0.loadUnaligned(as: UInt32.self)) }
            let nameBytes = bytes[(offset + header)..<min(offset + header + length, bytes.endIndex)].prefix { $0 != 0 }
            names.append(String(decoding: nameBytes, as: UTF8.self))
            offset += header + length
        }
        return names
    }
}
