import Foundation

/// Unix accounts of the host (for `allow-run-as-user`): looked up by uid or name, and the
/// groups a user belongs to (`getgrouplist`).
enum Accounts {
    struct User: Sendable, Hashable {
        var name: String
        var uid: Int
        var gid: Int
    }

    static func user(uid: Int) -> User? {
        guard let id = uid_t(exactly: uid) else { return nil }
        return lookup { getpwuid_r(id, &$0, $1, $2, &$3) }
    }

    static func user(name: String) -> User? {
        lookup { getpwnam_r(name, &$0, $1, $2, &$3) }
    }

    private static func lookup(_ call: (inout passwd, UnsafeMutablePointer<CChar>, Int,
                                        inout UnsafeMutablePointer<passwd>?) -> Int32) -> User? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        let rc = buffer.withUnsafeMutableBufferPointer { call(&entry, $0.baseAddress!, $0.count, &result) }
        guard rc == 0, result != nil, let name = entry.pw_name else { return nil }
        return User(name: String(cString: name), uid: Int(entry.pw_uid), gid: Int(entry.pw_gid))
    }

    /// The gid of a group name.
    static func groupID(name: String) -> Int? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 65_536)
        let rc = buffer.withUnsafeMutableBufferPointer { getgrnam_r(name, &entry, $0.baseAddress!, $0.count, &result) }
        guard rc == 0, result != nil else { return nil }
        return Int(entry.gr_gid)
    }

    /// Every group `user` belongs to: the primary one and the supplementary ones.
    static func groups(of user: User) -> Set<Int> {
        guard let primary = gid_t(exactly: user.gid) else { return [] }
        var count: Int32 = 64
        while count <= 65_536 {
            var list = [gid_t](repeating: 0, count: Int(count))
            var found = count
            if getgrouplist(user.name, primary, &list, &found) >= 0 {
                return Set(list.prefix(Int(max(0, found))).map { Int($0) })
            }
            count = max(count * 2, found)
        }
        return [user.gid]
    }
}
