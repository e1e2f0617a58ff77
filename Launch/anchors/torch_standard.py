"""vae-mpi's standard recipe (`vae-mpi train` defaults) in PyTorch (CPU), as a speed reference.

python3 torch_standard.py --epochs 40 --threads 1 [--flush-denormal]

The recipe (TrainingConfiguration.standardPreset, docs/objectives.md): 20,000 anti-aliased discs
of radius 3 (pixel = covered area, here by 8x8 supersampling), centres uniform in [3, 25]^2
(numpy default_rng(seed)); encoder MLP 784-512-256-(2L) ReLU (mean | log-variance); the spatial
broadcast decoder: each pixel's row (z, x, y), x = column and y = row mapped to [-1, 1], through
one MLP (L+2)-32-32-1 ReLU shared by every pixel, computed as vae-mpi does: the first layer split
into A = z W_z + b per image and T = (x, y) W_xy per pixel, then products over batch x 784 rows.
Loss per image, mean over the batch: BCE-with-logits summed over pixels + KL to a factorised
generalised-Gaussian prior p(z) ~ exp(-|z/a|^8) of unit variance (exact, through E[z^8] of
the Gaussian posterior) + (beta - 1) TC with beta = 6, the total correlation estimated on the
batch by minibatch-weighted sampling (Chen et al. 2018) with the dataset size N and its
constant (L - 1) log(N B), as Sources/VAECore/Model/TotalCorrelation.swift. Training images
blurred with a Gaussian whose sigma falls linearly from 5 px to 0 over the first half of the
steps (separable, zero padding, radius ceil(3 sigma)); Adam 1e-3, batch 128, drop-last, 40 epochs; PyTorch's
default Linear initialisation (vae-mpi draws the same distribution). Prints every epoch's
samples/s (the blur schedule changes the cost over the run: watch the last epochs) and a final line
samples_per_s=<whole run> last_epoch_samples_per_s=... final_loss=...
--flush-denormal sets torch.set_flush_denormal(True) (flush-to-zero, denormals-are-zero).
"""
import argparse
import math
import os
import time

p = argparse.ArgumentParser()
p.add_argument("--samples", "-n", dest="n", type=int, default=20000, help="N (dataset size)")
p.add_argument("--epochs", type=int, default=40)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--batch", type=int, default=128)
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--flush-denormal", action="store_true")
p.add_argument("--blur", type=float, default=5.0)
p.add_argument("--blur-anneal", type=float, default=0.5)
p.add_argument("--latent-dim", type=int, default=2)
args, _ = p.parse_known_args()
# Before numpy/torch load their BLAS, which fixes its pool size then.
for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[v] = str(args.threads)

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(args.threads)
if args.flush_denormal:
    assert torch.set_flush_denormal(True), "this CPU has no flush-to-zero"

H = W = 28
BETA = 6.0
GG_P = 8
GG_A = math.sqrt(math.exp(math.lgamma(1 / GG_P) - math.lgamma(3 / GG_P)))
GG_LOGZ = math.log(2 * GG_A) + math.lgamma(1 + 1 / GG_P)  # log(2 a Gamma(1/P) / P)
# E[z^P] for z ~ N(mu, v) = sum over even k of C(P, k) (k-1)!! mu^(P-k) v^(k/2): (k, coefficient).
GG_TERMS = [(k, math.comb(GG_P, k) * math.prod(range(1, k, 2))) for k in range(0, GG_P + 1, 2)]
LOG2PI = math.log(2 * math.pi)


def discs(n, seed, r=3.0, ss=8, chunk=500):
    rng = np.random.default_rng(seed)
    c = rng.uniform(r, H - r, size=(n, 2))  # column 0 = x (column), 1 = y (row)
    sub = (np.arange(W * ss) + 0.5) / ss
    out = np.empty((n, H, W), np.float32)
    for a in range(0, n, chunk):
        cc = c[a:a + chunk]
        inside = ((sub[None, None, :] - cc[:, 0, None, None]) ** 2
                  + (sub[None, :, None] - cc[:, 1, None, None]) ** 2) <= r * r
        out[a:a + chunk] = inside.reshape(len(cc), H, ss, W, ss).mean(axis=(2, 4))
    return out.reshape(n, H * W)


def epoch_perm(n, seed, epoch):
    return np.random.default_rng(seed + 1000 + epoch).permutation(n)


