import Foundation

/// How numbers are shown in the monitor, the report and replay files.
public enum NumberFormat {
    /// Four significant digits, integers as integers: `0.01234`, `1.197`, `200`.
    public static func compact(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        if value == value.rounded() && abs(value) < 1e9 { return String(Int(value)) }
        return String(format: "%.4g", value)
    }

    /// A score: four decimals; past ±1e9 (a run that diverged), four significant digits with
    /// an exponent, so that a table column is not 300 digits wide.
    public static func score(_ value: Double?) -> String {
        guard let value else { return "-" }
        guard value.isFinite else { return compact(value) }
        if abs(value) >= 1e9 { return String(format: "%.4g", value) }
        return String(format: "%.4f", value)
    }

    /// Seconds as `850 ms`, `12.3 s`, `4m05s`, `2h03m`.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0, seconds < 1e15 else { return "-" }
        if seconds < 1 { return String(format: "%.0f ms", seconds * 1000) }
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        let whole = Int(seconds)
        if whole < 3600 { return String(format: "%dm%02ds", whole / 60, whole % 60) }
        return String(format: "%dh%02dm", whole / 3600, (whole % 3600) / 60)
    }

    /// The shortest text that reads back as the same `Double` (for files that must be exact).
    public static func exact(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) + ".0" }
        return "\(value)"
    }
}
