import CZlib
import Foundation

/// Everything needed to resume a run or analyse its model.
public struct Checkpoint: Sendable {
    public var configuration: TrainingConfiguration
    /// Optimiser steps completed.
    public var step: Int
    public var parameters: [Float]
    public var optimizer: Adam

    public init(configuration: TrainingConfiguration, step: Int, parameters: [Float],
                optimizer: Adam) {
        self.configuration = configuration
        self.step = step
        self.parameters = parameters
        self.optimizer = optimizer
    }

    public var layout: NetworkLayout { NetworkLayout(configuration.model) }
}

/// A checkpoint file that cannot be read, with the reason.
public struct CheckpointError: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Encoding and decoding of checkpoints, kept in one place so the format can evolve.
///
/// Layout (little-endian): magic "VAEMPICK", UInt32 version, UInt64 header length, the header
/// as JSON (configuration, step, Adam step count), then parameters, Adam first and second
/// moments as Float32 arrays of the layout's parameter count, then the CRC-32 (zlib) of all
/// preceding bytes as UInt32.
public enum CheckpointCodec {
    static let magic = Array("VAEMPICK".utf8)
    static let version: UInt32 = 1

    struct Header: Codable {
        var configuration: TrainingConfiguration
        var step: Int
        var adamStepCount: Int
    }

    public static func encode(_ checkpoint: Checkpoint) throws -> [UInt8] {
        let header = try JSONEncoder().encode(
            Header(configuration: checkpoint.configuration, step: checkpoint.step,
                   adamStepCount: checkpoint.optimizer.stepCount))
        var bytes = magic
        append(&bytes, version)
        append(&bytes, UInt64(header.count))
        bytes += header
        for array in [checkpoint.parameters, checkpoint.optimizer.firstMoment,
                      checkpoint.optimizer.secondMoment] {
            array.withUnsafeBytes { bytes += $0 }
        }
        append(&bytes, crc32(bytes))
        return bytes
    }

    public static func decode(_ bytes: [UInt8]) throws -> Checkpoint {
        guard bytes.count >= magic.count + 16, Array(bytes[0..<magic.count]) == magic else {
            throw CheckpointError("not a vae-mpi checkpoint")
        }
        let stored = read(UInt32.self, bytes, at: bytes.count - 4)
        guard stored == crc32(bytes[0..<(bytes.count - 4)]) else {
            throw CheckpointError("checksum mismatch")
        }
        let version = read(UInt32.self, bytes, at: 8)
        guard version == self.version else { throw CheckpointError("unknown version \(version)") }
        let headerLength = Int(read(UInt64.self, bytes, at: 12))
        let headerStart = 20
        guard headerLength < bytes.count - headerStart else { throw CheckpointError("truncated") }
        let header = try JSONDecoder().decode(
            Header.self, from: Data(bytes[headerStart..<(headerStart + headerLength)]))
        let count = NetworkLayout(header.configuration.model).parameterCount
        let arraysStart = headerStart + headerLength
        guard bytes.count == arraysStart + 3 * count * 4 + 4 else {
            throw CheckpointError("wrong length")
        }
        func floats(_ k: Int) -> [Float] {
            let start = arraysStart + k * count * 4
            return bytes[start..<(start + count * 4)].withUnsafeBytes {
                Array($0.bindMemory(to: Float.self))
            }
        }
        var adam = Adam(configuration: header.configuration.optimizer, parameterCount: count)
        adam.firstMoment = floats(1)
        adam.secondMoment = floats(2)
        adam.stepCount = header.adamStepCount
        return Checkpoint(configuration: header.configuration, step: header.step,
                          parameters: floats(0), optimizer: adam)
    }

    public static func write(_ checkpoint: Checkpoint, to path: String) throws {
        let bytes = try encode(checkpoint)
        try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    public static func read(from path: String) throws -> Checkpoint {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError("\(path): cannot be read")
        }
        return try decode([UInt8](data))
    }

    static func crc32<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        Array(bytes).withUnsafeBufferPointer {
            UInt32(CZlib.crc32(0, $0.baseAddress, uInt($0.count)))
        }
    }

    static func append<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }

    static func read<T: FixedWidthInteger>(_: T.Type, _ bytes: [UInt8], at offset: Int) -> T {
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { v in
            for i in 0..<MemoryLayout<T>.size { v[i] = bytes[offset + i] }
        }
        return T(littleEndian: value)
    }
}
