#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Who runs an operator command, for `operator_actions.operator`: the login behind `sudo` (root
/// would say nothing about who), else the user this process runs as.
public enum OperatorIdentity {
    /// `SUDO_USER` when set, else the account of the real user id, else `USER`, else the uid.
    public static func current() -> String {
        let environment = { (name: String) -> String? in getenv(name).map { String(cString: $0) } }
        return resolve(sudoUser: environment("SUDO_USER"), account: account(of: getuid()), user: environment("USER"), uid: Int(getuid()))
    }

    /// The choice itself, testable without changing the process's environment.
    public static func resolve(sudoUser: String?, account: String?, user: String?, uid: Int) -> String {
        for candidate in [sudoUser, account, user] {
            if let name = candidate, !name.isEmpty { return name }
        }
        return "uid \(uid)"
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
