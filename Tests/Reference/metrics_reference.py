#!/usr/bin/env python3
"""Independent reference for vae-mpi's disentanglement metrics (Tests/VAEAnalysisTests).

Reads a JSON file of cases written by MetricsReferenceTests (latents, factors, FactorVAE
batches) and writes the scores as disentanglement_lib defines them, computed with numpy,
scipy and scikit-learn:

  python3 metrics_reference.py cases.json scores.json

Any number K of factors (rows of "factors"); the matching of factors to distinct latents and
the K-factor criterion (docs/analysis.md) are computed here too, from scipy's Spearman rho.

Formulas follow disentanglement_lib's evaluation/metrics (mig.py, sap_score.py with
continuous_factors=True, modularity_explicitness.py, factor_vae.py, utils.py); DCI uses a
scikit-learn Lasso on standardised data in place of gradient-boosted trees, as vae-mpi does.
"""
import itertools
import json
import sys

import numpy as np
import scipy.stats
from sklearn.linear_model import Lasso
from sklearn.metrics import mutual_info_score, r2_score


def histogram_discretize(target, num_bins):
    """disentanglement_lib's _histogram_discretize: rows are variables."""
    out = np.zeros_like(target, dtype=np.int64)
    for i in range(target.shape[0]):
        out[i, :] = np.digitize(target[i, :], np.histogram(target[i, :], num_bins)[1][:-1])
    return out


def discrete_mutual_info(mus, ys):
    return np.array([[mutual_info_score(ys[j, :], mus[i, :]) for j in range(ys.shape[0])]
                     for i in range(mus.shape[0])])


def discrete_entropy(ys):
    return np.array([mutual_info_score(ys[j, :], ys[j, :]) for j in range(ys.shape[0])])


def mig(mus, ys, bins):
    m = discrete_mutual_info(histogram_discretize(mus, bins), histogram_discretize(ys, bins))
    entropy = discrete_entropy(histogram_discretize(ys, bins))
    sorted_m = np.sort(m, axis=0)[::-1]
    gaps = (sorted_m[0, :] - sorted_m[1, :]) / entropy
    return float(np.mean(gaps)), gaps.tolist(), m


def modularity(mutual_information):
    squared = np.square(mutual_information)
    top = np.max(squared, axis=1)
    delta = (np.sum(squared, axis=1) - top) / (top * (squared.shape[1] - 1.0))
    score = 1.0 - delta
    score[top == 0.0] = 0.0
    return float(np.mean(score)), score.tolist()


def sap_continuous(mus, ys):
    matrix = np.zeros([mus.shape[0], ys.shape[0]])
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            c = np.cov(mus[i, :], ys[j, :], ddof=1)
            matrix[i, j] = c[0, 1] ** 2 / (c[0, 0] * c[1, 1]) if c[0, 0] > 1e-12 else 0.0
    s = np.sort(matrix, axis=0)
    return float(np.mean(s[-1, :] - s[-2, :])), matrix.tolist()


def dci_lasso(mus, ys, alpha):
    n = mus.shape[1]
    n_test = n // 3
    n_train = n - n_test

    def standardise(rows):
        mean = rows[:, :n_train].mean(axis=1, keepdims=True)
        sd = rows[:, :n_train].std(axis=1, keepdims=True)
        safe = np.where(sd > 0, sd, 1.0)
        return np.where(sd > 0, (rows - mean) / safe, 0.0)

    z, v = standardise(mus), standardise(ys)
    importance = np.zeros([mus.shape[0], ys.shape[0]])
    r2_train, r2_test = [], []
    for k in range(ys.shape[0]):
        model = Lasso(alpha=alpha, tol=1e-14, max_iter=1_000_000)
        model.fit(z[:, :n_train].T, v[k, :n_train])
        importance[:, k] = np.abs(model.coef_)
        r2_train.append(r2_score(v[k, :n_train], model.predict(z[:, :n_train].T)))
        r2_test.append(r2_score(v[k, n_train:], model.predict(z[:, n_train:].T)))
    per_code = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=importance.shape[1])
    per_factor = 1.0 - scipy.stats.entropy(importance + 1e-11, base=importance.shape[0])
    weights = importance if importance.sum() > 0 else np.ones_like(importance)
    d = np.sum(per_code * weights.sum(axis=1) / weights.sum())
    c = np.sum(per_factor * weights.sum(axis=0) / weights.sum())
    return {
        "importance": importance.tolist(),
        "disentanglement": float(d),
        "completeness": float(c),
        "informativeness_train": float(np.mean(r2_train)),
        "informativeness_test": float(np.mean(r2_test)),
    }


