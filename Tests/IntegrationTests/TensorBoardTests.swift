import Foundation
import PBTCore
import PBTSystem
import PBTTensorBoard
import PBTTensorBoardProto
import PBTTestSupport
import SwiftProtobuf
import Testing

/// Whether `python3` can import TensorBoard (`.ci/run` installs it from PyPI).
enum TensorBoardPython {
    static let available: Bool = {
        guard let python = ExternalTool.path("python3"), let directory = try? TemporaryDirectory() else { return false }
        return (try? ExternalTool.run(python, ["-c", "import tensorboard"], within: 60, in: directory).0?.succeeded)
            == true
    }()

    static let reason: Comment =
        "python3 cannot import tensorboard (python3 -m pip install tensorboard; .ci/run installs it)"

    /// Reads a log directory with TensorBoard's own loader (the plugin event accumulator its
    /// server uses) and prints, per run, its scalars, texts and HParams plugin data as JSON.
    static let reader = """
        import json, os, sys
        from google.protobuf import json_format
        from tensorboard.backend.event_processing import plugin_event_accumulator as pea
        from tensorboard.plugins.hparams import plugin_data_pb2
        from tensorboard.util import tensor_util

        logdir = sys.argv[1]
        out = {}
        for entry in [""] + sorted(os.listdir(logdir)):
            path = os.path.join(logdir, entry)
            if entry and not os.path.isdir(path):
                continue
            accumulator = pea.EventAccumulator(path, size_guidance={pea.TENSORS: 0})
            accumulator.Reload()
            run = {"scalars": {}, "text": {}, "hparams": {}}
            for tag in accumulator.Tags()["tensors"]:
                plugin = accumulator.SummaryMetadata(tag).plugin_data
                events = accumulator.Tensors(tag)
                if plugin.plugin_name == "scalars":
                    run["scalars"][tag] = [[e.step, float(tensor_util.make_ndarray(e.tensor_proto))] for e in events]
                elif plugin.plugin_name == "text":
                    run["text"][tag] = [[e.step, tensor_util.make_ndarray(e.tensor_proto).item().decode()] for e in events]
                elif plugin.plugin_name == "hparams":
                    run["hparams"][tag] = json_format.MessageToDict(plugin_data_pb2.HParamsPluginData.FromString(plugin.content))
            out[entry or "."] = run
        json.dump(out, sys.stdout)
        """

    /// Runs → (scalars: tag → [(step, value)], texts: tag → count, hparams: tag → object), as
    /// TensorBoard's loader read `logdir`.
    struct Run {
        var scalars: [String: [(step: Int, value: Double)]] = [:]
        var texts: [String: Int] = [:]
        var hparams: [String: [String: Any]] = [:]
    }

    static func read(_ logdir: String, in directory: TemporaryDirectory) throws -> [String: Run] {
        let script = try directory.write("read_tensorboard.py", reader)
        let python = try #require(ExternalTool.path("python3"))
        let output = directory.file("tensorboard-read-\(UUID().uuidString).json")
        let (end, log) = try ExternalTool.run(
            "/bin/sh", ["-c", "exec \"$0\" \"$1\" \"$2\" > \"$3\"", python, script, logdir, output], within: 120,
            in: directory)
        #expect(end?.succeeded == true, "TensorBoard's loader failed on \(logdir): \(log.suffix(3000))")
        let data = try #require(FileManager.default.contents(atPath: output))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: [String: Any]])
        var runs: [String: Run] = [:]
        for (name, fields) in object {
            var run = Run()
            for (tag, points) in fields["scalars"] as? [String: [[Double]]] ?? [:] {
                run.scalars[tag] = points.map { (Int($0[0]), $0[1]) }
            }
            for (tag, points) in fields["text"] as? [String: [Any]] ?? [:] { run.texts[tag] = points.count }
            run.hparams = fields["hparams"] as? [String: [String: Any]] ?? [:]
            runs[name] = run
        }
        return runs
    }
}

