import PBTCore
import Testing

/// Reading and rewriting endpoint hosts, and where inlets bind when nobody says.
@Suite("EndpointAddress")
struct EndpointAddressTests {
    @Test(arguments: [
        ("tcp://0.0.0.0:5560", "10.0.0.7", "tcp://10.0.0.7:5560"),
        ("tcp://*:5558", "selector", "tcp://selector:5558"),
        ("tcp://[::]:41000", "fd00::7", "tcp://[fd00::7]:41000"),
        ("tcp://127.0.0.1:5560", "10.0.0.7", "tcp://127.0.0.1:5560"),
        ("tcp://evaluator-2:5560", "10.0.0.7", "tcp://evaluator-2:5560"),
        ("ipc:///tmp/x/inlet", "10.0.0.7", "ipc:///tmp/x/inlet"),
        ("tcp://0.0.0.0:5560", "", "tcp://0.0.0.0:5560"),
    ])
    func wildcardHostsAreFilledIn(endpoint: String, host: String, expected: String) {
        #expect(EndpointAddress.replacingWildcardHost(in: endpoint, with: host) == expected)
    }

    @Test func hostsAreRead() {
        #expect(EndpointAddress.host(of: "tcp://selector:5555") == "selector")
        #expect(EndpointAddress.host(of: "tcp://[::1]:5555") == "::1")
        #expect(EndpointAddress.host(of: "ipc:///tmp/work") == nil)
        #expect(EndpointAddress.hasWildcardHost("tcp://*:1"))
        #expect(!EndpointAddress.hasWildcardHost("tcp://10.1.1.1:1"))
    }

    @Test(arguments: [
        ("tcp://*:5555", "tcp://*:5558"), ("tcp://127.0.0.1:*", "tcp://127.0.0.1:*"),
        ("tcp://10.0.0.1:7000", "tcp://10.0.0.1:7003"),
        ("ipc:///tmp/run/work", "ipc:///tmp/run/work.inlet"),
    ])
    func theSelectorsInletBindsBesideItsWorkEndpoint(work: String, inlet: String) {
        #expect(InletAddress.selector(work: work) == inlet)
    }

    @Test(arguments: [
        ("ipc:///tmp/run/work", "evaluator-1", "ipc:///tmp/run/evaluator-1.inlet"),
        ("ipc:///tmp/run/work", "a b/c", "ipc:///tmp/run/a_b_c.inlet"),
        ("tcp://127.0.0.1:5555", "e", "tcp://127.0.0.1:*"),
        ("tcp://selector:5555", "e", "tcp://*:*"),
    ])
    func aWorkersInletBindsWhereItsSelectorCanReachIt(connect: String, name: String, inlet: String) {
        #expect(InletAddress.worker(connect: connect, name: name) == inlet)
    }
    @Test(arguments: [
        ("tcp://*:5555", true), ("tcp://127.0.0.1:*", true), ("tcp://[::1]:65535", true), ("tcp://eth0:0", true),
        ("ipc:///tmp/x/work", true), ("inproc://pbt.run.work", true), ("tcp://[::1]:5555", false),
    ])
    func usableEndpointsPass(endpoint: String, binding: Bool) {
        #expect(EndpointAddress.problem(with: endpoint, binding: binding) == nil)
    }

    @Test(arguments: [
        ("tcp://*:99999", true, "from 0 to 65535"), ("tcp://selector:65536", false, "from 0 to 65535"),
        ("tcp://selector:*", false, "connecting needs a port number"), ("tcp://selector", false, "tcp://HOST:PORT"),
        ("tcp://:5555", true, "tcp://HOST:PORT"), ("tcp://h:-1", false, "from 0 to 65535"),
        ("notanendpoint", false, "expected tcp://"), ("udp://h:1", false, "expected tcp://"),
        ("ipc://", true, "needs a path"),
        ("tcp://*:5557", false, "connecting needs the host's address"),
        ("tcp://127.0.0.1:0", false, "connecting needs the port number"),
        ("tcp://[::1:5555", false, "in brackets"), ("tcp://::1:5555", false, "in brackets"),
    ])
    func unusableEndpointsAreNamed(endpoint: String, binding: Bool, expected: String) {
        let problem = EndpointAddress.problem(with: endpoint, binding: binding)
        #expect(problem?.contains(expected) == true, "\(endpoint): \(problem ?? "nil")")
    }
}
