import PBTCore
import PBTStages
import Testing

/// Drops are all counted, but their events are limited: a flood of garbage must not flood
/// the event log and the store too.
@Suite("drop counter")
struct DropCounterTests {
    @Test func everyDropIsCountedButEventsAreRateLimitedPerReason() {
        let counter = DropCounter(stage: "selector", worker: "selector")
        var events: [PBTEvent] = []
        for index in 0..<1_000 {
            // 1,000 drops of one reason in half a second, then one more a second later.
            if let event = counter.drop(reason: "bad_magic", detail: "", now: Double(index) / 2_000, log: { _ in }) {
                events.append(event)
            }
        }
        #expect(events.count == 10)
        let later = counter.drop(reason: "bad_magic", detail: "", now: 1.6, log: { _ in })
        #expect(
            later
                == .frameDropped(stage: "selector", worker: "selector", reason: "bad_magic", total: 1_001, count: 1_001)
        )
        // Another reason has its own allowance.
        #expect(counter.drop(reason: "truncated", detail: "", now: 1.6, log: { _ in }) != nil)
        #expect(counter.total == 1_002)
        #expect(counter.byReason == ["bad_magic": 1_001, "truncated": 1])
    }
}
