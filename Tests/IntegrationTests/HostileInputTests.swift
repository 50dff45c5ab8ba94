import Foundation
import Testing

/// Files and command lines written to hurt: each is refused quickly, in little memory, with a
/// message that says what was wrong, and exit code 2.
@Suite("hostile input")
struct HostileInputTests {
    /// The shipped toy experiment with an alias bomb beside it: 10^10 values in about 1 KB.
    static var aliasBomb: String {
        get throws {
            var text = try String(
                contentsOfFile: PBTBinary.repository + "/topologies/experiments/toy.yml", encoding: .utf8)
            text += "\na0: &a0 [x,x,x,x,x,x,x,x,x,x]\n"
            for level in 1...9 {
                text +=
                    "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ",")
                    + "]\n"
            }
            return text
        }
    }

    @Test("an alias bomb is refused within 1 s and 256 MiB, naming the limit", arguments: ["validate", "run"])
    func aliasBomb(command: String) throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write("bomb.yml", try Self.aliasBomb)
        let arguments = command == "run" ? ["run", file, "--output", directory.file("run")] : ["validate", file]
        let result = try MeasuredProcess.run(arguments, in: directory, timeout: 20)
        #expect(result.exitCode == 2, "\(result.description)")
        #expect(result.seconds < 1, "\(result.description)")
        #expect(result.peakResidentKiB < 256 * 1024, "\(result.description)")
        #expect(result.output.contains("more than 100000 values"), "\(result.description)")
        #expect(result.output.utf8.count < 1_000, "\(result.description)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("run")))
    }

    @Test(
        "an error written to a closed stderr or to a pipe nobody reads ends in exit code 2, not a trap",
        arguments: [MeasuredProcess.StandardError.closed, .brokenPipe])
    func unreadableStandardError(standardError: MeasuredProcess.StandardError) throws {
        let directory = try TemporaryDirectory()
        let file = try directory.write("bad.yml", "name: [unclosed\n")
        for arguments in [["validate", file], ["run", "--trainers", "0", file]] {
            let result = try MeasuredProcess.run(arguments, in: directory, standardError: standardError)
            #expect(result.exitCode == 2, "\(arguments): \(result.description)")
        }
    }
}
