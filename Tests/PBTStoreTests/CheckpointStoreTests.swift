import Foundation
import PBTCore
import PBTStore
import Testing

/// A fresh directory under the system's temporary directory, removed when the test ends.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("pbt-store-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Every regular file under the directory, relative to it.
    func files() -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: path)
        var files: [String] = []
        while let name = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: "\(path)/\(name)", isDirectory: &isDirectory),
                !isDirectory.boolValue
            {
                files.append(name)
            }
        }
        return files.sorted()
    }
}

/// The content-addressed checkpoint store: names are sha256 hex, reads verify, refs never escape.
@Suite("CheckpointStore")
struct CheckpointStoreTests {
    static let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    static let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    @Test(arguments: [(Array("abc".utf8), abc), ([UInt8](), empty)])
    func referenceIsTheSHA256InLowercaseHex(bytes: [UInt8], expected: String) {
        #expect(CheckpointStore.reference(of: bytes) == expected)
    }

    @Test func writeReturnsTheReferenceAndReadGivesTheBytesBack() throws {
        let directory = try TemporaryDirectory()
        let store = try CheckpointStore(directory: directory.path + "/checkpoints")
        let reference = try store.write(Array("abc".utf8))
        #expect(reference == Self.abc)
        #expect(try store.path(of: reference) == "\(directory.path)/checkpoints/ba/\(Self.abc)")
        #expect(store.contains(reference))
        #expect(try store.read(reference) == Array("abc".utf8))
        #expect(directory.files() == ["checkpoints/ba/\(Self.abc)"], "no temporary file left behind")
    }

    @Test func theSameBytesAreStoredOnce() throws {
        let directory = try TemporaryDirectory()
        let store = try CheckpointStore(directory: directory.path)
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let first = try store.write(bytes)
        let second = try store.write(bytes)
        let other = try store.write(bytes + [0])
        #expect(first == second)
        #expect(first != other)
        #expect(directory.files().count == 2)
        #expect(try store.read(first) == bytes)
        #expect(try store.read(other) == bytes + [0])
    }

    @Test func emptyCheckpointsAreStoredToo() throws {
        let directory = try TemporaryDirectory()
        let store = try CheckpointStore(directory: directory.path)
        #expect(try store.write([]) == Self.empty)
        #expect(try store.read(Self.empty) == [])
    }

    static let damages: [(String, @Sendable ([UInt8]) -> [UInt8])] = [
        (
            "a flipped byte",
            {
                var b = $0
                b[b.count / 2] ^= 0x01
                return b
            }
        ),
        ("a truncated file", { Array($0.dropLast()) }),
        ("an appended byte", { $0 + [0] }),
        ("an empty file", { _ in [] }),
    ]

    @Test(arguments: 0..<damages.count)
    func aFileAlteredOnDiskIsCorrupt(damage: Int) throws {
        let directory = try TemporaryDirectory()
        let store = try CheckpointStore(directory: directory.path)
        let bytes = Array("the weights of a small model".utf8)
        let reference = try store.write(bytes)
        let path = try store.path(of: reference)
        let altered = Self.damages[damage].1(bytes)
        try Data(altered).write(to: URL(fileURLWithPath: path))
        do {
            _ = try store.read(reference)
            Issue.record("\(Self.damages[damage].0) was read")
        } catch {
            #expect(error == .corrupt(reference: reference, actual: CheckpointStore.reference(of: altered)))
            #expect(error.description.contains("hash"))
        }
    }

    @Test
    func writingTheSameBytesAgainRepairsADamagedFile() throws {
        let directory = try TemporaryDirectory()
        let store = try CheckpointStore(directory: directory.path)
        let bytes = Array("weights".utf8)
        let reference = try store.write(bytes)
        try Data([0]).write(to: URL(fileURLWithPath: try store.path(of: reference)))
        #expect(try store.write(bytes) == reference)
        #expect(try store.read(reference) == bytes)
    }

    @Test func aReferenceNotInTheStoreIsMissing() throws {
        let directory = try TemporaryDirectory()
        let store = try CheckpointStore(directory: directory.path)
        #expect(!store.contains(Self.abc))
        #expect(throws: CheckpointError.missing(Self.abc)) { try store.read(Self.abc) }
    }

