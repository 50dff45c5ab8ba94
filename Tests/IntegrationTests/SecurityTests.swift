import Foundation
import PBTCore
import PBTSecurity
import PBTSystem
import PBTTestSupport
import PBTWire
import Testing
import ZeroMQ

/// Stages started one by one over loopback TCP, with or without CURVE, with keys made by
/// `pbt keygen`: the server pair (selector and proxy), a client pair for the workers, and the
/// servers' authorized-keys file.
final class SecurePipeline {
    let directory: TemporaryDirectory
    let secure: Bool
    let experiment: String
    let run: String
    var keys: String { directory.file("keys") }
    var authorized: String { keys + "/authorized_keys" }
    private(set) var publishers = ""
    private(set) var subscribers = ""
    private(set) var work = ""
    private(set) var inlet = ""
    private(set) var proxy: PBTProcess?
    private(set) var selector: PBTProcess?
    private(set) var workers: [String: PBTProcess] = [:]
    private let follower: EventLogFollower

    init(experiment text: String, secure: Bool) throws {
        directory = try TemporaryDirectory()
        self.secure = secure
        experiment = try directory.write("experiment.yml", text)
        run = directory.file("run")
        follower = EventLogFollower(path: run + "/events.jsonl")
        if secure {
            try keygen("server", authorize: false)
            try keygen("client", authorize: true)
        }
    }

    /// `pbt keygen --output keys/NAME [--authorize keys/authorized_keys]`.
    @discardableResult
    func keygen(_ name: String, authorize: Bool) throws -> (key: String, pub: String) {
        let process = try PBTProcess(
            ["keygen", "--output", "\(keys)/\(name)"] + (authorize ? ["--authorize", authorized] : []),
            output: directory.file("keygen-\(name).txt"))
        let end = try #require(process.finish(within: 30))
        #expect(end.succeeded, "\(process.log)")
        return ("\(keys)/\(name).key", "\(keys)/\(name).pub")
    }

    var serverArguments: [String] {
        secure
            ? ["--key", "\(keys)/server.key", "--server-key", "\(keys)/server.pub", "--authorized-keys", authorized]
            : []
    }

    func clientArguments(key: String = "client", serverKey: String = "server") -> [String] {
        secure ? ["--key", "\(keys)/\(key).key", "--server-key", "\(keys)/\(serverKey).pub"] : []
    }

    /// Starts the proxy and the selector, and waits until both listen.
    func startServers(minTrainers: Int = 1) throws {
        proxy = try PBTProcess(
            [
                "events", "proxy", "--publishers", "tcp://127.0.0.1:*", "--subscribers", "tcp://127.0.0.1:*",
                "--ready-file", directory.file("events.json"),
            ]
                + (secure ? ["--key", "\(keys)/server.key", "--authorized-keys", authorized] : []),
            output: directory.file("events.log"))
        let endpoints = try readyEndpoints(directory.file("events.json"))
        publishers = try #require(endpoints["publishers"])
        subscribers = try #require(endpoints["subscribers"])
        selector = try PBTProcess(
            [
                "selector", experiment, "--run-dir", run, "--bind", "tcp://127.0.0.1:*", "--inlet-bind",
                "tcp://127.0.0.1:*", "--events", publishers,
                "--min-trainers", String(minTrainers), "--start-timeout", "60", "--ready-file",
                directory.file("selector.json"),
            ] + serverArguments,
            output: directory.file("selector.log"))
        let selectorEndpoints = try readyEndpoints(directory.file("selector.json"))
        work = try #require(selectorEndpoints["work"])
        inlet = try #require(selectorEndpoints["inlet"])
    }

    /// The TCP ports the servers listen on.
    var ports: [Int] {
        [publishers, subscribers, work, inlet].compactMap { $0.split(separator: ":").last.flatMap { Int($0) } }
    }

    /// Starts a worker; an evaluator or a mutator binds its inlet on a loopback port and,
    /// with CURVE, serves it with the server keys (it binds as well as connects).
    func start(_ role: String, _ name: String, _ extra: [String]? = nil, inletPort: Int? = nil) throws {
        let binds = role != "trainer"
        let keys = extra ?? (binds ? serverArguments : clientArguments())
        let inlet = "tcp://127.0.0.1:" + (inletPort.map(String.init) ?? "*")
        workers[name] = try PBTProcess(
            [role, "--connect", work, "--events", publishers, "--name", name, "--heartbeat", "0.2"]
                + (binds ? ["--inlet-bind", inlet] : []) + keys,
            output: directory.file("\(name).log"))
    }

