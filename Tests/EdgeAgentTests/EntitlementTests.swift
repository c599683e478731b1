import EdgeAgent
import Testing

/// AARC-G002 matching, as the access checks use it.
@Suite struct EntitlementTests {
    func e(_ text: String) throws -> Entitlement { try #require(Entitlement(text)) }

    @Test func groupsSubgroupsRolesAndAuthorities() throws {
        let vo = try e("urn:mace:egi.eu:group:vo.example.org#aai.egi.eu")
        #expect(try e("urn:mace:egi.eu:group:vo.example.org#aai.egi.eu").satisfies(vo))
        // The authority is ignored; a subgroup member is a member of the parent; any role counts.
        #expect(try e("urn:mace:egi.eu:group:vo.example.org:flood:role=member#other").satisfies(vo))
        #expect(try e("URN:MACE:EGI.EU:group:vo.example.org").satisfies(vo))
        // The parent's member is not a member of a subgroup; another VO is not the VO.
        let flood = try e("urn:mace:egi.eu:group:vo.example.org:flood#aai.egi.eu")
        #expect(!vo.satisfies(flood))
        #expect(!(try e("urn:mace:egi.eu:group:vo.example.org.evil#x")).satisfies(vo))
        #expect(!(try e("urn:mace:egi.eu:group:vo#x")).satisfies(vo))
        // A required role must be held, on the group or below it.
        let manager = try e("urn:mace:egi.eu:group:vo.example.org:role=manager#aai.egi.eu")
        #expect(!(try e("urn:mace:egi.eu:group:vo.example.org:role=member#aai.egi.eu")).satisfies(manager))
        #expect(try e("urn:mace:egi.eu:group:vo.example.org:role=manager#x").satisfies(manager))
        #expect(try e("urn:mace:egi.eu:group:vo.example.org:sub:role=manager#x").satisfies(manager))
        // Another namespace never matches.
        #expect(!(try e("urn:mace:example.org:group:vo.example.org#x")).satisfies(vo))
    }

    @Test func plainEntitlementsMatchExactly() throws {
        let plain = try e("urn:example:compute-access#issuer")
        #expect(try e("urn:example:compute-access").satisfies(plain))
        #expect(!(try e("urn:example:compute-access-extra")).satisfies(plain))
        #expect(Entitlement("") == nil)
        #expect(Entitlement("with space") == nil)
        #expect(Entitlement("urn:mace:egi.eu:group:") == nil)
        #expect(Entitlement(String(repeating: "a", count: 2000)) == nil)
        #expect(Entitlement.anySatisfies([], []))
        #expect(!Entitlement.anySatisfies([], [plain]))
    }
}