/// A number as TensorBoard holds a scalar (32 bits). Both sides of a comparison go through it:
/// the JSON between the loader and the test may lose the last bit of a double.
func float32(_ value: Double) -> Float { Float(value) }

@Suite("TensorBoard files", .serialized)
struct TensorBoardTests {
    /// The digits experiment, small: 4 members, 300 steps.
    static func digits(in directory: TemporaryDirectory, maxSteps: Int = 300) throws -> String {
        let base = try String(
            contentsOfFile: PBTBinary.repository + "/topologies/experiments/digits.yml", encoding: .utf8)
        return try directory.write(
            "digits.yml",
            base.replacingOccurrences(of: "max_steps: 1000", with: "max_steps: \(maxSteps)")
                .replacingOccurrences(of: "population: 8", with: "population: 4")
                .replacingOccurrences(
                    of: "kind: mlp", with: "kind: mlp\n  data: \(PBTBinary.repository)/topologies/data/digits.csv"))
    }

    @Test(
        "TensorBoard's loader reads what the log says: every member, score, metric, hyperparameter and exploit",
        .enabled(if: TensorBoardPython.available, TensorBoardPython.reason), .timeLimit(.minutes(5)))
    func theLoaderReadsTheLog() throws {
        let directory = try TemporaryDirectory()
        let (_, run, _, _) = try finishedRun(
            try Self.digits(in: directory), ["--quiet", "--tensorboard", directory.file("live")], in: directory,
            within: 240)
        let convert = try PBTProcess(
            ["tensorboard", run, "-o", directory.file("offline")], output: directory.file("convert.txt"))
        #expect(convert.finish(within: 60)?.succeeded == true, "\(convert.log)")
        #expect(convert.log.contains("tensorboard --logdir \(directory.file("offline"))"))

        let events = try runEvents(run)
        let started = try #require(events.first { $0.topic == .experimentStarted })
        guard case .experimentStarted(_, let population, let names) = started.event else { return }
        func member(_ id: Int) -> String { "member-" + String(format: "%03d", id) }
        func topic(_ topic: PBTEvent.Topic) -> [TimedEvent] { events.filter { $0.topic == topic } }

        let runs = try TensorBoardPython.read(directory.file("offline"), in: directory)
        #expect(Set(runs.keys) == Set(["."] + (0..<population).map(member)))
        // The HParams experiment: every hyperparameter, and the score as a metric.
        let experiment = try #require(runs["."]?.hparams["_hparams_/experiment"]?["experiment"] as? [String: Any])
        let infos = try #require(experiment["hparamInfos"] as? [[String: Any]])
        #expect(infos.compactMap { $0["name"] as? String } == names)
        #expect(
            (experiment["metricInfos"] as? [[String: Any]])?.contains {
                ($0["name"] as? [String: Any])?["tag"] as? String == "score"
            } == true)
        for id in 0..<population {
            let tensorboard = try #require(runs[member(id)], "no run for member \(id)")
            // Scores: the log's, in its order, at their steps.
            let scores = topic(.memberScored).filter { $0.member == id }.map {
                ($0.step ?? -1, float32($0.score ?? .nan))
            }
            #expect(!scores.isEmpty)
            #expect(tensorboard.scalars["score"]?.map(\.step) == scores.map(\.0), "member \(id)")
            #expect(tensorboard.scalars["score"]?.map { float32($0.value) } == scores.map(\.1), "member \(id)")
            // Trained ranges: every numeric hyperparameter from the step each range began, and every metric at its end.
            let trained = topic(.memberTrained).compactMap(\.trained).filter { $0.member == id }
            for name in names {
                let values = trained.compactMap { event -> (Int, Float)? in
                    guard let value = event.hyperparameters[name]?.number else { return nil }
                    return (event.fromStep, float32(value))
                }
                if values.isEmpty { continue }  // a choice's label: in the HParams table only
                #expect(
                    tensorboard.scalars["hyperparameters/\(name)"]?.map(\.step) == values.map(\.0),
                    "member \(id), \(name)")
                #expect(
                    tensorboard.scalars["hyperparameters/\(name)"]?.map { float32($0.value) } == values.map(\.1),
                    "member \(id), \(name)")
            }
            let accuracy = trained.compactMap { $0.metrics["test_accuracy"] }.map(float32)
            #expect(!accuracy.isEmpty)
            #expect(tensorboard.scalars["metrics/test_accuracy"]?.map { float32($0.value) } == accuracy, "member \(id)")
            #expect(
                tensorboard.texts["exploits"] ?? 0
                    == topic(.memberExploited).filter { $0.member == id }.count, "member \(id)")
            // Its row in the HParams table: the hyperparameters it started with, and how it ended.
            let start = try #require(
                tensorboard.hparams["_hparams_/session_start_info"]?["sessionStartInfo"] as? [String: Any],
                "member \(id)")
            #expect(Set((start["hparams"] as? [String: Any] ?? [:]).keys) == Set(names), "member \(id)")
            let end = tensorboard.hparams["_hparams_/session_end_info"]?["sessionEndInfo"] as? [String: Any]
            #expect(end?["status"] as? String == "STATUS_SUCCESS", "member \(id)")
        }
        #expect(!topic(.memberExploited).isEmpty)

        // The live writer, started by pbt run --tensorboard, wrote the same (a quiet stream drops nothing).
        let live = try TensorBoardPython.read(directory.file("live"), in: directory)
        #expect(Set(live.keys) == Set(runs.keys))
        for (name, run) in runs {
            for (tag, points) in run.scalars {
                #expect(live[name]?.scalars[tag]?.map(\.value) == points.map(\.value), "live \(name) \(tag)")
            }
            #expect(live[name]?.texts == run.texts, "live \(name)")
        }
    }

    @Test(
        "tensorboard --logdir serves every member: its runs in the browser, its row in the HParams table",
        .enabled(
            if: TensorBoardPython.available && ExternalTool.available("chromium"),
            "needs python3 with tensorboard and chromium (.ci/run installs both)"),
        .timeLimit(.minutes(5)))
    func theBrowserListsEveryMember() throws {
        let directory = try TemporaryDirectory()
        let toy = PBTBinary.repository + "/topologies/experiments/toy.yml"
        let finished = try finishedRun(toy, ["--quiet", "--tensorboard", directory.file("tb")], in: directory)
        // Each member's last score, as the run's summary has it (how high the asynchronous toy
        // gets depends on timing; that the table shows what the run reached does not).
        var finalScores: [String: Double] = [:]
        for member in finished.summary["members"] as? [[String: Any]] ?? [] {
            if let id = member["member"] as? Int, let score = member["score"] as? Double {
                finalScores[String(format: "member-%03d", id)] = score
            }
        }
        let python = try #require(ExternalTool.path("python3"))
        let log = directory.file("tensorboard.txt")
        let server = try ChildProcess(
            executable: python,
            arguments: [
                "-m", "tensorboard.main", "--logdir", directory.file("tb"), "--host", "127.0.0.1", "--port", "0",
            ], output: log)
        defer { server.stop(grace: 2) }
        var url = ""
        let listening = eventually(within: 60) {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            guard let range = text.range(of: #"http://127\.0\.0\.1:[0-9]+/"#, options: .regularExpression) else {
                return false
            }
            url = String(text[range])
            return true
        }
        #expect(
            listening,
            "tensorboard did not say where it listens: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        let members = ["member-000", "member-001"]

        // The runs, as the server lists them once it has loaded the files.
        var runs = ""
        #expect(
            eventually(within: 60) {
                runs = httpGet(url + "data/runs")?.body ?? ""
                return members.allSatisfy(runs.contains)
            }, "runs: \(runs)")
        // The HParams table: one row a member, its score among the metrics.
        let request = """
            {"experimentName":"","startIndex":0,"sliceSize":100,"allowedStatuses":["STATUS_UNKNOWN","STATUS_SUCCESS","STATUS_FAILURE","STATUS_RUNNING"],\
            "colParams":[{"metric":{"tag":"score","group":""}},{"hparam":"h0"},{"hparam":"h1"}]}
            """
        var table: [String: Any] = [:]
        #expect(
            eventually(within: 30) {
                guard let answer = httpGet(url + "data/plugin/hparams/session_groups", postJSON: request),
                    answer.status == 200,
                    let object = try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
                else { return false }
                table = object
                return (object["sessionGroups"] as? [Any])?.count == members.count
            }, "session groups: \(table)")
        for group in table["sessionGroups"] as? [[String: Any]] ?? [] {
            #expect(members.contains(group["name"] as? String ?? ""))
            #expect(Set((group["hparams"] as? [String: Any] ?? [:]).keys) == ["h0", "h1"])
            let metrics = group["metricValues"] as? [[String: Any]] ?? []
            let expected = try #require(finalScores[group["name"] as? String ?? ""], "\(finalScores)")
            // TensorBoard holds scalars as 32-bit floats.
            #expect(
                metrics.contains {
                    ($0["name"] as? [String: Any])?["tag"] as? String == "score"
                        && abs(($0["value"] as? Double ?? .nan) - Double(Float(expected))) < 1e-6
                }, "\(group); the run's last score: \(expected)")
        }

        // The scalars page (Time Series) in a headless browser lists the members' runs.
        let chromium = try #require(ExternalTool.path("chromium"))
        let arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(directory.file("chromium-profile"))",
            "--virtual-time-budget=20000",
            "--dump-dom", url + "#timeseries",
        ]
        var dom = ""
        #expect(
            eventually(within: 120) {
                let (end, page) = (try? ExternalTool.run(chromium, arguments, within: 60, in: directory)) ?? (nil, "")
                dom = page
                return end?.succeeded == true && members.allSatisfy(page.contains)
                    && page.contains("hyperparameters/h0")
            }, "the page lists neither the members nor their tags: \(dom.suffix(2000))")
    }

    @Test(
        "pbt run --tensorboard writes files TensorBoard reads while the run goes on, each ending on a whole record",
        .enabled(if: TensorBoardPython.available, TensorBoardPython.reason), .timeLimit(.minutes(5)))
    func liveFilesAreReadableDuringTheRun() throws {
        let directory = try TemporaryDirectory()
        let logdir = directory.file("tb")
        // Long enough to be read while it runs (it is stopped once it was).
        let process = try PBTProcess(
            [
                "run", try Self.digits(in: directory, maxSteps: 20_000), "--output", directory.file("run"),
                "--tensorboard", logdir,
            ],
            output: directory.file("run.txt"))
        var scores = 0
        var stillRunning = false
        #expect(
            eventually(within: 180) {
                guard FileManager.default.fileExists(atPath: logdir + "/member-000") else { return false }
                let runs = (try? TensorBoardPython.read(logdir, in: directory)) ?? [:]
                scores = runs.values.reduce(0) { $0 + ($1.scalars["score"]?.count ?? 0) }
                // Read while the run went on: it is still running after the reader returned.
                stillRunning = isAlive(process.child.pid)
                return scores > 0
            }, "TensorBoard's loader found no score in \(logdir) while the run went on\n\(process.log)")
        #expect(stillRunning, "the run ended before its files were read: \(process.log)")
        process.child.send(SIGTERM)
        let end = process.finish(within: 60)
        #expect(end != nil)
        // Every file holds whole records only, each checked, and parses as events.
        let files = TensorBoardDirectory.eventFiles(under: logdir)
        #expect(files.count >= 2, "\(files)")  // the experiment, and the members that had trained
        for file in files {
            let bytes = [UInt8](try #require(FileManager.default.contents(atPath: file)))
            let records = try TFRecord.records(in: bytes)
            #expect(records.reduce(0) { $0 + $1.count + 16 } == bytes.count, "\(file) ends inside a record")
            let events = try records.map { try Tensorboard_Event(serializedBytes: $0) }
            #expect(events.first?.fileVersion == "brain.Event:2")
        }
    }
}
