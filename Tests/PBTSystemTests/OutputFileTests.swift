import Foundation
import PBTSystem
import Testing

/// Output files a user names: written atomically when regular, written into (never replaced)
/// when something else is there.
@Suite("output files")
struct OutputFileTests {
    static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pbt-output-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aRegularFileIsReplacedWhole() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/ready.json"
        try "old and longer".write(toFile: path, atomically: false, encoding: .utf8)
        try OutputFile.write("new", to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new")
    }

    /// A FIFO stands for `/dev/null` and `/dev/stdout` here (a test must not risk the
    /// machine's null device): what is written reaches its reader, and it stays a FIFO.
    @Test(.timeLimit(.minutes(1))) func aFIFOIsWrittenIntoNotReplaced() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fifo = directory + "/pipe"
        #expect(mkfifo(fifo, 0o600) == 0)
        let reader = try ChildProcess(
            executable: "/bin/cat", arguments: [fifo], environment: [:], output: directory + "/read.txt")
        try OutputFile.write("through the pipe\n", to: fifo)
        #expect(reader.wait(seconds: 20)?.succeeded == true)
        #expect(try String(contentsOfFile: directory + "/read.txt", encoding: .utf8) == "through the pipe\n")
        var status = stat()
        #expect(stat(fifo, &status) == 0 && status.st_mode & S_IFMT == S_IFIFO)
    }

    @Test func aLinkToARegularFileStaysALink() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "old".write(toFile: directory + "/target.html", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: directory + "/link.html", withDestinationPath: "target.html")
        try OutputFile.write("new", to: directory + "/link.html")
        #expect(try String(contentsOfFile: directory + "/target.html", encoding: .utf8) == "new")
        #expect(
            (try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/link.html")) == "target.html")
    }

    @Test func aDirectoryIsAClearError() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(throws: OutputFile.WriteError.self) { try OutputFile.write("x", to: directory) }
    }
}
