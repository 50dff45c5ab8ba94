/// Members ranked by fitness, best first, with insert, remove, rank and select in O(log n):
/// a treap whose nodes live in flat arrays (no allocation per node beyond the arrays' growth).
///
/// Truncation selection asks "where does this member rank?" and "who is at rank r?" on every
/// decision; with a sorted array the insert alone is O(n), which a population of 100,000
/// would feel on every step.
public struct RankedSet: Sendable {
    private var standings: [Standing] = []
    private var priorities: [UInt64] = []
    private var left: [Int32] = []
    private var right: [Int32] = []
    private var sizes: [Int32] = []
    private var free: [Int32] = []
    private var root: Int32 = -1

    public init() {}

    /// How many members it holds.
    public var count: Int { root < 0 ? 0 : Int(sizes[Int(root)]) }

    public var isEmpty: Bool { root < 0 }

    /// Inserts `standing` (which must not be in the set already).
    public mutating func insert(_ standing: Standing) {
        let node = allocate(standing)
        let (low, high) = split(root, before: standing)
        root = merge(merge(low, node), high)
    }

    /// Removes `standing`; returns whether it was there.
    @discardableResult
    public mutating func remove(_ standing: Standing) -> Bool {
        let (low, rest) = split(root, before: standing)
        // `rest` starts with `standing` if present: split off its first element.
        let (first, high) = splitFirst(rest)
        if first >= 0 && standings[Int(first)] == standing {
            release(first)
            root = merge(low, high)
            return true
        }
        root = merge(low, merge(first, high))
        return false
    }

    /// The rank of `standing` (0 is the best), or nil when it is not in the set.
    public func rank(of standing: Standing) -> Int? {
        var node = root
        var rank = 0
        while node >= 0 {
            let index = Int(node)
            if standings[index] == standing { return rank + size(left[index]) }
            if Standing.ranksBefore(standing, standings[index]) {
                node = left[index]
            } else {
                rank += size(left[index]) + 1
                node = right[index]
            }
        }
        return nil
    }

    /// The member at `rank` (0 is the best).
    public func element(at rank: Int) -> Standing {
        precondition(rank >= 0 && rank < count, "rank \(rank) outside 0..<\(count)")
        var node = root
        var remaining = rank
        while true {
            let index = Int(node)
            let leftSize = size(left[index])
            if remaining < leftSize {
                node = left[index]
            } else if remaining == leftSize {
                return standings[index]
            } else {
                remaining -= leftSize + 1
                node = right[index]
            }
        }
    }

    /// Every member, best first.
    public var ordered: [Standing] {
        var result: [Standing] = []
        result.reserveCapacity(count)
        var stack: [Int32] = []
        var node = root
        while node >= 0 || !stack.isEmpty {
            while node >= 0 {
                stack.append(node)
                node = left[Int(node)]
            }
            let top = stack.removeLast()
            result.append(standings[Int(top)])
            node = right[Int(top)]
        }
        return result
    }

    // MARK: Treap machinery

    private func size(_ node: Int32) -> Int { node < 0 ? 0 : Int(sizes[Int(node)]) }

    private mutating func update(_ node: Int32) {
        let index = Int(node)
        sizes[index] = Int32(1 + size(left[index]) + size(right[index]))
    }

    private mutating func allocate(_ standing: Standing) -> Int32 {
        // A priority drawn from the member and fitness: deterministic, and balanced in expectation.
        let priority = SplitMix64.mix(
            UInt64(bitPattern: Int64(standing.member)) &+ standing.fitness.bitPattern &* 0x9E37_79B9_7F4A_7C15)
        if let node = free.popLast() {
            let index = Int(node)
            standings[index] = standing
            priorities[index] = priority
            left[index] = -1
            right[index] = -1
            sizes[index] = 1
            return node
        }
        standings.append(standing)
        priorities.append(priority)
        left.append(-1)
        right.append(-1)
        sizes.append(1)
        return Int32(standings.count - 1)
    }

    private mutating func release(_ node: Int32) {
        free.append(node)
    }

    /// Splits into (ranking before `standing`, the rest).
    private mutating func split(_ node: Int32, before standing: Standing) -> (Int32, Int32) {
        guard node >= 0 else { return (-1, -1) }
        let index = Int(node)
        if Standing.ranksBefore(standings[index], standing) {
            let (low, high) = split(right[index], before: standing)
            right[index] = low
            update(node)
            return (node, high)
        } else {
            let (low, high) = split(left[index], before: standing)
            left[index] = high
            update(node)
            return (low, node)
        }
    }

    /// Splits off the first (best) element.
    private mutating func splitFirst(_ node: Int32) -> (Int32, Int32) {
        guard node >= 0 else { return (-1, -1) }
        let index = Int(node)
        if left[index] < 0 {
            let rest = right[index]
            right[index] = -1
            update(node)
            return (node, rest)
        }
        let (first, rest) = splitFirst(left[index])
        left[index] = rest
        update(node)
        return (first, node)
    }

    private mutating func merge(_ a: Int32, _ b: Int32) -> Int32 {
        if a < 0 { return b }
        if b < 0 { return a }
        if priorities[Int(a)] > priorities[Int(b)] {
            right[Int(a)] = merge(right[Int(a)], b)
            update(a)
            return a
        } else {
            left[Int(b)] = merge(a, left[Int(b)])
            update(b)
            return b
        }
    }
}

/// A ranking exploit strategies decide on: members best first, with the rank of a member
/// and the member at a rank.
public protocol Cohort {
    var count: Int { get }
    /// The rank of `member` (0 is the best), or nil when it has no score here.
    func rank(of member: Int) -> Int?
    /// The standing at `rank`.
    func standing(at rank: Int) -> Standing
}

extension Cohort {
    /// The ranks of the members whose fitness equals that of the member at `rank`: a
    /// contiguous range, since a cohort is ordered by fitness. O(log n) lookups.
    public func ranksTied(with rank: Int) -> ClosedRange<Int> {
        let fitness = standing(at: rank).fitness
        // The first rank whose fitness is not above `fitness`, and the last not below it.
        var low = 0
        var high = rank
        while low < high {
            let middle = (low + high) / 2
            if standing(at: middle).fitness > fitness { low = middle + 1 } else { high = middle }
        }
        let first = low
        low = rank
        high = count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if standing(at: middle).fitness < fitness { high = middle - 1 } else { low = middle }
        }
        return first...low
    }
}

/// A plain array, best first, as a cohort (linear lookups; for tests and small cases).
extension Array: Cohort where Element == Standing {
    public func rank(of member: Int) -> Int? { firstIndex { $0.member == member } }
    public func standing(at rank: Int) -> Standing { self[rank] }
}
