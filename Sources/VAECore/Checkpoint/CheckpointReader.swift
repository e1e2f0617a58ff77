import Foundation

/// Validated decoding: every size and offset is checked (with overflow-checked arithmetic)
/// before any is used, in the spirit of safetensors, and the checksum last of all. A reader never
/// traps on bad bytes; it throws the `CheckpointError` naming the first problem.
extension CheckpointCodec {
    /// What a validated prefix and header say about the file.
    struct Layout {
        var header: Header
        var dataStart: Int
        var dataLength: Int
        /// The exact length the file must have.
        var totalLength: Int
    }

    /// The checkpoint in `bytes`, all of it validated.
    /// - Throws: `CheckpointError` naming the first problem found.
    public static func decode(_ bytes: [UInt8]) throws -> Checkpoint {
        try bytes.withUnsafeBytes { raw in
            let layout = try validateLayout(raw, fileSize: raw.count)
            let checksummed = layout.totalLength - 4
            let stored = readInteger(UInt32.self, raw, at: checksummed)
            let computed = crc32(UnsafeRawBufferPointer(rebasing: raw[0..<checksummed]))
            guard stored == computed else {
                throw CheckpointError.checksumMismatch(stored: stored, computed: computed)
            }
            return makeCheckpoint(
                layout,
                data: UnsafeRawBufferPointer(
                    rebasing: raw[layout.dataStart..<(layout.dataStart + layout.dataLength)]))
        }
    }

    /// Validates everything but the checksum and the tensor values.
    ///
    /// `bytes` is the start of a file of `fileSize` bytes: at least its first
    /// min(fileSize, prefixLength + maximumHeaderLength) bytes, so that a file reader can refuse a
    /// wrong-sized file before reading all of it.
    static func validateLayout(_ bytes: UnsafeRawBufferPointer, fileSize: Int) throws -> Layout {
        guard fileSize > 0 else { throw CheckpointError.empty }
        let magicPresent = min(bytes.count, magic.count)
        guard bytes.prefix(magicPresent).elementsEqual(magic.prefix(magicPresent)) else {
            throw CheckpointError.badMagic
        }
        guard fileSize >= prefixLength, bytes.count >= prefixLength else {
            throw CheckpointError.shortPrefix(found: fileSize)
        }
        let version = readInteger(UInt32.self, bytes, at: 8)
        guard version == self.version else { throw CheckpointError.unsupportedVersion(version) }
        let declaredHeaderLength = readInteger(UInt64.self, bytes, at: 12)
        guard declaredHeaderLength <= UInt64(maximumHeaderLength) else {
            throw CheckpointError.headerTooLarge(
                length: declaredHeaderLength,
                limit: maximumHeaderLength)
        }
        let dataStart = prefixLength + Int(declaredHeaderLength)
        guard dataStart <= fileSize, dataStart <= bytes.count else {
            throw CheckpointError.truncatedHeader(headerEnd: dataStart, found: fileSize)
        }
        let header = try parseHeader(
            UnsafeRawBufferPointer(
                rebasing: bytes[prefixLength..<dataStart]))
        do {
            try header.configuration.validate()
        } catch let error as ConfigurationError {
            throw CheckpointError.invalidConfiguration(error.description)
        }
        // Every layer costs the table six entries; without this cap a 1 MiB header of
        // "hidden": [1, 1, ...] would make the reader build a table of millions of entries.
        let depth = header.configuration.model.hidden.count
        guard depth <= maximumHiddenLayers else {
            throw CheckpointError.invalidConfiguration(
                "\(depth) hidden layers, more than the \(maximumHiddenLayers) a checkpoint may hold")
        }
        try validateState(header.state, header.configuration)
        let dataLength = try validateTensorTable(header.tensors, header.configuration)
        let (withData, o1) = dataStart.addingReportingOverflow(dataLength)
        let (totalLength, o2) = withData.addingReportingOverflow(4)
        guard !o1, !o2 else { throw CheckpointError.sizeOverflow(tensor: "(data section)") }
        guard fileSize >= totalLength else {
            throw CheckpointError.truncated(expected: totalLength, found: fileSize)
        }
        guard fileSize == totalLength else {
            throw CheckpointError.trailingBytes(expected: totalLength, found: fileSize)
        }
        return Layout(
            header: header, dataStart: dataStart, dataLength: dataLength,
            totalLength: totalLength)
    }