    static let invalidReferences: [String] = [
        "../etc/passwd", "", abc.uppercased(), String(abc.dropLast()), abc + "0", "/" + String(abc.dropFirst()),
        String(abc.dropLast(8)) + "/../../x", "..", ".", String(repeating: ".", count: 64),
        String(repeating: "g", count: 64),
        " " + String(abc.dropFirst()), String(abc.dropLast()) + "\u{0}", String(abc.dropLast(2)) + "é",
        String(repeating: "0", count: 62) + "/x", "ba/" + String(abc.dropFirst(3)),
    ]

    @Test("invalid references are refused before touching the disk", arguments: invalidReferences)
    func invalidReferencesAreRefused(reference: String) throws {
        let directory = try TemporaryDirectory()
        let store = try CheckpointStore(directory: directory.path)
        #expect(!CheckpointStore.isValid(reference))
        #expect(throws: CheckpointError.invalidReference(reference)) { try store.path(of: reference) }
        #expect(throws: CheckpointError.invalidReference(reference)) { try store.read(reference) }
        #expect(!store.contains(reference))
    }

    /// Any string either fails validation or names a file exactly two levels below the store.
    @Test func pathsNeverLeaveTheStore() throws {
        let store = try CheckpointStore(directory: "/srv/run/checkpoints")
        let alphabet = Array("0123456789abcdefABCDEF./\\ -_g\u{0}é")
        var generator = SplitMix64(seed: 17)
        for round in 0..<5_000 {
            let length = round % 3 == 0 ? 64 : Int.random(in: 0...70, using: &generator)
            let reference = String(
                (0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
            guard let path = try? store.path(of: reference) else {
                #expect(!CheckpointStore.isValid(reference))
                continue
            }
            #expect(CheckpointStore.isValid(reference))
            #expect(path == "/srv/run/checkpoints/\(reference.prefix(2))/\(reference)")
            #expect(!path.contains(".."))
            #expect(URL(fileURLWithPath: path).standardized.path.hasPrefix("/srv/run/checkpoints/"))
        }
        for round in 0..<1_000 {
            let reference = CheckpointStore.reference(of: [UInt8(round % 256), UInt8(round / 256)])
            #expect(try store.path(of: reference).hasPrefix("/srv/run/checkpoints/\(reference.prefix(2))/"))
        }
    }

    @Test func initCreatesNestedDirectoriesAndRefusesAFileInTheWay() throws {
        let directory = try TemporaryDirectory()
        let nested = directory.path + "/a/b/c"
        _ = try CheckpointStore(directory: nested)
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: nested, isDirectory: &isDirectory) && isDirectory.boolValue)

        let file = directory.path + "/file"
        try Data([1]).write(to: URL(fileURLWithPath: file))
        do {
            _ = try CheckpointStore(directory: file + "/checkpoints")
            Issue.record("a store under a file")
        } catch {
            guard case .unavailable(let path, _) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(path == file + "/checkpoints")
        }
    }

    @Test func errorDescriptionsAreShort() {
        #expect(CheckpointError.invalidReference(String(repeating: "x", count: 500)).description.count < 200)
        #expect(CheckpointError.missing(Self.abc).description.contains("ba7816bf8f01"))
        #expect(!CheckpointError.missing(Self.abc).description.contains(Self.abc))
    }
}

/// The run directory's layout and the append-only line log.
@Suite("RunDirectory")
struct RunDirectoryTests {
    @Test(arguments: ["/tmp/run", "/tmp/run/"])
    func pathsInsideTheRun(path: String) {
        let run = RunDirectory(path: path)
        #expect(run.path == "/tmp/run")
        #expect(run.experiment == "/tmp/run/experiment.yml")
        #expect(run.events == "/tmp/run/events.jsonl")
        #expect(run.summary == "/tmp/run/summary.json")
        #expect(run.checkpoints == "/tmp/run/checkpoints")
        #expect(run.logs == "/tmp/run/logs")
        #expect(run.absolute == "/tmp/run")
    }