def factor_vae(spec):
    global_variances = np.array(spec["global_variance"])
    active = np.sqrt(global_variances) >= spec["prune_threshold"]
    active_index = np.flatnonzero(active)
    factors = spec["factor_count"]

    def votes(batches):
        v = np.zeros((factors, global_variances.shape[0]), dtype=np.int64)
        for batch in batches:
            representations = np.array(batch["latents"]).T  # [sample, latent]
            local = np.var(representations, axis=0, ddof=1)
            argmin = np.argmin(local[active] / global_variances[active])
            # disentanglement_lib votes for the position among active latents; the latent's own
            # index (as vae-mpi records it) gives the same accuracies.
            v[batch["factor"], active_index[argmin]] += 1
        return v

    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "train_votes": None}
    train = votes(spec["train"])
    evaluation = votes(spec["eval"])
    classifier = np.argmax(train, axis=0)
    other = np.arange(train.shape[1])
    return {
        "train_accuracy": float(np.sum(train[classifier, other]) / np.sum(train)),
        "eval_accuracy": float(np.sum(evaluation[classifier, other]) / np.sum(evaluation)),
        "train_votes": train.tolist(),
        "eval_votes": evaluation.tolist(),
    }


def matching_and_criterion(mus, ys, thresholds):
    """Each factor to a distinct latent, every assignment tried (the first in lexicographic
    order of the best sum of |Spearman| wins), then the K-factor criterion: every matched
    |rho| >= matched, every cross |rho| (factor i's latent against factor j != i) <= cross,
    every spare latent's population standard deviation <= spare."""
    latents, factors = mus.shape[0], ys.shape[0]
    rho = np.array([[scipy.stats.spearmanr(mus[i], ys[k]).correlation for k in range(factors)]
                    for i in range(latents)])
    best, best_total = None, -1.0
    for assignment in itertools.permutations(range(latents), factors):
        total = sum(abs(rho[j, k]) for k, j in enumerate(assignment))
        if total > best_total:
            best, best_total = assignment, total
    matched = [abs(rho[j, k]) for k, j in enumerate(best)]
    cross = [abs(rho[j, other]) for k, j in enumerate(best) for other in range(factors) if other != k]
    spare = [float(np.std(mus[i])) for i in range(latents) if i not in best]
    holds = (all(v >= thresholds["matched"] for v in matched)
             and all(v <= thresholds["cross"] for v in cross)
             and all(v <= thresholds["spare"] for v in spare))
    return {"spearman": rho.tolist(), "matching": list(best), "spare_std": spare,
            "disentangled": bool(holds)}


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    results = []
    for case in cases:
        mus = np.array(case["latents"], dtype=np.float64)
        ys = np.array(case["factors"], dtype=np.float64)
        mig_score, mig_gaps, information = mig(mus, ys, case["bins"])
        modularity_score, modularity_per_latent = modularity(information)
        sap_score, sap_matrix = sap_continuous(mus, ys)
        results.append({
            "name": case["name"],
            "mig": mig_score,
            "mig_gaps": mig_gaps,
            "mutual_information": information.tolist(),
            "modularity": modularity_score,
            "modularity_per_latent": modularity_per_latent,
            "sap": sap_score,
            "sap_matrix": sap_matrix,
            "dci": dci_lasso(mus, ys, case["alpha"]),
            "factor_vae": factor_vae(case["factor_vae"]),
            "criterion": matching_and_criterion(mus, ys, case["thresholds"]),
        })
    with open(sys.argv[2], "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
