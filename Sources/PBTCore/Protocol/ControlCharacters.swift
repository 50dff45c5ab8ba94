/// Control characters in text that reaches a terminal or a file from outside (an experiment
/// file, the event stream): shown as `\u{1B}`, never passed on, so that an escape sequence in a
/// name cannot drive the terminal that prints it.
public enum ControlCharacters {
    /// `text` with its control characters written as `\u{HEX}`.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return text }
        var escaped = ""
        for scalar in text.unicodeScalars {
            if scalar.properties.generalCategory == .control {
                escaped += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else {
                escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }
}
