#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// ANSI terminal control for the monitor: the alternate screen, frames drawn in place, the size.
enum Terminal {
    static let enterAlternateScreen = "\u{1B}[?1049h\u{1B}[?25l\u{1B}[H\u{1B}[2J"
    static let leaveAlternateScreen = "\u{1B}[?25h\u{1B}[?1049l"

    /// A frame drawn over the previous one: home, each line cleared to its end, the rest cleared.
    static func frame(_ lines: [String]) -> String {
        "\u{1B}[H" + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\r\n") + "\u{1B}[J"
    }

    /// The terminal's columns and rows (standard output's), or the environment's, or 100 × 40.
    static func size() -> (width: Int, height: Int) {
        var window = winsize()
        if ioctl(1, UInt(TIOCGWINSZ), &window) == 0, window.ws_col > 0, window.ws_row > 0 {
            return (Int(window.ws_col), Int(window.ws_row))
        }
        let columns = getenv("COLUMNS").flatMap { Int(String(cString: $0)) } ?? 100
        let lines = getenv("LINES").flatMap { Int(String(cString: $0)) } ?? 40
        return (columns, lines)
    }
}
