/// An entitlement as AARC-G002 writes it:
/// `urn:mace:egi.eu:group:<vo>[:<subgroup>…][:role=<role>]#<authority>`.
///
/// Matching follows the guideline: the `#authority` part is ignored, a member of a subgroup is a
/// member of every group above it, and a required role must be held on the group or a subgroup of
/// it. Entitlements that are not group URNs (no `:group:` part) match exactly (authority aside).
public struct Entitlement: Sendable, Hashable, CustomStringConvertible {
    /// Everything before `group:` (`urn:mace:egi.eu:`), lowercased: URN namespaces are case-insensitive.
    public var namespace: String
    /// The group path (`vo`, `subgroup`, …); empty for an entitlement that is not a group URN.
    public var groups: [String]
    public var role: String?
    /// The whole text without its authority, for entitlements that are not group URNs.
    public var literal: String
    /// The text as written (with the authority).
    public var description: String

    /// Parses `text`; nil when it is empty, too long, or not printable ASCII.
    public init?(_ text: String) {
        guard (1...1024).contains(text.utf8.count), text.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else { return nil }
        description = text
        let withoutAuthority = text.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? text
        guard !withoutAuthority.isEmpty else { return nil }
        literal = withoutAuthority
        let lower = withoutAuthority.lowercased()
        guard lower.hasPrefix("urn:"), let range = lower.range(of: ":group:") else {
            namespace = ""
            groups = []
            role = nil
            return
        }
        namespace = String(lower[..<range.upperBound])
        var parts = withoutAuthority[range.upperBound...].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if let last = parts.last, last.hasPrefix("role=") {
            role = String(last.dropFirst("role=".count))
            parts.removeLast()
        } else {
            role = nil
        }
        guard !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        groups = parts
    }

    /// Whether holding `self` satisfies the requirement `required`.
    public func satisfies(_ required: Entitlement) -> Bool {
        if required.groups.isEmpty || groups.isEmpty {
            return required.groups.isEmpty && groups.isEmpty && literal == required.literal
        }
        guard namespace == required.namespace, groups.count >= required.groups.count,
              Array(groups.prefix(required.groups.count)) == required.groups else { return false }
        if let role = required.role { return self.role == role }
        return true
    }

    /// Whether any of `held` satisfies any of `required` (true when nothing is required).
    public static func anySatisfies(_ held: [Entitlement], _ required: [Entitlement]) -> Bool {
        required.isEmpty || required.contains { need in held.contains { $0.satisfies(need) } }
    }
}