    func log(_ name: String) -> String {
        (try? String(contentsOfFile: directory.file("\(name).log"), encoding: .utf8)) ?? ""
    }

    /// The selector's event log so far, as typed events.
    func events() -> [TimedEvent] {
        follower.refresh()
    }

    /// Waits until the event log satisfies `condition`: woken when the log grows.
    func waitForEvents(within seconds: Double, _ condition: ([TimedEvent]) -> Bool) -> Bool {
        follower.wait(within: seconds, until: condition)
    }

    func finish(within seconds: Double, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let selector = try #require(selector)
        let end = try #require(selector.finish(within: seconds, sourceLocation: sourceLocation))
        #expect(end.succeeded, "selector: \(end)\n\(selector.log)", sourceLocation: sourceLocation)
        return try jsonObject(run + "/summary.json")
    }
}

/// Authenticated, encrypted transport (CURVE) and what a peer cannot make a stage do.
@Suite("security", .serialized)
struct SecurityTests {
    static func experiment(
        name: String, population: Int = 4, maxSteps: Int = 40, stepSeconds: Double = 0.02, extra: String = ""
    ) -> String {
        """
        name: \(name)
        seed: 5
        workload: {kind: noop, step_seconds: \(stepSeconds)}
        population: \(population)
        interval: 2
        stop: {max_steps: \(maxSteps)}
        exploit: {strategy: truncation, fraction: 0.5}
        explore: {strategy: perturb}
        hyperparameters:
          learning_rate_for_capture: {uniform: [0, 1]}
        \(extra)
        """
    }

    // MARK: Keys and bad input

    @Test("pbt keygen, and bad key files named with what is wrong (exit 2)", .timeLimit(.minutes(2)))
    func keysAndBadKeyFiles() throws {
        let directory = try TemporaryDirectory()
        let made = try PBTProcess(
            [
                "keygen", "--output", directory.file("keys/trainer"), "--authorize",
                directory.file("keys/authorized_keys"),
            ], output: directory.file("keygen.txt"))
        #expect(made.finish(within: 30)?.succeeded == true, "\(made.log)")
        let secret = directory.file("keys/trainer.key")
        #expect((try FileManager.default.attributesOfItem(atPath: secret)[.posixPermissions] as? Int) == 0o600)
        #expect(
            (try FileManager.default.attributesOfItem(atPath: directory.file("keys"))[.posixPermissions] as? Int)
                == 0o700)
        let publicLine = try String(contentsOfFile: directory.file("keys/trainer.pub"), encoding: .utf8).split(
            separator: "\n"
        ).last.map(String.init)
        #expect(
            try String(contentsOfFile: directory.file("keys/authorized_keys"), encoding: .utf8).contains(
                try #require(publicLine)))
        let again = try PBTProcess(
            ["keygen", "--output", directory.file("keys/trainer")], output: directory.file("again.txt"))
        #expect(again.finish(within: 30)?.exitCode == 2)
        #expect(again.log.contains("trainer.key: already exists"), "\(again.log)")
        // --force with --authorize takes the replaced key out of the file and adds the new one.
        let replaced = try #require(publicLine)
        let forced = try PBTProcess(
            [
                "keygen", "--output", directory.file("keys/trainer"), "--force", "--authorize",
                directory.file("keys/authorized_keys"),
            ], output: directory.file("forced.txt"))
        #expect(forced.finish(within: 30)?.succeeded == true, "\(forced.log)")
        #expect(forced.log.contains("taken out of \(directory.file("keys/authorized_keys")) (1 line)"), "\(forced.log)")
        let newLine = try #require(
            try String(contentsOfFile: directory.file("keys/trainer.pub"), encoding: .utf8).split(separator: "\n").last)
        let authorizedNow = try String(contentsOfFile: directory.file("keys/authorized_keys"), encoding: .utf8)
        #expect(!authorizedNow.contains(replaced) && authorizedNow.contains(newLine), "\(authorizedNow)")
        #expect(authorizedNow.hasPrefix("# CURVE client keys admitted"), "\(authorizedNow)")

