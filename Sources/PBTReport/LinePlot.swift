import Foundation
import PBTMonitor

/// One member's line in a plot: solid runs of points, dashed jumps between them (an exploit),
/// and markers with a tooltip.
struct PlotSeries {
    struct Jump {
        var from: (x: Double, y: Double)
        var to: (x: Double, y: Double)
        var title: String
    }

    var member: Int
    var color: String
    /// Solid polylines, each a run of points.
    var runs: [[(x: Double, y: Double)]] = []
    var jumps: [Jump] = []
    /// Points drawn as dots (scores), with a tooltip.
    var dots: [(x: Double, y: Double, title: String)] = []
    var strokeWidth = 1.6
    var cssClass = "series"
}

/// A plot of values against steps as inline SVG: axes with round ticks, a log or categorical
/// value axis when asked, one series a member, an optional highlighted path on top.
///
///     value ┤        ╭──────╮╌╌╌▲ exploit
///           ┤  ╭─────╯      ╰────
///           └┬──────┬──────┬──── step
struct LinePlot {
    var id: String
    var title: String
    var yLabel: String
    var xLabel = "step"
    var width = 960.0
    var height = 360.0
    var yLog = false
    /// Names of a categorical value axis (values are indices into it).
    var categories: [String]?
    var series: [PlotSeries] = []
    var highlight: PlotSeries?
    /// Fixed axis ranges (default: the data's); what falls outside is clipped.
    var xRange: ClosedRange<Double>?
    var yRange: ClosedRange<Double>?

    let left = 78.0, right = 18.0, top = 16.0, bottom = 44.0

    func svg() -> String {
        let all = (series + (highlight.map { [$0] } ?? [])).flatMap { s in
            s.runs.flatMap { $0 } + s.jumps.flatMap { [$0.from, $0.to] } + s.dots.map { ($0.x, $0.y) }
        }
        let xs = all.map(\.x)
        let ys = all.map(\.y).filter { yLog ? $0 > 0 : $0.isFinite }
        let xScale = Scale(
            lo: xRange?.lowerBound ?? xs.min() ?? 0, hi: xRange?.upperBound ?? xs.max() ?? 1, log: false, pad: 0,
            from: left, to: width - right)
        let yScale: Scale
        if let categories {
            yScale = Scale(
                lo: -0.5, hi: Double(categories.count) - 0.5, log: false, pad: 0, from: height - bottom, to: top)
        } else {
            yScale = Scale(
                lo: yRange?.lowerBound ?? ys.min() ?? 0, hi: yRange?.upperBound ?? ys.max() ?? 1, log: yLog, pad: 0.05,
                from: height - bottom, to: top)
        }
        // The id goes into attributes and url(#…) references: only characters that need no
        // escaping anywhere (a hyperparameter's name can hold any).
        let id = HTML.identifier(id)
        var out =
            "<svg id=\"\(id)\" class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(n(width)) \(n(height))\" width=\"\(n(width))\" height=\"\(n(height))\" role=\"img\" aria-label=\"\(HTML.escape(title))\">"
        out += "<title>\(HTML.escape(title))</title>"
        out +=
            "<defs><clipPath id=\"\(id)-area\"><rect x=\"\(n(left - 5))\" y=\"\(n(top - 5))\" width=\"\(n(width - left - right + 10))\" height=\"\(n(height - top - bottom + 10))\"/></clipPath></defs>"
        out +=
            "<rect x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(width - left - right))\" height=\"\(n(height - top - bottom))\" class=\"frame\"/>"
        // Grid and ticks.
        for tick in xScale.ticks() {
            let x = xScale.position(tick.value)
            out += "<line x1=\"\(n(x))\" y1=\"\(n(top))\" x2=\"\(n(x))\" y2=\"\(n(height - bottom))\" class=\"grid\"/>"
            out +=
                "<text x=\"\(n(x))\" y=\"\(n(height - bottom + 16))\" class=\"tick\" text-anchor=\"middle\">\(tick.label)</text>"
        }
        let yTicks =
            categories.map { names in
                names.enumerated().map { (value: Double($0.offset), label: HTML.escape($0.element)) }
            } ?? yScale.ticks()
        for tick in yTicks {
            let y = yScale.position(tick.value)
            out += "<line x1=\"\(n(left))\" y1=\"\(n(y))\" x2=\"\(n(width - right))\" y2=\"\(n(y))\" class=\"grid\"/>"
            out +=
                "<text x=\"\(n(left - 6))\" y=\"\(n(y + 4))\" class=\"tick\" text-anchor=\"end\">\(tick.label)</text>"
        }
        out +=
            "<text x=\"\(n((left + width - right) / 2))\" y=\"\(n(height - 6))\" class=\"axis\" text-anchor=\"middle\">\(HTML.escape(xLabel))</text>"
        out +=
            "<text x=\"14\" y=\"\(n((top + height - bottom) / 2))\" class=\"axis\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(n((top + height - bottom) / 2)))\">\(HTML.escape(yLabel + (yLog ? " (log scale)" : "")))</text>"
        out += "<g clip-path=\"url(#\(id)-area)\">"
        for s in series + (highlight.map { [$0] } ?? []) {
            out += draw(s, xScale, yScale)
        }
        out += "</g>"
        out += "</svg>"
        return out
    }

