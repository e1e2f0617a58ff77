import Foundation

/// Wall-clock laps for the timing split (CLOCK_MONOTONIC, no allocation).
public struct Stopwatch {
    private var last = Stopwatch.now()

    public init() {}

    public static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }

    /// Seconds since the previous lap (or creation).
    public mutating func lap() -> Double {
        let t = Stopwatch.now()
        defer { last = t }
        return t - last
    }
}
