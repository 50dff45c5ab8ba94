import Testing
@testable import ZeroMQ

@Suite("ZeroMQ wrapper")
struct ZMQSocketTests {
    let context: ZMQContext

    init() throws { context = try ZMQContext() }

    @Test func pushPullCarriesWholeMultipartMessages() throws {
        let pull = try ZMQSocket(context, .pull)
        try pull.bind("tcp://127.0.0.1:*")
        let endpoint = try pull.lastEndpoint
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        #expect(!endpoint.hasSuffix(":*"))
        let push = try ZMQSocket(context, .push)
        try push.connect(endpoint)
        try push.send([[1, 2, 3], [], [4]])
        let received = try pull.receive(timeoutMilliseconds: 5_000)
        #expect(received == [[1, 2, 3], [], [4]])
    }

    /// Why the pipeline's training leg is not plain PUSH: a PUSH deals its messages to its
    /// peers in turn whether they are busy or not. With one peer busy (not reading) and one
    /// idle, half of 100 tasks wait at the busy one while the idle one has taken its half and
    /// has nothing more to do.
    @Test func aPushDealsMessagesToABusyPeerWhileAnotherIsIdle() throws {
        let push = try ZMQSocket(context, .push)
        try push.bind("tcp://127.0.0.1:*")
        let endpoint = try push.lastEndpoint
        let busy = try ZMQSocket(context, .pull)
        let idle = try ZMQSocket(context, .pull)
        try busy.connect(endpoint)
        try idle.connect(endpoint)
        // Both connections up before the first message (a PUSH deals only to peers it has).
        var ready = false
        for _ in 0..<200 where !ready {
            try push.send([Array("probe".utf8)])
            _ = try idle.receive(timeoutMilliseconds: 10)
            ready = try busy.receive(timeoutMilliseconds: 10) != nil
        }
        #expect(ready)
        while try idle.receive(dontWait: true) != nil {}
        while try busy.receive(dontWait: true) != nil {}
        for task in 0..<100 { try push.send([[UInt8(task)]]) }
        // A late probe may still arrive; only the one-byte tasks count.
        func tasks(_ socket: ZMQSocket) throws -> Int {
            var count = 0
            while let frames = try socket.receive(timeoutMilliseconds: 200) {
                if frames.first?.count == 1 { count += 1 }
            }
            return count
        }
        let taken = try tasks(idle)
        let waiting = try tasks(busy)
        #expect(taken + waiting == 100)
        #expect(taken >= 40 && taken <= 60, "the idle peer took \(taken) of 100")
        #expect(waiting >= 40, "\(waiting) tasks waited at the busy peer while the idle one had none left")
    }

    @Test func routerSeesTheDealersRoutingIDAndCanReply() throws {
        let router = try ZMQSocket(context, .router)
        try router.setRouterMandatory(true)
        try router.bind("inproc://router-dealer")
        let dealer = try ZMQSocket(context, .dealer)
        try dealer.setRoutingID(Array("worker-1".utf8))
        try dealer.connect("inproc://router-dealer")
        try dealer.send([Array("hello".utf8)])
        let request = try #require(try router.receive(timeoutMilliseconds: 5_000))
        #expect(request == [Array("worker-1".utf8), Array("hello".utf8)])
        try router.send([request[0], Array("welcome".utf8)])
        #expect(try dealer.receive(timeoutMilliseconds: 5_000) == [Array("welcome".utf8)])
    }

    @Test func routerMandatoryRefusesAnUnknownPeer() throws {
        let router = try ZMQSocket(context, .router)
        try router.setRouterMandatory(true)
        try router.bind("inproc://router-mandatory")
        #expect(throws: ZMQError.self) {
            try router.send([Array("nobody".utf8), [1]], dontWait: true)
        }
    }

    @Test func receiveTimesOutWithNil() throws {
        let pull = try ZMQSocket(context, .pull)
        try pull.bind("inproc://nothing-comes")
        #expect(try pull.receive(timeoutMilliseconds: 20) == nil)
        #expect(try pull.receive(dontWait: true) == nil)
    }

    @Test func pollReportsOnlyTheReadableSocket() throws {
        let quiet = try ZMQSocket(context, .pull)
        try quiet.bind("inproc://poll-quiet")
        let busy = try ZMQSocket(context, .pull)
        try busy.bind("inproc://poll-busy")
        let push = try ZMQSocket(context, .push)
        try push.connect("inproc://poll-busy")
        try push.send([[7]])
        let flags = try ZMQPoll.readable([quiet, busy], timeoutMilliseconds: 5_000)
        #expect(flags == [false, true])
    }

    @Test func xsubXpubForwardsByTopicPrefix() throws {
        let pub = try ZMQSocket(context, .pub)
        try pub.bind("inproc://topics")
        let sub = try ZMQSocket(context, .sub)
        try sub.subscribe(Array("member.".utf8))
        try sub.connect("inproc://topics")
        // A subscription reaches the publisher asynchronously: publish until one arrives.
        var received: [[UInt8]]?
        for _ in 0..<500 where received == nil {
            try pub.send([Array("trainer.joined".utf8), [0]])
            try pub.send([Array("member.scored".utf8), [1]])
            received = try sub.receive(timeoutMilliseconds: 10)
        }
        #expect(received == [Array("member.scored".utf8), [1]])
    }

    @Test func errorsCarryLibzmqsMessageAndTheOperation() throws {
        let socket = try ZMQSocket(context, .push)
        do {
            try socket.bind("nonsense://nowhere")
            Issue.record("bind to a bad endpoint succeeded")
        } catch let error as ZMQError {
            #expect(error.description.contains("bind PUSH nonsense://nowhere"))
            #expect(error.message.lowercased().contains("protocol"))
        }
    }

    @Test func aClosedSocketFailsInsteadOfCrashing() throws {
        let socket = try ZMQSocket(context, .push)
        socket.close()
        #expect(throws: ZMQError.self) { try socket.bind("inproc://closed") }
    }

    @Test func curveIsAvailable() {
        #expect(ZMQContext.has("curve"))
        #expect(ZMQContext.libraryVersion.split(separator: ".").count == 3)
    }
}
