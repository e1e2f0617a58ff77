import Foundation

/// Ranks found holding different state where they must hold the same. Thrown on every rank
/// alike, since the check that finds it is collective.
public enum AgreementError: Error, Equatable, CustomStringConvertible {
    /// The ranks were started with different settings; `differences` names each one.
    case settings(rank: Int, differences: String)
    /// The parameters differ after `step` optimiser steps.
    case parameters(step: Int, rank: Int)

    public var description: String {
        switch self {
        case .settings(let rank, let differences):
            return "rank \(rank) was started with different settings from rank 0: \(differences)"
        case .parameters(let step, let rank):
            return "parameters differ between ranks after step \(step): rank \(rank) disagrees with rank 0"
        }
    }
}

extension Communicator {
    /// The lowest rank whose `value` differs from rank 0's, or nil when every rank agrees.
    /// Collective: every rank calls it and gets the same answer.
    public func firstRankDiffering(from value: UInt64) throws -> Int? {
        var root = value
        try withUnsafeMutableBytes(of: &root) { try broadcast($0, root: 0) }
        // The maximum of size - rank over the differing ranks picks the lowest of them.
        var vote = [root == value ? 0 : Double(size - rank)]
        try vote.withUnsafeMutableBufferPointer { try allreduceMax($0) }
        return vote[0] > 0 ? size - Int(vote[0]) : nil
    }

    /// Stops every rank when the ranks were started with different settings, before a
    /// mismatch can hang a collective or silently train different models. Collective.
    /// - Throws: `AgreementError.settings` naming the lowest differing rank and each setting
    ///   in which it differs from rank 0.
    public func checkAgreement<Settings: Encodable>(on settings: Settings) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let local = [UInt8](try encoder.encode(settings))
        guard let rank = try firstRankDiffering(from: SettingsDifference.digest(local)) else {
            return
        }
        let rootSettings = try shareBytes(local, from: 0)
        let rankSettings = try shareBytes(local, from: rank)
        throw AgreementError.settings(
            rank: rank, differences: SettingsDifference.describe(rankSettings, against: rootSettings))
    }

    /// `root`'s `bytes` on every rank: the length first, then the content. Collective.
    func shareBytes(_ bytes: [UInt8], from root: Int) throws -> [UInt8] {
        var length = Int64(bytes.count)
        try withUnsafeMutableBytes(of: &length) { try broadcast($0, root: root) }
        guard (0...(1 << 24)).contains(length) else {
            throw AgreementError.settings(rank: root, differences: "unreadable settings")
        }
        var buffer = rank == root ? bytes : [UInt8](repeating: 0, count: Int(length))
        try buffer.withUnsafeMutableBytes { try broadcast($0, root: root) }
        return buffer
    }
}

/// Names the settings in which two JSON encodings of a run's settings differ.
enum SettingsDifference {
    /// FNV-1a, 64 bits: any change in a short text changes it with overwhelming likelihood.
    static func digest(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    /// "batchSize=64 where rank 0 has 128", for each differing setting by its dotted path.
    static func describe(_ settings: [UInt8], against root: [UInt8]) -> String {
        let mine = flatten(settings)
        let theirs = flatten(root)
        let differing = Set(mine.keys).union(theirs.keys).sorted().filter { mine[$0] != theirs[$0] }
        if differing.isEmpty { return "the settings' encodings differ" }
        return differing.map { "\($0)=\(mine[$0] ?? "(none)") where rank 0 has \(theirs[$0] ?? "(none)")" }
            .joined(separator: ", ")
    }

    /// Leaf values (arrays count as leaves) by dotted path, as JSON text.
    static func flatten(_ json: [UInt8]) -> [String: String] {
        var leaves: [String: String] = [:]
        func visit(_ value: Any, _ path: String) {
            if let object = value as? [String: Any] {
                for (key, child) in object { visit(child, path.isEmpty ? key : path + "." + key) }
            } else if let data = try? JSONSerialization.data(
                withJSONObject: value, options: .fragmentsAllowed),
                let text = String(data: data, encoding: .utf8)
            {
                leaves[path] = text
            }
        }
        if let root = try? JSONSerialization.jsonObject(with: Data(json), options: .fragmentsAllowed) {
            visit(root, "")
        }
        return leaves
    }
}
