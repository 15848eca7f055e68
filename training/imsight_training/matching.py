"""The matching rule of docs/matching.md: k nearest references with distance weighting, a
per-class unknown threshold calibrated from the references, a confidence."""

import numpy as np

UNKNOWN = "unknown_anomaly"
# The rule's parameters (docs/matching.md); the reference pack records them.
K, QUANTILE, SCALE = 5, 0.95, 1.5


def thresholds(embeddings, classes, quantile=QUANTILE, scale=SCALE):
    """τ_c = scale × quantile of each reference's distance to its nearest other reference of
    the same class; a class with one reference takes the largest other threshold."""
    out = {}
    for c in sorted(set(classes)):
        members = embeddings[np.asarray(classes) == c]
        if len(members) < 2:
            continue
        d = np.linalg.norm(members[:, None, :] - members[None, :, :], axis=2)
        np.fill_diagonal(d, np.inf)
        out[c] = float(scale * np.quantile(d.min(1), quantile))
    largest = max(out.values()) if out else float("inf")
    for c in set(classes):
        out.setdefault(c, largest)
    return out


def calibrate_scale(embeddings, classes, held_x, held_c, quantile=QUANTILE):
    """The `scale` that calibrates the thresholds on held-out windows instead of the
    references alone: for every known class, at least `quantile` of its held-out windows
    (validation scenarios, never the test split) lie within the threshold of their nearest
    reference's class. Leave-one-out distances between references are distances between
    near-duplicates (overlapping windows of one scenario); a window of a known condition seen
    in a new scenario lies farther, and with the references' scale alone too many come out
    `unknown_anomaly`. Never below the default SCALE."""
    base = thresholds(embeddings, classes, quantile, scale=1.0)
    classes = np.asarray(classes)
    held_c = np.asarray(held_c)
    known = np.isin(held_c, np.unique(classes))
    held_x, held_c = held_x[known], held_c[known]
    ratios = []
    for start in range(0, len(held_x), 512):
        d = np.linalg.norm(held_x[start:start + 512, None, :] - embeddings[None, :, :], axis=2)
        nearest = d.argmin(1)
        ratios.append(d[np.arange(len(d)), nearest] / np.array([base[c] for c in classes[nearest]]))
    if not ratios:
        return SCALE
    ratios = np.concatenate(ratios)
    per_class = [np.quantile(ratios[held_c == c], quantile) for c in np.unique(held_c)]
    return float(max(SCALE, *per_class))


def match(queries, embeddings, classes, tau, k=K, epsilon=1e-6):
    """Verdicts for `queries` [n, D]: a list of (class, nearest distance, confidence)."""
    classes = np.asarray(classes)
    verdicts = []
    for start in range(0, len(queries), 512):
        block = queries[start:start + 512]
        d = np.linalg.norm(block[:, None, :] - embeddings[None, :, :], axis=2)
        order = np.argsort(d, axis=1, kind="stable")[:, :k]
        for row, neighbours in zip(d, order):
            dist = row[neighbours]
            weights = 1.0 / (dist + epsilon)
            scores = {}
            for c, w in zip(classes[neighbours], weights):
                scores[c] = scores.get(c, 0.0) + w
            best = max(scores.values())
            tied = [c for c in scores if scores[c] == best]
            winner = next(c for c in classes[neighbours] if c in tied)
            nearest_class, nearest = classes[neighbours[0]], float(dist[0])
            if nearest > tau[nearest_class]:
                verdicts.append((UNKNOWN, nearest, 1.0 - tau[nearest_class] / nearest))
            else:
                verdicts.append((str(winner), nearest, float(best / weights.sum())))
    return verdicts