def blur(x, sigma):
    rad = int(math.ceil(3 * sigma))
    t = torch.arange(-rad, rad + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    img = x.view(-1, 1, H, W)
    img = F.conv2d(img, k.view(1, 1, 1, -1), padding=(0, rad))
    img = F.conv2d(img, k.view(1, 1, -1, 1), padding=(rad, 0))
    return img.reshape(-1, H * W)


class VAE(torch.nn.Module):
    def __init__(self, latent):
        super().__init__()
        L = torch.nn.Linear
        self.latent = latent
        self.enc = torch.nn.Sequential(L(784, 512), torch.nn.ReLU(), L(512, 256), torch.nn.ReLU(), L(256, 2 * latent))
        self.first = L(latent + 2, 32)  # reads (z, x, y)
        self.rest = torch.nn.Sequential(L(32, 32), torch.nn.ReLU(), L(32, 1))
        g = torch.linspace(-1, 1, W)  # pixel p = row * 28 + column: x = g[column], y = g[row]
        self.register_buffer("xy", torch.stack([g.repeat(H), g.repeat_interleave(W)], 1))

    def decode(self, z):
        w = self.first.weight  # [32, L + 2]
        a = z @ w[:, :self.latent].t() + self.first.bias  # [B, 32]
        t = self.xy @ w[:, self.latent:].t()  # [784, 32]
        h = torch.relu(a[:, None, :] + t[None, :, :])  # [B, 784, 32]
        return self.rest(h.reshape(-1, h.shape[-1])).view(z.shape[0], H * W)


def kl_gen_gaussian(mu, logvar):
    """KL(N(mu, e^logvar) || gen-Gaussian P) summed over latents and images."""
    m2, v = mu * mu, logvar.exp()
    moment = sum(c * m2 ** ((GG_P - k) // 2) * v ** (k // 2) for k, c in GG_TERMS)
    return (GG_LOGZ + moment / GG_A ** GG_P).sum() - 0.5 * (1 + LOG2PI + logvar).sum()


def total_correlation(mu, logvar, z, n_data):
    """Minibatch-weighted-sampling TC over the batch: l_ijk = log N(z_ik; mu_jk, v_jk),
    mean_i [lse_j sum_k l_ijk - sum_k lse_j l_ijk] + (K - 1) log(N M)."""
    m, k = mu.shape
    d = z[:, None, :] - mu[None, :, :]
    l = -0.5 * LOG2PI - 0.5 * logvar[None] - 0.5 * d * d * torch.exp(-logvar)[None]
    joint = torch.logsumexp(l.sum(2), dim=1)
    marginals = torch.logsumexp(l, dim=1).sum(1)
    return (joint - marginals).mean() + (k - 1) * math.log(n_data * m)


def terms(model, x, n_data):
    """Per-image batch means: reconstruction, KL, TC."""
    h = model.enc(x)
    mu, logvar = h[:, :model.latent], h[:, model.latent:]
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    rec = F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="sum") / x.shape[0]
    kl = kl_gen_gaussian(mu, logvar) / x.shape[0]
    return rec, kl, total_correlation(mu, logvar, z, n_data)


def loss_of(model, x, n_data):
    rec, kl, tc = terms(model, x, n_data)
    return rec + kl + (BETA - 1) * tc


def main():
    torch.manual_seed(args.seed)
    X = torch.from_numpy(discs(args.n, args.seed))
    model = VAE(args.latent_dim)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    B = args.batch
    steps = args.n // B
    total = steps * args.epochs
    print(f"torch {torch.__version__} threads={torch.get_num_threads()} flush_denormal={args.flush_denormal} "
          f"steps={total}", flush=True)
    step, times, loss_v = 0, [], 0.0
    for ep in range(args.epochs):
        perm = torch.from_numpy(epoch_perm(args.n, args.seed, ep))
        t0, acc = time.perf_counter(), 0.0
        for s in range(steps):
            xb = X[perm[s * B:(s + 1) * B]]
            sigma = args.blur * max(0.0, 1.0 - step / (args.blur_anneal * total)) if args.blur_anneal > 0 else args.blur
            if sigma > 0.05:
                xb = blur(xb, sigma)
            loss = loss_of(model, xb, args.n)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            acc += loss.item()
            step += 1
        times.append(time.perf_counter() - t0)
        loss_v = acc / steps
        print(f"epoch {ep + 1}: {steps * B / times[-1]:.1f} samples/s loss={loss_v:.3f}", flush=True)
    print(f"samples_per_s={steps * B * len(times) / sum(times):.1f} "
          f"last_epoch_samples_per_s={steps * B / times[-1]:.1f} final_loss={loss_v:.4f}", flush=True)


if __name__ == "__main__":
    main()
