import Foundation
import Testing
import TestSupport

@testable import CancelQueue
@testable import CancelStore

/// Who `operator_actions.operator` names: the kernel's login uid, never the environment's word.
@Suite("Operator identity")
struct OperatorIdentityTests {
    static let accounts: [uid_t: String] = [0: "root", 999: "cancelq", 1000: "alice", 1001: "bob"]
    static func name(_ uid: uid_t) -> String? { accounts[uid] }

    @Test("SUDO_USER=root with the login uid of another user records that user, not root")
    func loginUIDBeatsSudoUser() {
        let who = OperatorIdentity.resolve(loginUID: 1000, realUID: 999, effectiveUID: 999, sudoUser: "root", name: Self.name)
        #expect(who == "alice (as cancelq)")
        #expect(OperatorIdentity.resolve(loginUID: 1000, realUID: 1000, effectiveUID: 1000, sudoUser: "root", name: Self.name) == "alice")
    }

    @Test("without a login uid the real user is recorded, SUDO_USER only as an unverified hint beside it")
    func noLoginUIDRecordsRealUser() {
        #expect(OperatorIdentity.resolve(loginUID: nil, realUID: 1001, effectiveUID: 1001, sudoUser: nil, name: Self.name) == "bob")
        #expect(
            OperatorIdentity.resolve(loginUID: nil, realUID: 1001, effectiveUID: 1001, sudoUser: "root", name: Self.name)
                == "bob (SUDO_USER=root, unverified)")
        #expect(OperatorIdentity.resolve(loginUID: nil, realUID: 1001, effectiveUID: 0, sudoUser: "", name: Self.name) == "bob (as root)")
        #expect(OperatorIdentity.resolve(loginUID: nil, realUID: 4242, effectiveUID: 4242, sudoUser: nil, name: Self.name) == "uid 4242")
    }

    @Test("the login uid file: a number is a login, the kernel's unset value or a missing file is none")
    func loginUIDFile() async throws {
        try await withTemporaryDirectory { dir in
            let file = dir + "/loginuid"
            try "1000".write(toFile: file, atomically: true, encoding: .utf8)
            #expect(OperatorIdentity.loginUID(file: file) == 1000)
            try "4294967295".write(toFile: file, atomically: true, encoding: .utf8)
            #expect(OperatorIdentity.loginUID(file: file) == nil)
            #expect(OperatorIdentity.loginUID(file: dir + "/missing") == nil)
        }
        #expect(!OperatorIdentity.current().isEmpty)
    }
}
