import Foundation
import PBTSystem
import Testing

/// A scratch directory's owner holds its lock while it lives; a sweep removes only directories
/// of its prefix whose lock nobody holds and whose lock file has settled.
@Suite("scratch directories")
struct ScratchDirectoryTests {
    /// A parent directory of its own for each test.
    static func parent() throws -> String {
        let path = NSTemporaryDirectory() + "pbt-scratch-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A directory `name` under `parent` with a lock file nobody holds.
    static func orphan(_ name: String, in parent: String, lockFile: Bool = true) throws -> String {
        let path = parent + "/" + name
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        if lockFile { #expect(FileManager.default.createFile(atPath: path + "/.owner", contents: nil)) }
        #expect(FileManager.default.createFile(atPath: path + "/save-0.ckpt", contents: Data([1, 2, 3])))
        return path
    }

    @Test func onlyUnheldSettledDirectoriesOfThePrefixAreSwept() throws {
        let parent = try Self.parent()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let orphan = try Self.orphan("pbt-command-1-1", in: parent)
        let noLockFile = try Self.orphan("pbt-command-2-2", in: parent, lockFile: false)
        let otherPrefix = try Self.orphan("other-3-3", in: parent)
        // A link named like a scratch directory, to a directory that looks like an orphan's.
        let target = try Self.orphan("elsewhere", in: parent)
        try FileManager.default.createSymbolicLink(atPath: parent + "/pbt-command-4-4", withDestinationPath: target)
        let live = ScratchDirectory(prefix: "pbt-command-", in: parent)
        try live.make()
        let later = Date().addingTimeInterval(ScratchDirectory.settled + 1)

        // Too young: a new owner makes its lock file a moment before it takes the lock.
        #expect(ScratchDirectory.sweep(parent: parent, prefix: "pbt-command-").isEmpty)
        #expect(ScratchDirectory.sweep(parent: parent, prefix: "pbt-command-", now: later) == [orphan])
        let fileManager = FileManager.default
        #expect(!fileManager.fileExists(atPath: orphan))
        #expect(fileManager.fileExists(atPath: noLockFile))
        #expect(fileManager.fileExists(atPath: otherPrefix))
        #expect(fileManager.fileExists(atPath: target + "/save-0.ckpt"), "a link is not followed")
        #expect((try? fileManager.destinationOfSymbolicLink(atPath: parent + "/pbt-command-4-4")) == target)
        #expect(fileManager.fileExists(atPath: live.path + "/.owner"), "a held lock keeps its directory")
    }

    @Test func theFirstMakeSweepsAndTheOwnerRemovesItsOwn() throws {
        let parent = try Self.parent()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let orphan = try Self.orphan("pbt-command-1-1", in: parent)
        let old = Date().addingTimeInterval(-ScratchDirectory.settled - 1)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: orphan + "/.owner")
        var scratch: ScratchDirectory? = ScratchDirectory(prefix: "pbt-command-", in: parent)
        let path = try #require(scratch?.path)
        #expect(path.hasPrefix(parent + "/pbt-command-\(getpid())-"))
        #expect(!FileManager.default.fileExists(atPath: path), "made only when asked")
        try scratch?.make()
        #expect(!FileManager.default.fileExists(atPath: orphan))
        // Removed behind its owner's back, it is made again.
        try FileManager.default.removeItem(atPath: path)
        try scratch?.make()
        #expect(FileManager.default.fileExists(atPath: path + "/.owner"))
        scratch = nil
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}
