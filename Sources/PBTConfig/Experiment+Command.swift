#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `command` workload's argv, and where its relative paths point.
///
/// A relative path in `command` means a file beside the experiment, wherever `pbt` was started:
///
///     argv[0] with a '/' (./train.sh, bin/train)         → DIRECTORY/argv[0]
///     argv[0] without one (python3)                      → left to PATH
///     another word that starts with ./ or ../            → DIRECTORY/word
///     another word naming something in DIRECTORY         → DIRECTORY/word
///     anything else (absolute paths, flags, numbers)     → as written
///
/// DIRECTORY is the experiment file's directory. The selector sends workers the experiment's
/// text, not its path, so `Experiment.load(path:)` records it in the text (a last line
/// `directory: "/abs/dir"`) when the command has a path to resolve; `pbt run` copies that
/// text into the run directory, and workers resolve against it.
extension Experiment {
    /// The argv of a `command` workload as the file writes it; nil for another workload, or a
    /// `command` that is not a list of words (the workload reports that).
    public var writtenCommand: [String]? {
        guard workload.kind == "command", let items = try? workload.settings["command"]?.list() else { return nil }
        var argv: [String] = []
        for item in items {
            guard let word = try? item.text() else { return nil }
            argv.append(word)
        }
        return argv
    }

    /// `writtenCommand` with its relative paths resolved against `directory` (as written when
    /// the experiment has none).
    public var resolvedCommand: [String]? {
        guard let argv = writtenCommand else { return nil }
        guard let directory else { return argv }
        return Self.resolve(command: argv, against: directory, exists: Self.exists)
    }

    /// Resolves the relative paths of `argv` against `directory` (the rule above); `exists`
    /// says whether an absolute path names something.
    public static func resolve(command argv: [String], against directory: String, exists: (String) -> Bool) -> [String]
    {
        argv.enumerated().map { index, word in
            guard !word.isEmpty, !word.hasPrefix("/") else { return word }
            let path = directory.hasSuffix("/") ? directory + word : directory + "/" + word
            if index == 0 { return word.contains("/") ? path : word }
            let explicit = word.hasPrefix("./") || word.hasPrefix("../") || word == "." || word == ".."
            return explicit || (!word.hasPrefix("-") && exists(path)) ? path : word
        }
    }

    /// Whether `path` names a file or directory.
    static func exists(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0
    }

    /// The absolute directory of the file at `path`, from the current directory when relative.
    static func absoluteDirectory(of path: String) -> String {
        var components = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().map(String.init)
        if !path.hasPrefix("/") {
            var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
            let found = buffer.withUnsafeMutableBufferPointer {
                getcwd(UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count) != nil
            }
            let current = found ? String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self) : "."
            components = current.split(separator: "/", omittingEmptySubsequences: false).map(String.init) + components
        }
        // "." and empty components are safe to drop; ".." is not (a symbolic link may be before it).
        let kept = components.filter { $0 != "." && !$0.isEmpty }
        return "/" + kept.joined(separator: "/")
    }

    /// The experiment with `directory` recorded: `text` with a last line `directory: "…"`.
    /// Throws when the text does not read back as the same experiment with that line (a file
    /// whose top level is not a block map of fields, or that ends its document).
    static func recording(
        directory: String, in text: String, as experiment: Experiment
    ) throws(ConfigError) -> Experiment {
        var escaped = ""
        for scalar in directory.unicodeScalars {
            switch scalar {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case _ where scalar.value < 0x20 || scalar.value == 0x7f:
                escaped +=
                    "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        let separator = text.isEmpty || text.hasSuffix("\n") ? "" : "\n"
        let recorded =
            text + separator
            + "# Recorded by pbt: relative paths in workload.command are beside the experiment file.\ndirectory: \"\(escaped)\"\n"
        var readBack = try? parse(yaml: recorded)
        let recordedDirectory = readBack?.directory
        readBack?.directory = nil
        readBack?.source = text
        guard recordedDirectory == directory, readBack == experiment else {
            throw ConfigError(
                path: "directory",
                message:
                    "cannot record the experiment's directory (\(ConfigNode.capped(directory))) for its command's relative paths: the file is not a block map of fields; add directory: /absolute/path to it, or give the paths in command absolute"
            )
        }
        return try parse(yaml: recorded)
    }
}
