import PBTCore

/// Values and field paths as error messages show them: never more than a short prefix of what
/// the file holds, however long a value is or however deep it sits.
extension ConfigNode {
    /// Characters of a value an error message quotes before it stops with "…".
    public static let shownCharacters = 80

    /// The value as it appeared, for error messages, cut after `shownCharacters` characters.
    public var shown: String {
        var text = ""
        render(into: &text, budget: Self.shownCharacters + 1)
        return Self.capped(text)
    }

    /// Writes the value into `text` until `text` has at least `budget` characters.
    private func render(into text: inout String, budget: Int) {
        guard text.count < budget else { return }
        switch value {
        case .null: text += "null"
        case .bool(let x): text += String(x)
        case .integer(let x): text += String(x)
        case .real(let x): text += String(x)
        case .text(let x): text += "'" + Self.capped(x, to: budget) + "'"
        case .list(let items):
            text += "["
            for (index, item) in items.enumerated() {
                if text.count >= budget { return }
                if index > 0 { text += ", " }
                item.render(into: &text, budget: budget)
            }
            text += "]"
        case .map(let entries):
            text += "{"
            for (index, entry) in entries.enumerated() {
                if text.count >= budget { return }
                if index > 0 { text += ", " }
                text += Self.capped(entry.key, to: budget) + ": "
                entry.value.render(into: &text, budget: budget)
            }
            text += "}"
        }
    }

    /// `text` in single quotes, cut like `shown`.
    public static func quoted(_ text: String) -> String {
        "'" + capped(text) + "'"
    }

    /// The first `characters` characters of `text`, and "…" when there was more; control
    /// characters (an escape sequence, a bell, NUL) written as `\u{1B}`, so that a message
    /// cannot drive the terminal it is printed on.
    public static func capped(_ text: String, to characters: Int = shownCharacters) -> String {
        // Counting UTF-8 bytes is constant time; characters are at most as many.
        guard text.utf8.count > characters else { return ControlCharacters.escaped(text) }
        let prefix = text.prefix(characters)
        return prefix.endIndex == text.endIndex
            ? ControlCharacters.escaped(text) : ControlCharacters.escaped(String(prefix)) + "…"
    }

    /// Every line of `text` cut like `shown` (for messages of the YAML reader, which quote
    /// the line they stopped at).
    static func capped(lines text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).prefix(20).map {
            capped(String($0), to: 2 * shownCharacters)
        }
        .joined(separator: "\n")
    }

    /// The path of the child `key` of the value at `path`, such as `exploit.fraction`. Long
    /// keys and deep paths are cut, so that a node's path stays short whatever the file holds.
    static func path(_ path: String, key: String) -> String {
        shortened(path.isEmpty ? capped(key) : "\(path).\(capped(key))")
    }

    /// The path of item `index` of the list at `path`, such as `initial[1]`.
    static func path(_ path: String, index: Int) -> String {
        shortened("\(path)[\(index)]")
    }

    /// A path of at most about 200 characters: its start and its end, which names the field.
    private static func shortened(_ path: String) -> String {
        guard path.utf8.count > 200, path.count > 200 else { return path }
        return path.prefix(60) + "…" + path.suffix(120)
    }
}
