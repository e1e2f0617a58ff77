"""Why radius and intensity share a latent: the geometry of the two factors in image space.

Centred discs of the circle world (radius ~ U[2, 5], intensity ~ U[0.3, 1]), drawn as vae-mpi
draws them (intensity x the pixel's covered area, here by 16 x 16 supersampling). Prints
  - the cosine between the image's derivatives along radius and along intensity (each factor
    scaled to unit standard deviation), sharp and blurred at sigma 5 px (the default's first blur):
    a VAE with a diagonal posterior favours codes whose decoder derivatives are orthogonal
    (Rolinek et al. 2019), and these are not;
  - which factor the images' principal components follow: the direction such a VAE pursues.
Run: python3 docs/factor-geometry.py (numpy, scipy; about 30 s).
"""
import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.stats import spearmanr

SIDE, SUPER = 28, 16
grid = (np.arange(SIDE * SUPER) + 0.5) / SUPER
GX, GY = np.meshgrid(grid, grid)


def disc(radius, intensity, blur=0.0):
    inside = ((GX - 14.0) ** 2 + (GY - 14.0) ** 2 <= radius * radius).astype(np.float64)
    image = intensity * inside.reshape(SIDE, SUPER, SIDE, SUPER).mean(axis=(1, 3))
    return gaussian_filter(image, blur, mode="constant") if blur > 0 else image


def cosines(blur, rng, draws=200):
    sd_r, sd_i = 3 / np.sqrt(12), 0.7 / np.sqrt(12)
    out = []
    for _ in range(draws):
        r, i = rng.uniform(2, 5), rng.uniform(0.3, 1)
        d_r = (disc(r + 0.05, i, blur) - disc(r - 0.05, i, blur)) / 0.1 * sd_r
        d_i = (disc(r, i + 0.005, blur) - disc(r, i - 0.005, blur)) / 0.01 * sd_i
        out.append((d_r * d_i).sum() / np.linalg.norm(d_r) / np.linalg.norm(d_i))
    return np.array(out)


rng = np.random.default_rng(0)
for blur in (0.0, 5.0):
    c = cosines(blur, rng)
    print(f"blur {blur:.0f} px: cos(d image/d radius, d image/d intensity) median {np.median(c):.2f}, "
          f"range {c.min():.2f}-{c.max():.2f} (200 draws)")
radius, intensity = rng.uniform(2, 5, 4000), rng.uniform(0.3, 1, 4000)
images = np.stack([disc(r, i).ravel() for r, i in zip(radius, intensity)])
images -= images.mean(axis=0)
_, s, vt = np.linalg.svd(images, full_matrices=False)
scores, share = images @ vt[:2].T, s**2 / np.sum(s**2)
ink = radius**2 * intensity
for k in range(2):
    rho = lambda f: abs(spearmanr(scores[:, k], f)[0])
    print(f"principal component {k + 1} ({100 * share[k]:.1f}% of the variance): |Spearman| "
          f"ink (radius^2 x intensity) {rho(ink):.3f}, radius {rho(radius):.3f}, intensity {rho(intensity):.3f}")
