extension Trainer {
    /// A 64-bit digest of the parameters' bit patterns. Every round of the mix is a bijection of
    /// the running state, so parameters differing in a single value always differ in digest.
    public var parameterDigest: UInt64 {
        let p = UnsafeBufferPointer(start: parameterPointer, count: layout.parameterCount)
        var h = 0x9e37_79b9_7f4a_7c15 ^ UInt64(p.count)
        for x in p {
            h = (h ^ UInt64(x.bitPattern)) &* 0xbf58_476d_1ce4_e5b9
            h ^= h >> 31
        }
        return h
    }

    /// Stops every rank when the ranks' copies of the parameters differ, which the step's
    /// allgather should make impossible: a guard against a faulty transport or memory, so a
    /// run never goes on with ranks training different models. Collective; free on one rank.
    /// - Throws: `AgreementError.parameters` naming the lowest rank that differs from rank 0.
    public func checkParameterAgreement() throws {
        guard communicator.size > 1 else { return }
        if let rank = try communicator.firstRankDiffering(from: parameterDigest) {
            throw AgreementError.parameters(step: step, rank: rank)
        }
    }
}
