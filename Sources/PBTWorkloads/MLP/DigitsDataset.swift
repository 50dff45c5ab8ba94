import Foundation
import PBTCore

/// The UCI handwritten digits (see topologies/data/README.md), split into training,
/// validation and test sets by a seed, with pixels scaled to [0, 1].
public final class DigitsDataset: Sendable {
    /// One part of the split: `count` rows of `features` values each, and their labels.
    public struct Part: Sendable {
        public let inputs: [Float]
        public let labels: [Int]
        public var count: Int { labels.count }
    }

    public static let features = 64
    public static let classes = 10

    public let train: Part
    public let validation: Part
    public let test: Part

    /// Reads the CSV at `path` (64 pixel values 0–16 and a label 0–9 a line) and splits it.
    public init(path: String, seed: UInt64, validationFraction: Double = 0.2, testFraction: Double = 0.2) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WorkloadError(
                "cannot read the digits data at \(path) (working directory \(FileManager.default.currentDirectoryPath))"
            )
        }
        var rows: [(pixels: [Float], label: Int)] = []
        let text = String(decoding: data, as: UTF8.self)
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let fields = line.split(separator: ",")
            guard fields.count == Self.features + 1 else {
                throw WorkloadError(
                    "\(path) line \(number + 1): expected \(Self.features + 1) values, found \(fields.count)")
            }
            var pixels: [Float] = []
            pixels.reserveCapacity(Self.features)
            for field in fields.prefix(Self.features) {
                guard let value = Float(field.trimmingCharacters(in: .whitespaces)), value >= 0, value <= 16 else {
                    throw WorkloadError("\(path) line \(number + 1): pixel '\(field)' is not a number from 0 to 16")
                }
                pixels.append(value / 16)
            }
            guard let label = Int(fields[Self.features].trimmingCharacters(in: .whitespacesAndNewlines)),
                (0..<Self.classes).contains(label)
            else {
                throw WorkloadError("\(path) line \(number + 1): label '\(fields[Self.features])' is not a digit")
            }
            rows.append((pixels, label))
        }
        guard rows.count >= 50 else { throw WorkloadError("\(path) has \(rows.count) rows; too few to split") }
        var random = SplitMix64(seed: SplitMix64.derive(seed, 0x6469_6769_7473))  // "digits"
        rows.shuffle(using: &random)
        let validationCount = Int(Double(rows.count) * validationFraction)
        let testCount = Int(Double(rows.count) * testFraction)
        let trainCount = rows.count - validationCount - testCount
        func part(_ slice: ArraySlice<(pixels: [Float], label: Int)>) -> Part {
            Part(inputs: slice.flatMap(\.pixels), labels: slice.map(\.label))
        }
        train = part(rows[0..<trainCount])
        validation = part(rows[trainCount..<(trainCount + validationCount)])
        test = part(rows[(trainCount + validationCount)...])
    }
}