        let malformed = try directory.write("malformed.key", "secret-key not-a-key\n")
        let notAuthorizedKeys = try directory.write("notes.txt", "remember to buy milk\n")
        let experiment = try directory.write(
            "curve.yml", Self.experiment(name: "curve-required", extra: "security: {curve: true}"))
        let cases: [(arguments: [String], message: String)] = [
            (
                [
                    "trainer", "--key", directory.file("missing.key"), "--server-key",
                    directory.file("keys/trainer.pub"),
                ],
                "\(directory.file("missing.key")): cannot read it: No such file or directory"
            ),
            (
                ["trainer", "--key", malformed, "--server-key", directory.file("keys/trainer.pub")],
                "\(malformed) line 1: 'not-a-key' is not a CURVE key: expected 40 characters of Z85, got 9"
            ),
            (
                ["trainer", "--key", secret, "--server-key", secret],
                "this is a .key file, which holds a secret key; give the .pub file"
            ),
            (["trainer", "--key", secret], "--key (PBT_KEY) needs --server-key (PBT_SERVER_KEY) too"),
            (
                ["trainer", "--server-key", directory.file("keys/trainer.pub")],
                "--server-key (PBT_SERVER_KEY) needs --key (PBT_KEY)"
            ),
            (
                ["events", "proxy", "--key", secret],
                "--key (PBT_KEY) needs --authorized-keys (PBT_AUTHORIZED_KEYS) too"
            ),
            (
                [
                    "events", "proxy", "--key", secret, "--authorized-keys", directory.file("keys/authorized_keys"),
                    "--server-key", directory.file("keys/trainer.pub"),
                ],
                "--server-key is for stages that connect to a server; this one only binds"
            ),
            (
                [
                    "events", "--key", secret, "--server-key", directory.file("keys/trainer.pub"),
                    "--authorized-keys", directory.file("keys/authorized_keys"),
                ],
                "--authorized-keys is for stages that bind sockets others connect to"
            ),
            (
                ["keygen", "--output", directory.file("keys/other"), "--authorize", secret],
                "--authorize takes an authorized-keys file (public keys, one a line), not a key file"
            ),
            (
                ["keygen", "--output", directory.file("keys/other"), "--authorize", directory.file("none/authorized")],
                "its directory \(directory.file("none")) does not exist"
            ),
            (
                ["keygen", "--output", directory.file("keys/other"), "--authorize", notAuthorizedKeys],
                "not an authorized-keys file, so nothing was added to it"
            ),
            (
                ["selector", experiment, "--run-dir", directory.file("run"), "--events", "none"],
                "says security: {curve: true}: give the selector --key"
            ),
        ]
        for (index, item) in cases.enumerated() {
            let process = try PBTProcess(item.arguments, output: directory.file("bad-\(index).txt"))
            let end = try #require(process.finish(within: 30))
            #expect(end.exitCode == 2, "\(item.arguments): \(end)\n\(process.log)")
            #expect(process.log.contains(item.message), "\(item.arguments): \(process.log)")
        }
        // A refused --authorize wrote no key either.
        #expect(!FileManager.default.fileExists(atPath: directory.file("keys/other.key")))
    }

    // MARK: CURVE end to end, and who is kept out

    /// A trainer authorized at the selector but not at the evaluator's inlet gets work, and
    /// its results wait; the refusal is retried (libzmq never retries one), so once its key is
    /// added to the evaluator's file the results arrive and the run finishes.
    @Test(
        "a refused connection to an evaluator's inlet is tried again and goes through once authorized",
        .timeLimit(.minutes(3)))
    func refusedInletIsRetried() throws {
        let pipeline = try SecurePipeline(
            experiment: Self.experiment(
                name: "inlet-retry", population: 2, maxSteps: 10, extra: "security: {curve: true}"),
            secure: true)
        // The evaluator admits what the selector admitted before the new trainer's key came.
        let evaluatorKeys = pipeline.keys + "/evaluator_authorized_keys"
        try FileManager.default.copyItem(atPath: pipeline.authorized, toPath: evaluatorKeys)
        let late = try pipeline.keygen("late", authorize: true)
        try pipeline.startServers()
        try pipeline.start(
            "evaluator", "evaluator-1",
            [
                "--key", pipeline.keys + "/server.key", "--server-key", pipeline.keys + "/server.pub",
                "--authorized-keys", evaluatorKeys,
            ])
        try pipeline.start("mutator", "mutator-1")
        try pipeline.start("trainer", "late", pipeline.clientArguments(key: "late"))
        let refused = eventually(within: 30) {
            pipeline.log("late").contains("the evaluator inlet at")
                && pipeline.log("late").contains("refused this process's CURVE key")
        }
        #expect(refused, "\(pipeline.log("late"))")
        #expect(!pipeline.events().contains { $0.topic == .memberScored })
        let handle = try #require(FileHandle(forWritingAtPath: evaluatorKeys))
        handle.seekToEndOfFile()
        handle.write(Data(try String(contentsOfFile: late.pub, encoding: .utf8).utf8))
        try handle.close()
        let summary = try pipeline.finish(within: 90)
        #expect(summary["reason"] as? String == "max_steps", "\(summary)\n\(pipeline.log("late"))")
        try checkMemberHistories(pipeline.events(), population: 2, maxSteps: 10)
    }

    @Test(
        "with CURVE, only authorized keys get work, publish or subscribe; a key added to the file is admitted without a restart",
        .timeLimit(.minutes(4)))
    func curveKeepsStrangersOut() throws {
        // Long enough (about 40 s for one trainer) for the late trainer to come back and join.
        let pipeline = try SecurePipeline(
            experiment: Self.experiment(
                name: "curve", population: 4, maxSteps: 200, stepSeconds: 0.05, extra: "security: {curve: true}"),
            secure: true)
        try pipeline.startServers()
        let context = try ZMQContext()
        // Container health checks still see CURVE endpoints answer (the probe reads the greeting only).
        let health = try PBTProcess(
            ["health", pipeline.work, pipeline.publishers, pipeline.subscribers],
            output: pipeline.directory.file("health.txt"))
        #expect(health.finish(within: 30)?.succeeded == true, "\(health.log)")

        // A subscriber with the client key sees the stream. It reads only after the run, so its
        // queue is unbounded: past the default 1,000 the stream drops what comes last (the
        // finish), as PUB/SUB does for any subscriber that does not keep up.
        let security = try CurveSecurity.load(
            key: pipeline.keys + "/client.key", serverKey: pipeline.keys + "/server.pub", authorizedKeys: nil)
        let watcher = try ZMQSocket(context, .sub)
        try watcher.setReceiveHighWaterMark(0)
        try watcher.secureClient(security)
        try watcher.subscribe()
        try watcher.connect(pipeline.subscribers)

        // Strangers: an unknown key, the wrong server key, no CURVE at all, and one not yet authorized.
        let stranger = try pipeline.keygen("stranger", authorize: false)
        let late = try pipeline.keygen("late", authorize: false)
        try pipeline.keygen("impostor", authorize: false)
        try pipeline.start("trainer", "stranger", pipeline.clientArguments(key: "stranger"))
        try pipeline.start("trainer", "wrong-server", pipeline.clientArguments(serverKey: "impostor"))
        try pipeline.start("trainer", "plain", [])
        try pipeline.start("trainer", "late", pipeline.clientArguments(key: "late"))

        // A rogue with an unknown key tries to report results and to publish an event.
        let strangerPair = try CurveKeyFile.readKeyPair(stranger.key)
        let strangerSecurity = CurveSecurity(keyPair: strangerPair, serverKey: security.serverKey)
        let rogue = try ZMQSocket(context, .dealer)
        try rogue.setRoutingID(Array("rogue".utf8))
        try rogue.secureClient(strangerSecurity)
        try rogue.connect(pipeline.work)
        let rogueEvents = try ZMQSocket(context, .pub)
        try rogueEvents.secureClient(strangerSecurity)
        try rogueEvents.connect(pipeline.publishers)
        let rogueSubscriber = try ZMQSocket(context, .sub)
        try rogueSubscriber.secureClient(strangerSecurity)
        try rogueSubscriber.subscribe()
        try rogueSubscriber.connect(pipeline.subscribers)

        let refusedWhy: ([TimedEvent]) -> Set<String> = { events in
            Set(events.filter { $0.topic == .peerRefused }.compactMap(\.reason))
        }
        var rogueSent = 0
        let refused = eventually(within: 30) {
            for _ in 0..<5 {
                _ = try? rogue.send(
                    [WireProtocol.encode(.ready(Ready(role: .trainer, received: 0, name: "rogue", experimentID: "")))],
                    dontWait: true)
                _ = try? rogue.send(
                    [
                        WireProtocol.encode(
                            .trained(
                                TrainResult(
                                    member: 0, version: 1, fromStep: 0, step: 2,
                                    checkpoint: String(repeating: "a", count: 64), metrics: [:], seconds: 0,
                                    interrupted: true)))
                    ], dontWait: true)
                _ = try? rogueEvents.send(
                    [Array("member.finished".utf8), Array(#"{"event":"member.finished","forged":true}"#.utf8)],
                    dontWait: true)
                rogueSent += 3
            }
            return refusedWhy(pipeline.events()).isSuperset(of: ["unknown_key", "wrong_server_key", "not_curve"])
        }
        #expect(refused, "selector refusals: \(refusedWhy(pipeline.events()))\n\(pipeline.log("selector"))")
        let refusal = pipeline.events().lazy.compactMap { timed -> String? in
            guard case .peerRefused(_, let address, strangerPair.publicText, _, _) = timed.event else { return nil }
            return address
        }.first
        #expect(refusal == "127.0.0.1", "\(String(describing: refusal))")
        // Each stranger is told why, in words it can act on.
        #expect(
            eventually(within: 20) {
                pipeline.log("stranger").contains("refused this process's CURVE key \(strangerPair.publicText)")
                    && pipeline.log("wrong-server").contains("is --server-key the public key of the selector?")
                    && pipeline.log("plain").contains("requires CURVE: give this stage --key and --server-key")
            },
            "stranger:\n\(pipeline.log("stranger"))\nwrong-server:\n\(pipeline.log("wrong-server"))\nplain:\n\(pipeline.log("plain"))"
        )
        // The proxy refused the rogue publisher and subscriber too.
        #expect(
            eventually(within: 20) { pipeline.proxy?.log.contains("refused a peer (unknown_key)") == true },
            "\(pipeline.proxy?.log ?? "")")
        #expect(try rogueSubscriber.receive(timeoutMilliseconds: 500) == nil, "a stranger received an event")

        // The real workers, then the late trainer's key: it joins without anything restarting.
        try pipeline.start("evaluator", "evaluator-1")
        try pipeline.start("mutator", "mutator-1")
        try pipeline.start("trainer", "trainer-1")
        #expect(pipeline.waitForEvents(within: 30) { $0.contains { $0.topic == .memberTrained } })
        let handle = try #require(FileHandle(forWritingAtPath: pipeline.authorized))
        handle.seekToEndOfFile()
        handle.write(Data(try String(contentsOfFile: late.pub, encoding: .utf8).utf8))
        try handle.close()
        let joined = pipeline.waitForEvents(within: 60) {
            $0.contains { $0.topic == .memberAssigned && $0.worker == "late" }
        }
        #expect(joined, "the late trainer never got a member:\n\(pipeline.log("late"))")

        let summary = try pipeline.finish(within: 120)
        #expect(summary["reason"] as? String == "max_steps")
        let events = pipeline.events()
        try checkMemberHistories(events, population: 4, maxSteps: 200)
        // No stranger got a member; nothing the rogue sent reached the selector, not even as a dropped frame.
        let assigned = Set(
            events.filter { $0.topic == .memberAssigned }.compactMap { $0.worker })
        #expect(assigned.isDisjoint(with: ["stranger", "wrong-server", "plain", "rogue"]), "\(assigned)")
        #expect(summary["frames_dropped"] as? Int == 0)
        #expect(!events.contains { $0.topic == .resultDropped })
        #expect(!events.contains { ($0.worker ?? "").contains("rogue") })
        // The forged event never reached an authorized subscriber, which did see the run.
        var seen: [String] = []
        while let frames = try watcher.receive(timeoutMilliseconds: 200) {
            seen.append(String(decoding: frames.last ?? [], as: UTF8.self))
        }
        #expect(seen.contains { $0.contains(#""event":"experiment.finished""#) }, "\(seen.count) events seen")
        #expect(!seen.contains { $0.contains("forged") })
        #expect(rogueSent > 0)
    }

    @Test(
        "pbt run --secure and security: {curve: true}: the toy end to end with CURVE on every socket (the second with checkpoints over ZeroMQ)",
        .timeLimit(.minutes(3)))
    func runSecure() throws {
        let directory = try TemporaryDirectory()
        let toy = try String(contentsOfFile: PBTBinary.repository + "/topologies/experiments/toy.yml", encoding: .utf8)
        // The file's run also moves every checkpoint through the selector's checkpoint service,
        // whose socket CURVE covers like the others.
        let file = try directory.write(
            "toy-curve.yml", toy + "\nsecurity: {curve: true}\ncheckpoints: {transport: zeromq}\n")
        for (name, arguments) in [
            (
                "flag",
                ["run", PBTBinary.repository + "/topologies/experiments/toy.yml", "--secure", "--transport", "tcp"]
            ), ("file", ["run", file]),
        ] {
            let run = directory.file("run-\(name)")
            let process = try PBTProcess(arguments + ["--output", run], output: directory.file("\(name).txt"))
            let end = try #require(process.finish(within: 120))
            #expect(end.succeeded, "\(process.log)")
            #expect(process.log.contains("CURVE on every socket; keys in \(run)/keys"))
            let summary = try jsonObject(run + "/summary.json")
            #expect(((summary["best"] as? [String: Any])?["score"] as? Double ?? 0) > Toy.pastTheGrid, "\(summary)")
            #expect((summary["exploits"] as? Int ?? 0) > 0, "no exploit went through the mutator")
            if name == "file" {
                for worker in ["trainer-1", "trainer-2", "evaluator-1"] {
                    let log = (try? String(contentsOfFile: "\(run)/logs/\(worker).log", encoding: .utf8)) ?? ""
                    #expect(log.contains("checkpoints over ZeroMQ"), "\(worker):\n\(log)")
                }
            }
            for key in ["server.key", "client.key"] {
                #expect(
                    (try FileManager.default.attributesOfItem(atPath: "\(run)/keys/\(key)")[.posixPermissions] as? Int)
                        == 0o600)
            }
            // Every stage that binds admitted; every one that connects was accepted.
            let selectorLog = try String(contentsOfFile: run + "/logs/selector.log", encoding: .utf8)
            #expect(selectorLog.contains("CURVE on: selector admits 1 client key"))
            let trainerLog = try String(contentsOfFile: run + "/logs/trainer-1.log", encoding: .utf8)
            #expect(
                trainerLog.contains("connected to the selector at") && trainerLog.contains("(CURVE, key accepted)"),
                "\(trainerLog)")
        }
    }

    // MARK: What a peer cannot make a stage do

    @Test(
        "a trainer runs a command workload it is sent only for programs it allows, and never through a shell",
        .timeLimit(.minutes(3)))
    func commandWorkloadsNeedPermission() throws {
        let directory = try TemporaryDirectory()
        let marker = directory.file("pwned")
        let program = try directory.write(
            "train.py",
            """
            import json, sys
            for line in sys.stdin:
                request = json.loads(line)
                open(request["save"], "wb").write(b"x")
                print(json.dumps({"score": 1, "argv": len(sys.argv)}), flush=True)
            """)
        // Shell syntax in the argv stays words: nothing runs `touch`.
        let text = """
            name: command-limits
            workload: {kind: command, command: [python3, \(program), "; touch \(marker)", "$(touch \(marker))"], mode: persistent}
            population: 2
            stop: {max_steps: 4}
            exploit: {strategy: none}
            explore: {strategy: none}
            hyperparameters:
              x: {uniform: [0, 1]}
            """
        let pipeline = try SecurePipeline(experiment: text, secure: false)
        try pipeline.startServers()
        try pipeline.start("evaluator", "evaluator-1")
        try pipeline.start("trainer", "refuses")
        let refusal = try #require(pipeline.workers["refuses"]?.finish(within: 30))
        #expect(refusal.exitCode == 2)
        #expect(
            pipeline.log("refuses").contains(
                "runs no command workload it is sent unless allowed: the experiment runs [python3, \(program), ; touch \(marker), $(touch \(marker))]; start it with --allow-command python3"
            ), "\(pipeline.log("refuses"))")
        try pipeline.start("trainer", "other-program", ["--allow-command", "bash"])
        #expect(try #require(pipeline.workers["other-program"]?.finish(within: 30)).exitCode == 2)
        try pipeline.start("trainer", "allowed", ["--allow-command", "python3"])
        let summary = try pipeline.finish(within: 60)
        #expect(summary["reason"] as? String == "max_steps")
        #expect(!FileManager.default.fileExists(atPath: marker), "a shell ran the command")
        let metrics = (summary["best"] as? [String: Any])?["metrics"] as? [String: Any]
        #expect(
            metrics?["argv"] as? Int == 3,
            "the program got its two arguments as they were: \(String(describing: metrics))")
    }
}
