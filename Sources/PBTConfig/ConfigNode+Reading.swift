/// Typed reading of a `ConfigNode`, every failure a `ConfigError` naming the field and value.
extension ConfigNode {
    public func error(_ message: String) -> ConfigError {
        ConfigError(path: path, message: message, line: line)
    }

    /// The entries of a map; fails on anything else or on keys outside `allowed`.
    public func map(allowed: [String]? = nil) throws(ConfigError) -> [(key: String, value: ConfigNode)] {
        guard case .map(let entries) = value else { throw error("expected a map of fields, got \(shown)") }
        if let allowed {
            for entry in entries where !allowed.contains(entry.key) {
                throw entry.value.error(
                    "unknown field \(Self.quoted(entry.key)) (known: \(allowed.joined(separator: ", ")))")
            }
        }
        return entries
    }

    /// The child at `key` of a map, or nil.
    public subscript(key: String) -> ConfigNode? {
        guard case .map(let entries) = value else { return nil }
        return entries.first { $0.key == key }?.value
    }

    /// A required child.
    public func require(_ key: String) throws(ConfigError) -> ConfigNode {
        guard let child = self[key] else {
            throw ConfigError(path: Self.path(path, key: key), message: "is required", line: line)
        }
        return child
    }

    public func list() throws(ConfigError) -> [ConfigNode] {
        guard case .list(let items) = value else { throw error("expected a list, got \(shown)") }
        return items
    }

    /// Text, or an unquoted number or boolean as it was written (`010`, `1e3`, `true`).
    public func text() throws(ConfigError) -> String {
        switch value {
        case .text(let x): return x
        case .integer(let x): return written ?? String(x)
        case .real(let x): return written ?? String(x)
        case .bool(let x): return written ?? String(x)
        default: throw error("expected text, got \(shown)")
        }
    }

    public func integer(in range: ClosedRange<Int>? = nil) throws(ConfigError) -> Int {
        let number: Int
        switch value {
        case .integer(let x): number = x
        case .real(let x) where x == x.rounded() && abs(x) < 9e15: number = Int(x)
        case .text(let x) where Self.isDigits(x):
            // Digits YAML could not hold in 64 bits.
            throw error(
                range.map { Self.outside($0, shown) } ?? "must be between \(Int.min) and \(Int.max), got \(shown)")
        default: throw error("expected a whole number, got \(shown)")
        }
        if let range, !range.contains(number) { throw error(Self.outside(range, shown)) }
        return number
    }

    public func real(in range: ClosedRange<Double>? = nil) throws(ConfigError) -> Double {
        let number: Double
        switch value {
        case .integer(let x): number = Double(x)
        case .real(let x) where x.isFinite: number = x
        default: throw error("expected a number, got \(shown)")
        }
        if let range, !range.contains(number) {
            throw error("must be between \(range.lowerBound) and \(range.upperBound), got \(shown)")
        }
        return number
    }

    public func bool() throws(ConfigError) -> Bool {
        guard case .bool(let x) = value else { throw error("expected true or false, got \(shown)") }
        return x
    }

    /// A duration: a number of seconds, or text such as `90s`, `5m`, `2h`, `250ms`.
    public func seconds() throws(ConfigError) -> Double {
        let seconds: Double?
        switch value {
        case .integer(let x): seconds = Double(x)
        case .real(let x): seconds = x
        case .text(let raw):
            let text = raw.trimmingSpaces
            let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
            var parsed: Double?
            for (suffix, scale) in units where text.hasSuffix(suffix) {
                if let number = Double(text.dropLast(suffix.count)) {
                    parsed = number * scale
                    break
                }
            }
            seconds = parsed ?? Double(text)
        default: seconds = nil
        }
        guard let seconds, seconds.isFinite, seconds > 0 else {
            throw error("expected a positive duration such as 30, 90s, 5m or 2h, got \(shown)")
        }
        return seconds
    }

    /// One of `options`.
    public func choice(_ options: [String]) throws(ConfigError) -> String {
        let chosen = try text()
        guard options.contains(chosen) else {
            throw error("must be one of \(options.joined(separator: ", ")), got \(shown)")
        }
        return chosen
    }

    /// Whether `text` is a whole number as written: digits, after an optional sign.
    static func isDigits(_ text: String) -> Bool {
        let digits = text.first == "-" || text.first == "+" ? text.dropFirst() : Substring(text)
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    static func outside(_ range: ClosedRange<Int>, _ shown: String) -> String {
        if range.upperBound == Int.max { return "must be at least \(range.lowerBound), got \(shown)" }
        return "must be between \(range.lowerBound) and \(range.upperBound), got \(shown)"
    }
}

extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while text.first?.isWhitespace == true { text.removeFirst() }
        while text.last?.isWhitespace == true { text.removeLast() }
        return String(text)
    }
}
