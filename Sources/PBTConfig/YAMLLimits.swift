// CYaml is the copy of libyaml that Yams builds and parses with; SwiftPM makes a dependency's
// C module visible to its users. Reading libyaml's events lets the limits below be checked
// while the text streams through, before Yams builds a tree (building it is where aliases
// multiply).
internal import CYaml

/// How big a YAML document may be before a tree of it is built.
///
/// A YAML alias (`*a0`) stands for a whole node named earlier with an anchor (`&a0`), so a
/// few hundred bytes can name billions of nodes:
///
///     a0: &a0 [x, x, x, x, x, x, x, x, x, x]
///     a1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]    100 nodes
///     …
///     a9: &a9 [*a8, …]                                                10^10 nodes
///
/// `check(_:)` reads the parser's events once, in constant memory per node of the text,
/// counting every alias as the nodes it stands for, and refuses the document as soon as
/// a count passes its limit. Nothing is ever expanded.
public struct YAMLLimits: Sendable, Hashable {
    /// Bytes of text.
    public var maximumBytes: Int
    /// Nodes, counting each alias as the nodes of the value it names: the size of the tree
    /// that would be built.
    public var maximumNodes: Int
    /// Aliases (`*name`) in the text.
    public var maximumAliases: Int
    /// Collections inside collections.
    public var maximumDepth: Int

    public init(maximumBytes: Int, maximumNodes: Int, maximumAliases: Int, maximumDepth: Int) {
        self.maximumBytes = maximumBytes
        self.maximumNodes = maximumNodes
        self.maximumAliases = maximumAliases
        self.maximumDepth = maximumDepth
    }

    /// The limits for an experiment file: far beyond any real one (the shipped files have
    /// under 100 nodes and no aliases; a replayed schedule of 1,000 ranges about 15,000).
    public static let experimentFile = YAMLLimits(
        maximumBytes: 4 << 20, maximumNodes: 100_000, maximumAliases: 1_000, maximumDepth: 64)

    /// Throws when `text` passes a limit, naming the limit and the line where it was passed.
    /// Text that is not valid YAML passes: whoever parses it next reports the syntax error.
    public func check(_ text: String) throws(ConfigError) {
        let bytes = text.utf8.count
        guard bytes <= maximumBytes else {
            throw ConfigError(
                path: "",
                message: "the text is \(bytes) bytes, more than the \(maximumBytes) an experiment file may have")
        }
        var utf8 = Array(text.utf8)
        if let problem = utf8.withUnsafeMutableBufferPointer({ scan($0) }) { throw problem }
    }

    /// A collection not yet closed: its anchor and the nodes inside it so far (itself included).
    private struct OpenCollection {
        var anchor: String?
        var nodes: Int
    }

    private func scan(_ buffer: UnsafeMutableBufferPointer<UInt8>) -> ConfigError? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            return ConfigError(path: "", message: "cannot start the YAML parser (out of memory?)")
        }
        defer { yaml_parser_delete(&parser) }
        yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)

        var open: [OpenCollection] = []
        // The nodes each anchor names, counted as expanded. A later anchor of the same name
        // shadows an earlier one, as in YAML.
        var anchored: [String: Int] = [:]
        var expanded = 0
        var aliases = 0
        var event = yaml_event_t()
        while true {
            guard yaml_parser_parse(&parser, &event) == 1 else { return nil }  // a syntax error: the reader reports it
            defer { yaml_event_delete(&event) }
            let line = Int(event.start_mark.line) + 1
            var added = 0
            var finished: OpenCollection?
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return nil
            case YAML_SCALAR_EVENT:
                added = 1
                if let anchor = Self.string(event.data.scalar.anchor) { anchored[anchor] = 1 }
            case YAML_ALIAS_EVENT:
                aliases += 1
                guard aliases <= maximumAliases else {
                    return ConfigError(
                        path: "",
                        message: "more than \(maximumAliases) YAML aliases (*name); an experiment file needs none",
                        line: line)
                }
                // An alias of an unknown anchor is a syntax error the reader reports; count it as one node.
                added = Self.string(event.data.alias.anchor).flatMap { anchored[$0] } ?? 1
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                guard open.count < maximumDepth else {
                    return ConfigError(
                        path: "", message: "lists and maps nested more than \(maximumDepth) deep", line: line)
                }
                let anchor = Self.string(
                    event.type == YAML_SEQUENCE_START_EVENT
                        ? event.data.sequence_start.anchor : event.data.mapping_start.anchor)
                open.append(OpenCollection(anchor: anchor, nodes: 1))
                expanded += 1
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                finished = open.popLast()
            default:
                break
            }
            if added > 0 {
                expanded += added
                if !open.isEmpty { open[open.count - 1].nodes += added }
            }
            if let finished {
                if let anchor = finished.anchor { anchored[anchor] = finished.nodes }
                if !open.isEmpty { open[open.count - 1].nodes += finished.nodes }
            }
            // Every count above is at most `expanded`, which stops here: nothing overflows.
            guard expanded <= maximumNodes else {
                return ConfigError(
                    path: "",
                    message:
                        "the YAML stands for more than \(maximumNodes) values (an alias *name counts as every value of what it names); an experiment file needs far fewer",
                    line: line)
            }
        }
    }

    private static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let pointer else { return nil }
        return String(cString: UnsafePointer(pointer))
    }
}
