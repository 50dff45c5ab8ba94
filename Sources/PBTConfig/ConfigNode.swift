import Yams

/// A value read from an experiment file, with the line it came from for error messages.
public struct ConfigNode: Sendable, Hashable {
    public enum Value: Sendable, Hashable {
        case null
        case bool(Bool)
        case integer(Int)
        case real(Double)
        case text(String)
        case list([ConfigNode])
        /// Keys in file order.
        case map([(key: String, value: ConfigNode)])

        public static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.null, .null): true
            case (.bool(let x), .bool(let y)): x == y
            case (.integer(let x), .integer(let y)): x == y
            case (.real(let x), .real(let y)): x == y
            case (.text(let x), .text(let y)): x == y
            case (.list(let x), .list(let y)): x == y
            case (.map(let x), .map(let y)): x.map(\.key) == y.map(\.key) && x.map(\.value) == y.map(\.value)
            default: false
            }
        }

        public func hash(into hasher: inout Hasher) {
            switch self {
            case .null: hasher.combine(0)
            case .bool(let x): hasher.combine(x)
            case .integer(let x): hasher.combine(x)
            case .real(let x): hasher.combine(x)
            case .text(let x): hasher.combine(x)
            case .list(let x): hasher.combine(x)
            case .map(let x):
                for entry in x {
                    hasher.combine(entry.key)
                    hasher.combine(entry.value)
                }
            }
        }
    }

    public let value: Value
    /// Line in the file, counting from 1, when known.
    public let line: Int?
    /// Where the value sits in the file, such as `exploit.fraction` or `initial[1].h0`.
    public let path: String
    /// An unquoted scalar as written, when YAML read it as a number or a boolean: where text
    /// is wanted (a name, a command's argument) it is taken as written, so `010` stays `010`
    /// rather than becoming `10`, and `1e3` stays `1e3` rather than `1000.0`.
    public let written: String?

    public init(value: Value, line: Int? = nil, path: String, written: String? = nil) {
        self.value = value
        self.line = line
        self.path = path
        self.written = written
    }

    /// Parses YAML text. An empty document is an empty map. The text must stay within
    /// `limits` (checked before a tree is built, so that aliases cannot multiply it).
    public static func parse(yaml text: String, limits: YAMLLimits = .experimentFile) throws(ConfigError) -> ConfigNode
    {
        try limits.check(text)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch YamlError.duplicatedKeysInMapping(let duplicates, let context) {
            // The YAML library refuses a repeated key before we see the tree: name the key
            // and the line of the map that repeats it.
            throw ConfigError(
                path: duplicates.first ?? "", message: "\(quoted(duplicates.first ?? "?")) appears twice",
                line: context.mark.line)
        } catch {
            throw ConfigError(path: "", message: "not valid YAML: \(capped(lines: "\(error)"))")
        }
        guard let root else { return ConfigNode(value: .map([]), line: 1, path: "") }
        return try convert(root, path: "")
    }

    /// The first control character of `text` other than a tab or a line break, as `U+001B`:
    /// names, labels and paths end up on terminals and in files, where one can do harm.
    static func controlCharacter(in text: String) -> String? {
        guard
            let scalar = text.unicodeScalars.first(where: {
                $0.properties.generalCategory == .control && !["\t", "\n", "\r"].contains($0)
            })
        else { return nil }
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// An unquoted scalar's value, as YAML 1.2 reads it where YAML 1.1 (the library's)
    /// differs: only `true` and `false` are booleans (`yes`, `no`, `on`, `off` are text), and
    /// a number with leading zeros is decimal (`010` is ten, not eight).
    static func plainScalar(_ text: String, tag: String, node: Node) -> Value {
        switch tag {
        case Tag.Name.null.rawValue:
            return .null
        case Tag.Name.bool.rawValue:
            guard ["true", "false"].contains(text.lowercased()), let bool = node.bool else { return .text(text) }
            return .bool(bool)
        case Tag.Name.int.rawValue:
            // Plain digits are decimal whatever zeros lead them (Int reads a sign too).
            if isDigits(text) { return Int(text).map(Value.integer) ?? .text(text) }
            return node.int.map(Value.integer) ?? .text(text)
        case Tag.Name.float.rawValue:
            return node.float.map(Value.real) ?? .text(text)
        default:
            return .text(text)
        }
    }

    private static func convert(_ node: Node, path: String) throws(ConfigError) -> ConfigNode {
        let line = node.mark?.line
        switch node {
        case .scalar(let scalar):
            let value: Value
            if scalar.style == .singleQuoted || scalar.style == .doubleQuoted {
                value = .text(scalar.string)
            } else {
                value = Self.plainScalar(scalar.string, tag: node.tag.description, node: node)
            }
            let written: String? =
                switch value {
                case .integer, .real, .bool: scalar.string
                default: nil
                }
            if case .text(let text) = value, let control = Self.controlCharacter(in: text) {
                throw ConfigError(
                    path: path, message: "holds a control character (\(control)): \(ConfigNode.quoted(text))",
                    line: line)
            }
            return ConfigNode(value: value, line: line, path: path, written: written)
        case .sequence(let sequence):
            var items: [ConfigNode] = []
            for (index, item) in sequence.enumerated() {
                items.append(try convert(item, path: Self.path(path, index: index)))
            }
            return ConfigNode(value: .list(items), line: line, path: path)
        case .mapping(let mapping):
            var entries: [(key: String, value: ConfigNode)] = []
            var keys: Set<String> = []
            var merged: [Node] = []
            for (keyNode, valueNode) in mapping {
                guard case .scalar(let keyScalar) = keyNode else {
                    throw ConfigError(path: path, message: "keys must be plain names", line: keyNode.mark?.line)
                }
                let key = keyScalar.string
                if let control = Self.controlCharacter(in: key) {
                    throw ConfigError(
                        path: path, message: "a key holds a control character (\(control)): \(ConfigNode.quoted(key))",
                        line: keyNode.mark?.line)
                }
                // YAML's merge key (`<<: *defaults`, or a list of them): the named maps' entries
                // join this one's, which win.
                if key == "<<", keyScalar.style == .plain {
                    switch valueNode {
                    case .mapping: merged.append(valueNode)
                    case .sequence(let sequence)
                    where sequence.allSatisfy({ if case .mapping = $0 { true } else { false } }):
                        merged += Array(sequence)
                    default:
                        throw ConfigError(
                            path: Self.path(path, key: key), message: "a merge (<<) takes a map or a list of maps",
                            line: keyNode.mark?.line)
                    }
                    continue
                }
                let childPath = Self.path(path, key: key)
                guard keys.insert(key).inserted else {
                    throw ConfigError(path: childPath, message: "appears twice", line: keyNode.mark?.line)
                }
                entries.append((key, try convert(valueNode, path: childPath)))
            }
            // The first map a merge names wins over the later ones, as YAML's merge key says.
            for source in merged {
                guard case .mapping(let sourceMapping) = source else { continue }
                let converted = try convert(.mapping(sourceMapping), path: path)
                guard case .map(let sourceEntries) = converted.value else { continue }
                for entry in sourceEntries where keys.insert(entry.key).inserted {
                    entries.append(entry)
                }
            }
            return ConfigNode(value: .map(entries), line: line, path: path)
        case .alias:
            throw ConfigError(path: path, message: "YAML aliases are not supported", line: line)
        }
    }
}
