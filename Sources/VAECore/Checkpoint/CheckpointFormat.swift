import CZlib
import Foundation

/// Encoding of checkpoints, version 2; docs/checkpoint-format.md is the specification.
///
///     offset 0        magic "VAEMPICK"
///     offset 8        UInt32 LE  format version (2)
///     offset 12       UInt64 LE  header length H (at most `maximumHeaderLength`)
///     offset 20       H bytes    UTF-8 JSON header: configuration, state, tensor table
///     offset 20+H     D bytes    tensors, float32 little-endian, back to back
///     offset 20+H+D   UInt32 LE  CRC-32 (zlib) of bytes [0, 20+H+D)
///
/// The tensor table names every tensor with its dtype, shape, byte offset and length, so a reader
/// in another language needs no knowledge of the network's layout rules.
public enum CheckpointCodec {
    public static let magic: [UInt8] = Array("VAEMPICK".utf8)
    public static let version: UInt32 = 2
    /// Magic, version and header length.
    public static let prefixLength = 20
    /// A hard cap, so a corrupt length cannot make a reader allocate or scan gigabytes. A real
    /// header is a few kilobytes.
    public static let maximumHeaderLength = 1 << 20
    /// A bound on `model.hidden.count`, far above any real model, so that a reader's work is
    /// bounded too.
    public static let maximumHiddenLayers = 1024
    /// The data section starts at a multiple of this (the header is padded with spaces), so
    /// readers may map the tensors in place.
    static let dataAlignment = 8

    /// The three groups of tensors, in storage order.
    static let groups = ["parameters", "adam_m", "adam_v"]

    /// The JSON header.
    struct Header: Codable {
        var configuration: TrainingConfiguration
        var state: State
        var tensors: [TensorEntry]
    }

    /// Where training stands.
    struct State: Codable, Equatable {
        /// Optimiser steps completed.
        var step: Int
        /// step / stepsPerEpoch: the epoch the next step belongs to.
        var epoch: Int
        /// Adam's t.
        var adamStepCount: Int

        enum CodingKeys: String, CodingKey {
            case step, epoch
            case adamStepCount = "adam_step_count"
        }
    }

    /// One row of the tensor table; offsets are relative to the start of the data section.
    struct TensorEntry: Codable, Equatable {
        var name: String
        var dtype: String
        var shape: [Int]
        var offset: Int
        var length: Int
    }

    /// The tensor table a checkpoint of `layout` must carry: every weight and bias of the
    /// parameters, then of Adam's first moment, then of its second moment.
    static func tensorTable(for layout: NetworkLayout) -> [TensorEntry] {
        let floatSize = MemoryLayout<Float>.size
        return groups.enumerated().flatMap { (g, group) in
            layout.tensors.map { t in
                TensorEntry(
                    name: group + "/" + t.name, dtype: "F32", shape: t.shape,
                    offset: (g * layout.parameterCount + t.offset) * floatSize,
                    length: t.count * floatSize)
            }
        }
    }

    /// The checkpoint's bytes, ready to write.
    ///
    /// Deterministic: equal checkpoints give equal bytes (sorted JSON keys, no timestamps).
    /// - Throws: `EncodingError` only for a non-finite number in the configuration.
    public static func encode(_ checkpoint: Checkpoint) throws -> [UInt8] {
        let layout = checkpoint.layout
        let count = layout.parameterCount
        precondition(
            checkpoint.parameters.count == count
                && checkpoint.optimizer.firstMoment.count == count
                && checkpoint.optimizer.secondMoment.count == count,
            "checkpoint arrays do not match the model")
        let header = try headerBytes(checkpoint)
        let dataLength = 3 * count * MemoryLayout<Float>.size
        var bytes = [UInt8]()
        bytes.reserveCapacity(prefixLength + header.count + dataLength + 4)
        bytes += magic
        append(&bytes, version)
        append(&bytes, UInt64(header.count))
        bytes += header
        for array in [
            checkpoint.parameters, checkpoint.optimizer.firstMoment,
            checkpoint.optimizer.secondMoment,
        ] {
            #if _endian(little)
                array.withUnsafeBytes { bytes += $0 }  // already float32 little-endian: one copy
            #else
                for x in array { append(&bytes, x.bitPattern) }
            #endif
        }
        append(&bytes, crc32(bytes))
        return bytes
    }

    /// The size `encode` would produce, without building the data section.
    public static func encodedSize(_ checkpoint: Checkpoint) throws -> Int {
        try prefixLength + headerBytes(checkpoint).count
            + 3 * checkpoint.layout.parameterCount * MemoryLayout<Float>.size + 4
    }

    /// The JSON header, padded with spaces so that the data section is aligned.
    static func headerBytes(_ checkpoint: Checkpoint) throws -> [UInt8] {
        let header = Header(
            configuration: checkpoint.configuration,
            state: State(
                step: checkpoint.step, epoch: checkpoint.epoch,
                adamStepCount: checkpoint.optimizer.stepCount),
            tensors: tensorTable(for: checkpoint.layout))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var bytes = [UInt8](try encoder.encode(header))
        let misalignment = (prefixLength + bytes.count) % dataAlignment
        if misalignment != 0 {
            bytes += [UInt8](repeating: UInt8(ascii: " "), count: dataAlignment - misalignment)
        }
        return bytes
    }

    /// zlib's CRC-32 (the one of gzip and PNG) of `bytes`.
    static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CZlib.crc32(0, nil, 0)
        var rest = bytes
        // zlib takes a 32-bit length: feed big buffers in chunks.
        while let base = rest.baseAddress, !rest.isEmpty {
            let chunk = min(rest.count, 1 << 30)
            crc = CZlib.crc32(crc, base.assumingMemoryBound(to: Bytef.self), uInt(chunk))
            rest = UnsafeRawBufferPointer(rebasing: rest[chunk...])
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { crc32($0) }
    }

    static func append<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }
}
