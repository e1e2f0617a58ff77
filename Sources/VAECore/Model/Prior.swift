import Foundation

/// The VAE's prior p(z): factorised, every latent with mean 0 and variance 1, so that priors differ
/// only in shape.
///
/// The Gaussian prior is rotation-invariant: any rotation of a code is as likely, so with an
/// isotropic data set nothing in the ELBO prefers one set of axes. The Laplace and generalised
/// Gaussian priors are not: a box-like p(z_j) ∝ exp(-|z_j / a|^P) makes the axis-aligned code
/// the likeliest one (docs/objectives.md).
///
/// Written on the command line and in checkpoints as `gaussian`, `laplace` or `gen-gaussian:P`
/// (`gen-gaussian` alone is P = 8).
public enum Prior: Hashable, Sendable {
    /// N(0, 1).
    case gaussian
    /// Laplace(0, b) with b = 1/sqrt(2).
    case laplace
    /// p(z) = P / (2 a Gamma(1/P)) exp(-|z / a|^P) with a = sqrt(Gamma(1/P) / Gamma(3/P)); P even,
    /// so that E[z^P] under the Gaussian posterior is a polynomial in its moments and the KL is
    /// exact. P = 2 is the Gaussian.
    case generalizedGaussian(power: Int)

    /// The power of `gen-gaussian` without one.
    public static let defaultPower = 8
    /// Powers accepted for `gen-gaussian:P`: even, so E[z^P] is exact; up to 16, beyond which
    /// mu^P overflows doubles long before a float parameter does.
    public static let powers = stride(from: 2, through: 16, by: 2)

    /// Reads `gaussian`, `laplace`, `gen-gaussian` or `gen-gaussian:P`.
    public init?(argument: String) {
        switch argument {
        case "gaussian": self = .gaussian
        case "laplace": self = .laplace
        case "gen-gaussian": self = .generalizedGaussian(power: Prior.defaultPower)
        default:
            let prefix = "gen-gaussian:"
            guard argument.hasPrefix(prefix), let p = Int(argument.dropFirst(prefix.count)),
                Prior.powers.contains(p)
            else { return nil }
            self = .generalizedGaussian(power: p)
        }
    }

    public var name: String {
        switch self {
        case .gaussian: return "gaussian"
        case .laplace: return "laplace"
        case .generalizedGaussian(let p): return "gen-gaussian:\(p)"
        }
    }

    /// KL(N(mu, exp(lv)) || p) of one latent, and its derivatives by mu and by lv.
    ///
    /// KL = H(q, p) - H(q), with the entropy H(q) = 1/2 log(2 pi e) + lv / 2 and the
    /// cross-entropy H(q, p) = E_q[-log p(z)] in closed form:
    /// - Gaussian: 1/2 (mu^2 + s^2 + log 2 pi);
    /// - Laplace: log 2b + E|z| / b, with the folded normal's
    ///   E|z| = s sqrt(2/pi) exp(-mu^2 / 2 s^2) + mu erf(mu / (s sqrt 2));
    /// - generalised Gaussian: log(2 a Gamma(1/P) / P) + E[z^P] / a^P, with
    ///   E[z^P] = sum over even k of C(P, k) mu^(P-k) s^k (k-1)!!.
    @inline(__always)
    public func divergence(mean mu: Double, logVariance lv: Double)
        -> (kl: Double, dMean: Double, dLogVariance: Double)
    {
        switch self {
        case .gaussian:
            let v = exp(lv)
            return (0.5 * (mu * mu + v - 1 - lv), mu, 0.5 * (v - 1))
        case .laplace:
            let s = exp(0.5 * lv)
            let b = 0.5.squareRoot()
            let density = (2 / Double.pi).squareRoot() * exp(-mu * mu / (2 * s * s))
            let absolute = s * density + mu * erf(mu / (s * 2.0.squareRoot()))
            let kl = log(2 * b) + absolute / b - Prior.gaussianEntropyConstant - 0.5 * lv
            // dE|z|/dmu = erf(mu / s sqrt 2), dE|z|/ds = sqrt(2/pi) exp(-mu^2 / 2 s^2), ds/dlv = s/2.
            return (kl, erf(mu / (s * 2.0.squareRoot())) / b, density * s / (2 * b) - 0.5)
        case .generalizedGaussian(let p):
            let s = exp(0.5 * lv)
            let c = GeneralizedGaussianConstants.of(power: p)
            var moment = 0.0, dMu = 0.0, dS = 0.0
            var k = 0
            while k <= p {
                let w = c.binomial[k] * c.doubleFactorial[k]
                let muPower = Prior.power(mu, p - k)
                let sPower = Prior.power(s, k)
                moment += w * muPower * sPower
                if k < p { dMu += w * Double(p - k) * Prior.power(mu, p - k - 1) * sPower }
                if k > 0 { dS += w * Double(k) * muPower * Prior.power(s, k - 1) }
                k += 2
            }
            let kl = c.logNormaliser + moment * c.inverseScalePower
                - Prior.gaussianEntropyConstant - 0.5 * lv
            return (kl, dMu * c.inverseScalePower, dS * c.inverseScalePower * s / 2 - 0.5)
        }
    }

    /// 1/2 log(2 pi e): the entropy of N(0, 1).
    static let gaussianEntropyConstant = 0.5 * log(2 * Double.pi * exp(1.0))

    @inline(__always)
    static func power(_ x: Double, _ n: Int) -> Double {
        var r = 1.0
        for _ in 0..<n { r *= x }
        return r
    }
}

/// The constants of the generalised Gaussian prior of one power, computed once.
struct GeneralizedGaussianConstants {
    /// log(2 a Gamma(1/P) / P): minus the log of the density's normaliser.
    let logNormaliser: Double
    /// 1 / a^P.
    let inverseScalePower: Double
    /// C(P, k) and (k-1)!! (1 for k = 0) for k = 0...P.
    let binomial: [Double]
    let doubleFactorial: [Double]

    init(power p: Int) {
        let a = (tgamma(1 / Double(p)) / tgamma(3 / Double(p))).squareRoot()
        logNormaliser = log(2 * a * tgamma(1 / Double(p)) / Double(p))
        inverseScalePower = 1 / Prior.power(a, p)
        var binomial = [Double](repeating: 1, count: p + 1)
        for k in 1...p { binomial[k] = binomial[k - 1] * Double(p - k + 1) / Double(k) }
        var doubleFactorial = [Double](repeating: 1, count: p + 1)
        for k in stride(from: 2, through: p, by: 2) {
            doubleFactorial[k] = doubleFactorial[k - 2] * Double(k - 1)
        }
        self.binomial = binomial
        self.doubleFactorial = doubleFactorial
    }

    /// Every accepted power's constants, made once (the training step must not allocate).
    private static let table: [Int: GeneralizedGaussianConstants] = Dictionary(
        uniqueKeysWithValues: Prior.powers.map { ($0, GeneralizedGaussianConstants(power: $0)) })

    static func of(power p: Int) -> GeneralizedGaussianConstants {
        guard let c = table[p] else { preconditionFailure("gen-gaussian power \(p) is not supported") }
        return c
    }
}

extension Prior: Codable {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let prior = Prior(argument: text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "unknown prior \(text)"))
        }
        self = prior
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }
}