    static func parseHeader(_ bytes: UnsafeRawBufferPointer) throws -> Header {
        do {
            return try JSONDecoder().decode(Header.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw CheckpointError.malformedHeader(summary(error))
        } catch {
            throw CheckpointError.malformedHeader("not valid JSON")
        }
    }

    static func validateState(_ state: State, _ configuration: TrainingConfiguration) throws {
        guard state.step >= 0 else {
            throw CheckpointError.inconsistentState("step \(state.step) is negative")
        }
        let epoch = state.step / configuration.stepsPerEpoch
        guard state.epoch == epoch else {
            throw CheckpointError.inconsistentState(
                "epoch \(state.epoch) but step \(state.step) is in epoch \(epoch)")
        }
        guard state.adamStepCount >= 0 else {
            throw CheckpointError.inconsistentState(
                "Adam step count \(state.adamStepCount) is negative")
        }
    }

    /// Checks the table against the one the configuration implies: the same names, dtypes and
    /// shapes, each inside the data section, together covering it with no gap or overlap.
    /// Placement may differ from the canonical one; the table is what says where bytes are.
    /// - Returns: the data section's length in bytes.
    static func validateTensorTable(
        _ table: [TensorEntry],
        _ configuration: TrainingConfiguration
    ) throws -> Int {
        let layout = NetworkLayout(configuration.model)
        let (dataLength, overflow) = layout.parameterCount.multipliedReportingOverflow(
            by: 3 * MemoryLayout<Float>.size)
        guard !overflow else { throw CheckpointError.sizeOverflow(tensor: "(data section)") }
        var expected: [String: TensorEntry] = [:]
        for entry in tensorTable(for: layout) { expected[entry.name] = entry }
        var seen = Set<String>()
        for entry in table {
            guard entry.dtype == "F32" else {
                throw CheckpointError.unsupportedDType(tensor: entry.name, dtype: entry.dtype)
            }
            var size = MemoryLayout<Float>.size
            for dimension in entry.shape {
                let (product, overflow) = size.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw CheckpointError.sizeOverflow(tensor: entry.name) }
                size = product
            }
            let (end, overflow) = entry.offset.addingReportingOverflow(entry.length)
            guard !overflow else { throw CheckpointError.sizeOverflow(tensor: entry.name) }
            guard let canonical = expected[entry.name] else {
                throw CheckpointError.unknownTensor(entry.name)
            }
            guard seen.insert(entry.name).inserted else {
                throw CheckpointError.duplicateTensor(entry.name)
            }
            guard entry.shape == canonical.shape else {
                throw CheckpointError.shapeMismatch(
                    tensor: entry.name, declared: entry.shape,
                    expected: canonical.shape)
            }
            guard entry.length == size else {
                throw CheckpointError.lengthMismatch(
                    tensor: entry.name, declared: entry.length,
                    expected: size)
            }
            guard entry.offset >= 0, end <= dataLength else {
                throw CheckpointError.tensorOutOfRange(
                    tensor: entry.name, start: entry.offset,
                    end: end, dataLength: dataLength)
            }
        }
        if let missing = tensorTable(for: layout).first(where: { !seen.contains($0.name) }) {
            throw CheckpointError.missingTensor(missing.name)
        }
        // Every tensor is present with its exact size, so no overlap and no gap means the
        // tensors tile [0, dataLength) exactly.
        var cursor = 0
        var previous = ""
        for entry in table.sorted(by: { $0.offset < $1.offset }) {
            if entry.offset < cursor {
                throw CheckpointError.tensorsOverlap(tensor: entry.name, previous: previous)
            }
            if entry.offset > cursor {
                throw CheckpointError.tensorGap(
                    tensor: entry.name, offset: entry.offset,
                    expected: cursor)
            }
            cursor = entry.offset + entry.length
            previous = entry.name
        }
        return dataLength
    }

    /// The arrays, filled through the (validated) table.
    static func makeCheckpoint(_ layout: Layout, data: UnsafeRawBufferPointer) -> Checkpoint {
        let configuration = layout.header.configuration
        let network = NetworkLayout(configuration.model)
        let count = network.parameterCount
        var canonical: [String: TensorEntry] = [:]
        for entry in tensorTable(for: network) { canonical[entry.name] = entry }
        var arrays = [[Float]](repeating: [Float](repeating: 0, count: count), count: 3)
        let floatSize = MemoryLayout<Float>.size
        for entry in layout.header.tensors {
            guard let target = canonical[entry.name] else { continue }  // validated: never
            let group = target.offset / floatSize / count
            let start = target.offset / floatSize - group * count
            arrays[group].withUnsafeMutableBufferPointer { out in
                for k in 0..<(entry.length / floatSize) {
                    let bits = readInteger(UInt32.self, data, at: entry.offset + k * floatSize)
                    out[start + k] = Float(bitPattern: bits)
                }
            }
        }
        var adam = Adam(configuration: configuration.optimizer, parameterCount: count)
        adam.firstMoment = arrays[1]
        adam.secondMoment = arrays[2]
        adam.stepCount = layout.header.state.adamStepCount
        return Checkpoint(
            configuration: configuration, step: layout.header.state.step,
            parameters: arrays[0], optimizer: adam)
    }

    /// A little-endian integer at `offset` (the caller has checked the bounds).
    static func readInteger<T: FixedWidthInteger>(
        _: T.Type, _ bytes: UnsafeRawBufferPointer,
        at offset: Int
    ) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// One line for a JSON decoding failure: what went wrong, and where.
    static func summary(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            return keys.isEmpty ? "the top level" : keys.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "missing key \(key.stringValue)"
                + (context.codingPath.isEmpty ? "" : " in \(parent)")
        case .typeMismatch(let type, let context):
            return "\(path(context)) is not of type \(type)"
        case .valueNotFound(let type, let context):
            return "\(path(context)) is null, expected \(type)"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "invalid value at \(path(context))"
        @unknown default:
            return "cannot be decoded"
        }
    }
}
