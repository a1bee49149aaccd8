import Foundation

/// Who runs an operator command, for `operator_actions`: the login behind `sudo`, else this user.
func operatorName() -> String {
    if let sudoUser = ProcessInfo.processInfo.environment["SUDO_USER"], !sudoUser.isEmpty { return sudoUser }
    return DatabaseOption.loginName()
}
