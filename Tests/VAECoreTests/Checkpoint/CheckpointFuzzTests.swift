import Foundation
import XCTest

@testable import VAECore

/// The reader on random and mutated bytes: it must never trap or hang, only return a checkpoint
/// or throw a `CheckpointError`. A trap would end the test process, so reaching the
/// assertions is itself the "never crashed" result.
final class CheckpointFuzzTests: XCTestCase {
    struct Tally {
        var inputs = 0
        var accepted = 0
        var slowest = 0.0
        var outcomes: [String: Int] = [:]

        mutating func run(_ bytes: [UInt8]) throws {
            inputs += 1
            let start = Stopwatch.now()
            do {
                let checkpoint = try CheckpointCodec.decode(bytes)
                accepted += 1
                // Whatever is accepted must survive its own round trip.
                assertIdentical(
                    try CheckpointCodec.decode(CheckpointCodec.encode(checkpoint)),
                    checkpoint)
            } catch let error as CheckpointError {
                outcomes[caseName(error), default: 0] += 1
                XCTAssertFalse("\(error)".contains("\n"), "a message of two lines: \(error)")
            }
            slowest = max(slowest, Stopwatch.now() - start)
        }
    }

    func testReaderSurvivesRandomAndMutatedBytes() throws {
        var rng = SplitMix64(seed: 0xF022)
        var tally = Tally()
        let valid = HandMadeCheckpoint().bytes()
        let header = HandMadeCheckpoint().headerBytes()

        // Pure noise, some of it behind a valid magic and version.
        for i in 0..<4000 {
            var bytes = (0..<Int.random(in: 0...300, using: &rng)).map { _ in
                UInt8.random(in: 0...255, using: &rng)
            }
            if i % 2 == 0 { bytes = Array(valid.prefix(12)) + bytes }
            try tally.run(bytes)
        }
        // A valid file with 1-4 random byte-level mutations; half the time the checksum is
        // recomputed so that the mutation reaches the structural checks.
        for i in 0..<12000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                mutate(&bytes, &rng)
            }
            try tally.run(i % 2 == 0 ? HandMadeCheckpoint.rechecksummed(bytes) : bytes)
        }
        // The JSON header mutated as text (digits, signs, brackets), lengths and checksum fixed.
        let alphabet = Array("0123456789-+.eE[]{},:\" ".utf8)
        for _ in 0..<8000 {
            var text = header
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let k = Int.random(in: 0..<text.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: text[k] = alphabet.randomElement(using: &rng) ?? 0
                case 1: text.remove(at: k)
                default: text.insert(alphabet.randomElement(using: &rng) ?? 0, at: k)
                }
            }
            var made = HandMadeCheckpoint()
            made.rawHeader = text
            try tally.run(made.bytes())
        }

        print(
            "fuzz: \(tally.inputs) inputs, \(tally.accepted) accepted, none crashed; "
                + "slowest \(String(format: "%.2f", tally.slowest * 1000)) ms; outcomes: "
                + tally.outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                .joined(separator: ", "))
        XCTAssertEqual(tally.inputs, 24000)
        XCTAssertLessThan(tally.slowest, 1.0, "one input took over a second: a hang in the making")
        // The fuzzer must reach deep into the validation, not just bounce off the magic.
        for reached in [
            "empty", "badMagic", "shortPrefix", "unsupportedVersion",
            "headerTooLarge", "truncatedHeader", "malformedHeader", "truncated",
            "trailingBytes", "checksumMismatch", "shapeMismatch", "lengthMismatch",
            "tensorOutOfRange",
        ] {
            XCTAssertNotNil(tally.outcomes[reached], "no input reached \(reached)")
        }
    }

    func mutate(_ bytes: inout [UInt8], _ rng: inout SplitMix64) {
        guard !bytes.isEmpty else { return bytes.append(0) }
        let k = Int.random(in: 0..<bytes.count, using: &rng)
        switch Int.random(in: 0..<7, using: &rng) {
        case 0: bytes[k] ^= 1 << UInt8.random(in: 0...7, using: &rng)
        case 1: bytes[k] = UInt8.random(in: 0...255, using: &rng)
        case 2: bytes.removeSubrange(k...)
        case 3: bytes += (0..<Int.random(in: 1...16, using: &rng)).map { _ in 0 }
        case 4: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: k)
        case 5: bytes.remove(at: k)
        default:
            // A random header length or version: the prefix fields.
            guard bytes.count > 8 else { return }
            let field = Int.random(in: 8..<min(20, bytes.count), using: &rng)
            bytes[field] = UInt8.random(in: 0...255, using: &rng)
        }
    }
}

/// The error's case name (`truncated`, `badMagic`, ...), to count which checks were reached.
func caseName(_ error: CheckpointError) -> String {
    if let label = Mirror(reflecting: error).children.first?.label { return label }
    switch error {
    case .empty: return "empty"
    case .badMagic: return "badMagic"
    case .notRegularFile: return "notRegularFile"
    default: return "\(error)"
    }
}