    func draw(_ s: PlotSeries, _ xScale: Scale, _ yScale: Scale) -> String {
        let points = s.runs.reduce(0) { $0 + $1.count }
        var out =
            "<g class=\"\(s.cssClass)\" data-member=\"\(s.member)\" data-points=\"\(points)\" data-jumps=\"\(s.jumps.count)\" stroke=\"\(s.color)\" fill=\"\(s.color)\">"
        for run in s.runs where !run.isEmpty {
            let coordinates = run.compactMap { p -> String? in
                guard p.y.isFinite, !yLog || p.y > 0 else { return nil }
                return "\(n(xScale.position(p.x))),\(n(yScale.position(p.y)))"
            }
            out +=
                "<polyline fill=\"none\" stroke-width=\"\(n(s.strokeWidth))\" points=\"\(coordinates.joined(separator: " "))\"/>"
        }
        for jump in s.jumps {
            guard jump.from.y.isFinite, jump.to.y.isFinite, !yLog || (jump.from.y > 0 && jump.to.y > 0) else {
                continue
            }
            let (x1, y1) = (xScale.position(jump.from.x), yScale.position(jump.from.y))
            let (x2, y2) = (xScale.position(jump.to.x), yScale.position(jump.to.y))
            out += "<g class=\"jump\"><title>\(HTML.escape(jump.title))</title>"
            out +=
                "<line x1=\"\(n(x1))\" y1=\"\(n(y1))\" x2=\"\(n(x2))\" y2=\"\(n(y2))\" stroke-dasharray=\"3 3\" stroke-width=\"1.2\"/>"
            out +=
                "<path d=\"M\(n(x2 - 4)),\(n(y2 + 3.5)) L\(n(x2 + 4)),\(n(y2 + 3.5)) L\(n(x2)),\(n(y2 - 4.5)) Z\" stroke=\"none\"/></g>"
        }
        for dot in s.dots where dot.y.isFinite && (!yLog || dot.y > 0) {
            out +=
                "<circle cx=\"\(n(xScale.position(dot.x)))\" cy=\"\(n(yScale.position(dot.y)))\" r=\"1.8\" stroke=\"none\"><title>\(HTML.escape(dot.title))</title></circle>"
        }
        return out + "</g>"
    }

    /// Two decimals at most: keeps the SVG small.
    func n(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        return rounded == rounded.rounded() && abs(rounded) < 1e15 ? String(Int(rounded)) : String(rounded)
    }
}

/// A linear or logarithmic map from values to pixels, with round ticks.
struct Scale {
    var lo: Double
    var hi: Double
    let log: Bool
    let from: Double
    let to: Double

    init(lo: Double, hi: Double, log: Bool, pad: Double, from: Double, to: Double) {
        self.log = log
        self.from = from
        self.to = to
        var a = log ? Foundation.log10(max(lo, 1e-300)) : lo
        var b = log ? Foundation.log10(max(hi, 1e-300)) : hi
        if !(a.isFinite && b.isFinite) { (a, b) = (0, 1) }
        if a == b {
            let spread = a == 0 ? 1 : abs(a) * 0.1
            (a, b) = (a - spread, b + spread)
        }
        let margin = (b - a) * pad
        self.lo = a - margin
        self.hi = b + margin
    }

    func position(_ value: Double) -> Double {
        let v = log ? Foundation.log10(max(value, 1e-300)) : value
        return from + (v - lo) / (hi - lo) * (to - from)
    }

    /// About five round ticks inside the range.
    func ticks() -> [(value: Double, label: String)] {
        if log {
            let first = Int(lo.rounded(.up)), last = Int(hi.rounded(.down))
            var decades = Array(first...max(first, last)).filter { Double($0) >= lo && Double($0) <= hi }
            if decades.count > 8 { decades = decades.enumerated().filter { $0.offset % 2 == 0 }.map(\.element) }
            var ticks = decades.map { (value: Foundation.pow(10, Double($0)), label: "1e\($0)") }
            if ticks.count < 2 {
                // Less than a decade: plain round numbers of the values.
                ticks = Scale(
                    lo: Foundation.pow(10, lo), hi: Foundation.pow(10, hi), log: false, pad: 0, from: 0, to: 1
                ).ticks()
            }
            return ticks
        }
        let span = hi - lo
        let rough = span / 5
        let magnitude = Foundation.pow(10, Foundation.floor(Foundation.log10(rough)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? magnitude * 10
        var value = (lo / step).rounded(.up) * step
        var ticks: [(Double, String)] = []
        while value <= hi + step * 1e-9 {
            ticks.append((value, NumberFormat.compact(abs(value) < step * 1e-9 ? 0 : value)))
            value += step
        }
        return ticks
    }
}

/// Escaping for HTML text and attributes.
enum HTML {
    /// `text` as an element id: letters, digits, `-` and `_` kept; anything else makes it
    /// `_` and a hash of the whole text follows, so that two names stay two ids.
    static func identifier(_ text: String) -> String {
        let kept = String(
            text.unicodeScalars.map { scalar -> Character in
                scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || scalar == "-" || scalar == "_")
                    ? Character(scalar) : "_"
            })
        guard kept != text else { return text }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return kept + "-" + String(hash, radix: 36)
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