    /// `mkdir -p` walks up by this; a one-letter name (`pbt run … -o r`) once trapped in
    /// Foundation's `deletingLastPathComponent`.
    @Test(arguments: [
        ("r", ""), ("ab", ""), ("a/b", "a"), ("a/b/", "a"), ("/a", "/"), ("/", "/"), ("./r", "."), ("/x/y/z", "/x/y"),
    ])
    func theParentOfAPath(path: String, parent: String) {
        #expect(RunDirectory.parent(of: path) == parent)
    }

    @Test func aRelativePathIsMadeAbsoluteFromTheWorkingDirectory() {
        let run = RunDirectory(path: "runs/a")
        #expect(run.absolute == FileManager.default.currentDirectoryPath + "/runs/a")
        #expect(RunDirectory(path: "/").path == "/")
    }

    @Test func createMakesTheSubdirectories() throws {
        let directory = try TemporaryDirectory()
        let run = RunDirectory(path: directory.path + "/run")
        try run.create()
        for folder in [run.logs, run.checkpoints] {
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) && isDirectory.boolValue)
        }
        try run.create()  // again: no error
    }

    @Test func writeAtomicallyReplacesTheWholeFile() throws {
        let directory = try TemporaryDirectory()
        let file = directory.path + "/summary.json"
        try RunDirectory.writeAtomically("{\"a\": 1, \"long\": \"text\"}", to: file)
        try RunDirectory.writeAtomically("{}", to: file)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "{}")
        #expect(directory.files() == ["summary.json"])
    }

    @Test func aLineLogAppendsLines() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/events.jsonl"
        let log = try LineLog(path: path)
        #expect(log.path == path)
        log.append("{\"event\":\"a\"}")
        log.append("second ü 🙂")
        log.append("")
        log.flush()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"event\":\"a\"}\nsecond ü 🙂\n\n")
    }

    @Test func aLineLogKeepsWhatWasThereAndFlushesWhenReleased() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/events.jsonl"
        try "old\n".write(toFile: path, atomically: true, encoding: .utf8)
        do {
            let log = try LineLog(path: path)
            log.append("new")
        }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "old\nnew\n")
    }

    @Test func aLineLogCutBackToAnOffsetAppendsThereAndKeepsItsSize() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/events.jsonl"
        try "old\n".write(toFile: path, atomically: true, encoding: .utf8)
        let log = try LineLog(path: path)
        #expect(log.size == 4)
        log.append("one")
        let offset = log.size
        log.append("two ü")
        log.flush()
        #expect(log.size == 4 + 4 + 7)
        // Cutting at or past the end changes nothing; cutting back drops what followed.
        try log.truncate(to: log.size + 10)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "old\none\ntwo ü\n")
        try log.truncate(to: offset)
        log.append("two again")
        log.flush()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "old\none\ntwo again\n")
        #expect(log.size == offset + 10)
    }

    @Test func aLineLogInAMissingDirectoryThrows() throws {
        let directory = try TemporaryDirectory()
        #expect(throws: (any Error).self) { try LineLog(path: directory.path + "/missing/events.jsonl") }
    }
}

