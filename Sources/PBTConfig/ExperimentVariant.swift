import Yams

/// Derives experiment files from another: fields set or removed, the rest kept. The bench
/// commands use it to run a shipped experiment under other seeds, budgets and strategies.
public enum ExperimentVariant {
    /// A change to one top-level field (`stop.total_steps` style paths reach one level down).
    public enum Change: Sendable {
        /// Set the field at `path` to `yaml` (any YAML value, e.g. `{strategy: none}` or `3`).
        case set(String, yaml: String)
        /// Remove the field at `path` (a top-level field, or one a level down: `exploit.fraction`).
        case remove(String)

        /// The field it changes.
        public var path: String {
            switch self {
            case .set(let path, _), .remove(let path): path
            }
        }
    }

    /// Applies `changes` to the experiment file text `base` and returns the new text.
    public static func make(from base: String, _ changes: [Change]) throws(ConfigError) -> String {
        try YAMLLimits.experimentFile.check(base)
        do {
            guard var root = try Yams.compose(yaml: base), case .mapping = root else {
                throw ConfigError(path: "", message: "the base experiment is not a map")
            }
            for change in changes {
                let path = change.path
                let keys = path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                guard (1...2).contains(keys.count), keys.allSatisfy({ !$0.isEmpty }) else {
                    throw ConfigError(path: path, message: "a variant changes a field or a field one level down")
                }
                switch change {
                case .set(_, let yaml):
                    guard let value = try Yams.compose(yaml: yaml) else {
                        throw ConfigError(path: path, message: "empty value")
                    }
                    if keys.count == 1 {
                        root[keys[0]] = value
                    } else {
                        var parent = root[keys[0]] ?? Node([(Node, Node)]())
                        parent[keys[1]] = value
                        root[keys[0]] = parent
                    }
                case .remove:
                    if keys.count == 1 {
                        root = removing(keys[0], from: root)
                    } else if let parent = root[keys[0]] {
                        root[keys[0]] = removing(keys[1], from: parent)
                    }
                }
            }
            return try Yams.serialize(node: root)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(path: "", message: "cannot derive an experiment: \(error)")
        }
    }

    /// `node` without its field `key` (unchanged if it is not a map).
    static func removing(_ key: String, from node: Node) -> Node {
        guard case .mapping(let mapping) = node else { return node }
        return .mapping(Node.Mapping(mapping.filter { $0.key.string != key }, mapping.tag, mapping.style))
    }
}
