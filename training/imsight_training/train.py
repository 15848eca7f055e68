"""Trains the Siamese LSTM with triplet loss and online batch-hard (or semi-hard) mining.

    python -m imsight_training.train --data data/tiny --out runs/tiny --config configs/train-tiny.json

Windows are labelled by their last minute. Training uses the `train` split, leaves out windows
whose last minute is a recovery tail (the fault is over, the traffic not yet normal: neither
class fits), and the kinds the model must not see (configuration `held_out`). Deterministic
with a seed: seeded generators, deterministic algorithms, no worker threads for data.

Two optional aids (configuration keys, off when absent):
- `early_share`: the share of each fault class's windows in a batch drawn from windows that
  end in the first `early_minutes` (default 5) of their episode. The appliance must name a
  fault within minutes of its onset, when only the window's last minutes show it; drawn
  uniformly, those windows are a small minority of a fault's windows.
- `ce_weight`: a softmax cross-entropy term on a linear classifier over the embedding, added
  to the triplet loss (joint metric and classification learning). The classifier is a training
  aid only: it is not part of the exported model, which still outputs the embedding.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from tqdm import tqdm

from .model import build, feature_statistics

WINDOW = 60


class Windows:
    """The windows of a dataset folder, materialised on demand from the minute rows."""

    def __init__(self, folder):
        self.minutes = np.load(os.path.join(folder, "minutes.npy"))
        w = np.load(os.path.join(folder, "windows.npz"))
        self.end, self.label, self.phase = w["end"], w["label"], w["phase"]
        self.event, self.split, self.part, self.scenario = w["event"], w["split"], w["part"], w["scenario"]
        with open(os.path.join(folder, "manifest.json")) as f:
            self.manifest = json.load(f)
        self.classes = self.manifest["classes"]
        self.recovery = self.manifest["phases"].index("recovery")
        self.meta = dict(np.load(os.path.join(folder, "minutes.npz")))
        # A minute in which the node sent and received nothing is `no_data` for the appliance
        # (a probe gap of that node): no window ends on one.
        seen = [i for i, n in enumerate(self.manifest["feature_names"]) if n.startswith(("req_", "resp_"))]
        self.empty = self.minutes[:, seen].sum(1) == 0

    def batch(self, indices):
        """[len(indices), 60, 130] float32 raw values."""
        ends = self.end[np.asarray(indices)]
        rows = ends[:, None] + np.arange(-WINDOW + 1, 1)[None, :]
        return torch.from_numpy(self.minutes[rows])

    def select(self, split, held_out=()):
        """The windows of a split, recovery tails and `no_data` minutes left out. Kinds held
        out take whole scenarios with them: no window of a scenario in which one occurs, its
        normal minutes before and after included, is given."""
        keep = (self.split == split) & (self.phase != self.recovery) & ~self.empty[self.end]
        tainted = self.scenarios_with(held_out)
        if len(tainted):
            keep &= ~np.isin(self.scenario, tainted)
        return np.flatnonzero(keep)

    def episode_age(self):
        """Per minute row: minutes since its label began on its node (1 in the first minute of
        an episode, or of a normal stretch)."""
        meta = self.meta
        same = np.zeros(len(self.minutes), dtype=bool)
        same[1:] = (meta["scenario"][1:] == meta["scenario"][:-1]) & (meta["node"][1:] == meta["node"][:-1]) \
            & (meta["label"][1:] == meta["label"][:-1]) & (meta["minute"][1:] - meta["minute"][:-1] == 60_000_000)
        age = np.ones(len(same), dtype=np.int64)
        for i in np.flatnonzero(same):
            age[i] = age[i - 1] + 1
        return age

    def scenarios_with(self, kinds):
        """The scenarios in which any minute is labelled with one of `kinds`."""
        codes = [self.classes.index(name) for name in kinds]
        return np.unique(self.meta["scenario"][np.isin(self.meta["label"], codes)])


def pairwise(e):
    d = torch.cdist(e, e)
    return d


def triplet_loss(embeddings, labels, margin, mining):
    """Batch-hard (Hermans et al. 2017) or batch semi-hard triplet loss."""
    d = pairwise(embeddings)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = same & ~eye
    negative = ~same
    hardest_positive = (d * positive).max(1).values
    if mining == "hard":
        hardest_negative = d.masked_fill(~negative, float("inf")).min(1).values
        loss = torch.relu(hardest_positive - hardest_negative + margin)
    else:
        # Semi-hard: the closest negative farther than the positive, else the farthest.
        beyond = negative & (d > hardest_positive[:, None])
        semi = d.masked_fill(~beyond, float("inf")).min(1).values
        fallback = d.masked_fill(~negative, -float("inf")).max(1).values
        hardest_negative = torch.where(torch.isinf(semi), fallback, semi)
        loss = torch.relu(hardest_positive - hardest_negative + margin)
    valid = positive.any(1) & negative.any(1)
    return loss[valid].mean() if valid.any() else loss.sum() * 0.0


def sample_batch(rng, indices_by_class, classes_per_batch, per_class, early_share=0.0):
    """`indices_by_class`: (class code, its windows, its early windows) per class."""
    chosen = rng.choice(len(indices_by_class), size=min(classes_per_batch, len(indices_by_class)), replace=False)
    picks, labels = [], []
    for c in chosen:
        code, members, early = indices_by_class[c]
        n_early = int(round(per_class * early_share)) if len(early) else 0
        picks.extend(rng.choice(early, size=n_early, replace=len(early) < n_early))
        rest = per_class - n_early
        picks.extend(rng.choice(members, size=rest, replace=len(members) < rest))
        labels.extend([code] * per_class)
    return np.array(picks), torch.tensor(labels)


@torch.no_grad()
def embed(model, data, indices, batch=256):
    model.eval()
    out = [model(data.batch(indices[i:i + batch])) for i in range(0, len(indices), batch)]
    return torch.cat(out) if out else torch.zeros(0, model.project.out_features)


@torch.no_grad()
def knn_accuracy(model, data, train_idx, val_idx, k=5):
    """Macro recall of a k-nearest-neighbour vote of validation windows against training
    windows: a quick progress measure, not the evaluation."""
    if len(val_idx) == 0:
        return None
    refs = embed(model, data, train_idx)
    queries = embed(model, data, val_idx)
    nearest = torch.cdist(queries, refs).topk(min(k, len(train_idx)), largest=False).indices
    votes = torch.as_tensor(data.label[train_idx])[nearest]
    predicted = torch.mode(votes, dim=1).values.numpy()
    truth = data.label[val_idx]
    recalls = [(predicted[truth == c] == c).mean() for c in np.unique(truth)]
    return float(np.mean(recalls))


def train(data_folder, out, cfg):
    started = time.time()
    seed = cfg["seed"]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if cfg.get("deterministic", True):
        torch.use_deterministic_algorithms(True)
    torch.set_num_threads(cfg.get("threads", 1))
    data = Windows(data_folder)
    held_out = cfg.get("held_out", [])
    train_idx = data.select("train", held_out)
    val_idx = data.select("val", held_out)
    labels = data.label[train_idx]
    normal = data.classes.index("normal")
    early = data.episode_age()[data.end[train_idx]] <= cfg.get("early_minutes", 5)
    by_class = [(int(c), train_idx[labels == c],
                 train_idx[(labels == c) & early] if c != normal else train_idx[:0])
                for c in np.unique(labels)]
    # Normalisation statistics from the training scenarios' minutes only.
    train_rows = np.unique((data.end[train_idx][:, None] + np.arange(-WINDOW + 1, 1)[None, :]).ravel())
    mean, std = feature_statistics(data.minutes[train_rows])
    model = build(cfg, 130, mean, std)
    ce_weight = cfg.get("ce_weight", 0.0)
    head = torch.nn.Linear(cfg["dim"], len(data.classes))
    parameters = list(model.parameters()) + (list(head.parameters()) if ce_weight else [])
    optimiser = torch.optim.Adam(parameters, lr=cfg["lr"])
    curve, best = [], (-1.0, None)  # with no validation windows, the last state wins
    progress = tqdm(range(cfg["steps"]), desc="training", unit="step")
    for step in progress:
        model.train()
        picks, batch_labels = sample_batch(rng, by_class, cfg["classes_per_batch"], cfg["per_class"],
                                           cfg.get("early_share", 0.0))
        embeddings = model(data.batch(picks))
        loss = triplet_loss(embeddings, batch_labels, cfg["margin"], cfg["mining"])
        if ce_weight:
            loss = loss + ce_weight * torch.nn.functional.cross_entropy(head(embeddings), batch_labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        entry = {"step": step + 1, "loss": float(loss.detach())}
        if (step + 1) % cfg["eval_every"] == 0 or step + 1 == cfg["steps"]:
            entry["val_knn_macro_recall"] = knn_accuracy(model, data, train_idx, val_idx)
            score = entry["val_knn_macro_recall"]
            if score is None or score >= best[0]:
                best = (-1.0 if score is None else score,
                        {k: v.clone() for k, v in model.state_dict().items()})
        curve.append(entry)
        progress.set_postfix(loss=f"{entry['loss']:.3f}")
    if best[1] is not None:
        model.load_state_dict(best[1])
    os.makedirs(out, exist_ok=True)
    torch.save({"state": model.state_dict(), "config": cfg,
                "classes": data.classes, "manifest": data.manifest}, os.path.join(out, "model.pt"))
    summary = {"config": cfg, "curve": curve, "best_val_knn_macro_recall": best[0],
               "train_windows": int(len(train_idx)), "val_windows": int(len(val_idx)),
               "dataset_content_hash": data.manifest["content_hash"],
               "seconds": round(time.time() - started, 1)}
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    with open(args.config) as f:
        cfg = json.load(f)
    summary = train(args.data, args.out, cfg)
    print(f"trained in {summary['seconds']} s; best validation kNN macro recall "
          f"{summary['best_val_knn_macro_recall']}", file=sys.stderr)


if __name__ == "__main__":
    main()