/// A checkpoint arriving in chunks: named only once whole and checked; anything else leaves
/// no file behind.
@Suite struct CheckpointIntakeTests {
    static let bytes: [UInt8] = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 7) }

    @Test func chunksInOrderMakeTheCheckpoint() throws {
        let directory = try TemporaryDirectory()
        let store = try CheckpointStore(directory: directory.path)
        let reference = CheckpointStore.reference(of: Self.bytes)
        let intake = try CheckpointIntake(store: store, reference: reference, size: Self.bytes.count)
        #expect(store.incomingCount() == 1)
        for start in stride(from: 0, to: Self.bytes.count, by: 4096) {
            #expect(!store.contains(reference), "named before it was whole")
            try intake.append(Array(Self.bytes[start..<min(start + 4096, Self.bytes.count)]), at: start)
        }
        try intake.finish()
        #expect(try store.read(reference) == Self.bytes)
        #expect(store.incomingCount() == 0)
        #expect(try store.chunk(of: reference, offset: 9_000, length: 4096)?.bytes == Array(Self.bytes[9_000...]))
        #expect(store.size(of: reference) == Self.bytes.count)
    }

    @Test func wrongBytesOrOrderLeaveNothing() throws {
        let directory = try TemporaryDirectory()
        let store = try CheckpointStore(directory: directory.path)
        let reference = CheckpointStore.reference(of: Self.bytes)
        // Bytes that do not hash to the name.
        var damaged = Self.bytes
        damaged[5] ^= 1
        let wrong = try CheckpointIntake(store: store, reference: reference, size: damaged.count)
        try wrong.append(damaged, at: 0)
        #expect(throws: CheckpointError.corrupt(reference: reference, actual: CheckpointStore.reference(of: damaged))) {
            try wrong.finish()
        }
        // A chunk out of order, then one past the size.
        let skipped = try CheckpointIntake(store: store, reference: reference, size: Self.bytes.count)
        #expect(throws: CheckpointError.self) { try skipped.append(Array(Self.bytes[100...]), at: 100) }
        #expect(throws: CheckpointError.self) { try skipped.append(Self.bytes + [0], at: 0) }
        #expect(throws: CheckpointError.self) { try skipped.finish() }
        skipped.abandon()
        #expect(!store.contains(reference))
        #expect(store.incomingCount() == 0)
        // A transfer dropped halfway (its owner gone) removes its file too.
        do {
            let dropped = try CheckpointIntake(store: store, reference: reference, size: Self.bytes.count)
            try dropped.append(Array(Self.bytes[..<100]), at: 0)
        }
        #expect(store.incomingCount() == 0)
    }

    @Test func evictionKeepsTheNewestUnderTheBound() throws {
        let directory = try TemporaryDirectory()
        let store = try CheckpointStore(directory: directory.path)
        var references: [String] = []
        for index in 0..<5 {
            references.append(try store.write(Array(repeating: UInt8(index), count: 1000)))
            // Oldest first: modification times a second apart.
            let path = try store.path(of: references[index])
            var times = [
                timeval(tv_sec: 1_000_000 + index, tv_usec: 0), timeval(tv_sec: 1_000_000 + index, tv_usec: 0),
            ]
            utimes(path, &times)
        }
        #expect(store.evict(toAtMost: 5000) == 0)
        // Room for two: the three oldest go, except the one kept.
        #expect(store.evict(toAtMost: 2000, keeping: [references[0]]) == 3)
        #expect(store.contains(references[0]) && store.contains(references[4]))
        #expect(!store.contains(references[1]) && !store.contains(references[2]) && !store.contains(references[3]))
    }
}

/// The checks the checkpoint service makes before it says it holds a checkpoint.
@Suite struct CheckpointVerifyTests {
    @Test func verifyHashesTheFileAndTouchSaysWhetherItIsThere() throws {
        let directory = try TemporaryDirectory()
        let store = try CheckpointStore(directory: directory.path)
        let bytes = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let reference = try store.write(bytes)
        #expect(store.verify(reference))
        #expect(store.touch(reference))
        // The same size, one byte changed: a file that is not what its name says.
        var damaged = bytes
        damaged[2_500_000] ^= 0xff
        let path = try store.path(of: reference)
        try Data(damaged).write(to: URL(fileURLWithPath: path))
        #expect(store.size(of: reference) == bytes.count)
        #expect(!store.verify(reference))
        let absent = CheckpointStore.reference(of: [1, 2, 3])
        #expect(!store.verify(absent))
        #expect(!store.touch(absent))
    }

    @Test func theCollectorLeavesAFileTouchedSinceItWasListed() throws {
        let directory = try TemporaryDirectory()
        let store = try CheckpointStore(directory: directory.path)
        let old = try store.write([1, 2, 3])
        let fresh = try store.write([4, 5, 6])
        var long = [timeval(tv_sec: 1_000_000, tv_usec: 0), timeval(tv_sec: 1_000_000, tv_usec: 0)]
        utimes(try store.path(of: old), &long)
        utimes(try store.path(of: fresh), &long)
        // `fresh` is used (touched) now, as the service does before serving or confirming it.
        #expect(store.touch(fresh))
        let outcome = CheckpointCollector(store: store).collect(keeping: [], grace: 60)
        #expect(outcome.deleted == 1)
        #expect(!store.contains(old) && store.contains(fresh))
    }
}
