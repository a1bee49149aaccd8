import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Who runs an operator command, for `operator_actions.operator`: what the kernel says, never what
/// the environment says (`env SUDO_USER=root cancelq withdraw …` would otherwise record root).
public enum OperatorIdentity {
    /// The login user from `/proc/self/loginuid` (set at login, kept across `sudo -u cancelq …`,
    /// not settable by the user), or where none is set (a container, a timer) the real user; the
    /// effective user beside it when it differs (`alice (as cancelq)`), and, without a login uid
    /// only, `SUDO_USER` marked as the unverified hint it is.
    public static func current() -> String {
        resolve(
            loginUID: loginUID(), realUID: getuid(), effectiveUID: geteuid(),
            sudoUser: getenv("SUDO_USER").map { String(cString: $0) }, name: account(of:))
    }

    /// The choice itself, testable with injected ids and names.
    public static func resolve(
        loginUID: uid_t?, realUID: uid_t, effectiveUID: uid_t, sudoUser: String?, name: (uid_t) -> String?
    ) -> String {
        func shown(_ uid: uid_t) -> String { name(uid) ?? "uid \(uid)" }
        let who = loginUID ?? realUID
        var notes: [String] = []
        if effectiveUID != who { notes.append("as \(shown(effectiveUID))") }
        if loginUID == nil, let sudoUser, !sudoUser.isEmpty, sudoUser != shown(who) {
            notes.append("SUDO_USER=\(sudoUser.prefix(64)), unverified")
        }
        return notes.isEmpty ? shown(who) : "\(shown(who)) (\(notes.joined(separator: "; ")))"
    }

    /// The audit login uid; nil when the file is missing or holds the kernel's "unset" (4294967295).
    public static func loginUID(file: String = "/proc/self/loginuid") -> uid_t? {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8),
            let uid = uid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), uid != uid_t.max
        else { return nil }
        return uid
    }

    /// The account name of `uid` in the password database (getpwuid_r: thread-safe).
    static func account(of uid: uid_t) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else {
            return nil
        }
        return String(cString: name)
    }
}
