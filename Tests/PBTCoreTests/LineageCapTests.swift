import Testing

@testable import PBTCore

/// The lineage cap's arithmetic: how many members a lineage may hold, and which copies it allows.
@Suite("Lineage cap")
struct LineageCapTests {
    @Test(arguments: [
        (share: 0.5, population: 8, limit: 4), (share: 0.5, population: 4, limit: 2),
        (share: 0.5, population: 2, limit: 1),
        (share: 0.5, population: 7, limit: 3), (share: 0.3, population: 10, limit: 3),
        (share: 0.1, population: 4, limit: 1),
        (share: 0.99, population: 100, limit: 99),
    ])
    func aLineageHoldsAShareOfThePopulationRoundedDownAndAtLeastOne(share: Double, population: Int, limit: Int) {
        #expect(LineageCap(share: share).limit(population: population) == limit)
    }

    /// Population 8, share 0.5 (4 members), until step 100.
    @Test(arguments: [
        // A lineage under its limit may grow.
        (donor: 0, recipient: 1, holding: 3, step: 50, allowed: true),
        // At its limit it may not,
        (donor: 0, recipient: 1, holding: 4, step: 50, allowed: false),
        (donor: 0, recipient: 1, holding: 7, step: 99, allowed: false),
        // unless the copy stays within it (the count does not change),
        (donor: 0, recipient: 0, holding: 4, step: 50, allowed: true),
        // or the cap has lifted.
        (donor: 0, recipient: 1, holding: 4, step: 100, allowed: true),
        (donor: 0, recipient: 1, holding: 7, step: 500, allowed: true),
    ])
    func aCopyIsAllowedUnlessItTakesALineagePastItsLimitBeforeUntil(
        donor: Int, recipient: Int, holding: Int, step: Int, allowed: Bool
    ) {
        let cap = LineageCap(share: 0.5, until: 100)
        #expect(cap.allows(donor: donor, recipient: recipient, holding: holding, population: 8, step: step) == allowed)
    }

    @Test func withoutUntilTheCapHoldsForTheWholeRun() {
        let cap = LineageCap(share: 0.5)
        #expect(!cap.allows(donor: 2, recipient: 5, holding: 4, population: 8, step: 1_000_000))
        #expect(cap.allows(donor: 2, recipient: 5, holding: 3, population: 8, step: 1_000_000))
    }
}
