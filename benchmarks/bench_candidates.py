"""What might lift the frozen learner to issue 15's targets, measured on the same labeled sets.

    ALCORE_CACHE=... python benchmarks/bench_candidates.py --extract   # the views' features, once (minutes)
    ALCORE_CACHE=... python benchmarks/bench_candidates.py             # every candidate: a markdown table

Views of each image (EfficientNet-Lite0, ImageNet weights): `orig` (as stored, 224 px), `crop` (the
centre 87.5 %, resized back), `r288` (resized to 288 px); each with the pooled outputs of blocks 4,
7, 10 and 14 (40 to 192 channels: earlier, finer scales) besides the final 1,280 features.
Candidates: the stages concatenated; two resolutions concatenated (what `--second-resolution`
does); test-time averaging (the head fits on `orig`, the probability is averaged over views, for
the out-of-fold rows as for the test split); a one-hidden-layer MLP (scikit-learn, L-BFGS,
seeded: deterministic; its L2 alpha chosen like the logistic head's C, by out-of-fold log loss).

Labeled sets are random sampling's (bench_learner), 1,000 labels x seeds by default (`--init`,
`--budget`, `--round` for others), and every train label.
Nothing is chosen on the test split. `dev` columns score the train pool's images of patients with
no labeled image: train-split data, on which a default may be chosen. The test columns: ROC-AUC,
balanced accuracy at the "cv" threshold (the default: out-of-fold search, shrunk towards the
prior), at the "prior" threshold (the labeled PNEUMONIA share), at the search alone (the rule
before the shrinkage), and at the test-best threshold (a ceiling chosen on test, never a result).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from scipy.special import expit
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from alcore.data import cache_dir, load_dataset
from alcore.data.folder import patient_id
from alcore.diagnostics import reliability
from alcore.inference import cpu_inference_batch, inference_network
from alcore.learners import HEAD_COMPONENTS, principal_directions
from alcore.loop import round_seed
from alcore.metrics import bootstrap_intervals, choose_threshold, classification_metrics, operating_threshold
from alcore.models import build_classifier
from alcore.train import C_GRID, ResizedImages, fit_logistic, log_loss, stratified_folds
from bench_learner import random_labeled_sets

STAGES = (4, 7, 10, 14)  # EfficientNet-Lite0 blocks whose pooled outputs are kept
ALPHAS = (1e-2, 1e-1, 1.0, 10.0, 100.0)  # the MLP's L2 strengths
VIEWS = ("orig", "crop", "r288")


@dataclass(frozen=True)
class Candidate:
    name: str
    views: tuple[tuple[str, ...], ...]  # per averaged view, the views concatenated into its features
    blocks: tuple[str, ...] = ("final",)
    head: str = "logistic"
    grid: tuple[float, ...] = C_GRID


CANDIDATES = (
    Candidate("logistic, 224 px (default)", (("orig",),)),
    Candidate("logistic, stages 4/7/10/14 + final", (("orig",),), blocks=(*[f"b{i}" for i in STAGES], "final")),
    Candidate("logistic, test-time average orig + crop", (("orig",), ("crop",))),
    Candidate("logistic, test-time average orig + crop + 288", (("orig",), ("crop",), ("r288",))),
    Candidate("logistic, 224 + 288 px (--second-resolution 288)", (("orig", "r288"),)),
    Candidate("MLP 64, 224 px", (("orig",),), head="mlp", grid=ALPHAS),
    Candidate("MLP 64, test-time average orig + crop", (("orig",), ("crop",)), head="mlp", grid=ALPHAS),
    Candidate("MLP 64, 224 + 288 px", (("orig", "r288"),), head="mlp", grid=ALPHAS),
)


def _view_images(images: torch.Tensor, view: str):
    if view == "crop":
        margin = images.shape[-1] // 16
        return ResizedImages(images[:, margin:-margin, margin:-margin], images.shape[-1])
    return ResizedImages(images, 288) if view == "r288" else images


def extract(dataset, path) -> None:
    """Each view's block and final features of every train and test image, to `path`/<view>-<split>.npz."""
    model, _ = build_classifier("efficientnet_lite0", "auto", dataset.resolution, 0)
    for view in VIEWS:
        for split in ("train", "test"):
            started = time.perf_counter()
            images = _view_images(torch.from_numpy(np.ascontiguousarray(dataset.splits[split].images)), view)
            example = images[:2]
            network = inference_network(model.preprocess, model.backbone, example).to(memory_format=torch.channels_last)
            batch = cpu_inference_batch(network, example[:1])
            blocks = next(m for m in network.modules() if hasattr(m, "_blocks"))._blocks
            pooled: dict[int, torch.Tensor] = {}
            hooks = [blocks[i].register_forward_hook(lambda _m, _i, out, i=i: pooled.__setitem__(i, out.mean((2, 3))))
                     for i in STAGES]
            parts: dict[str, list] = {name: [] for name in (*[f"b{i}" for i in STAGES], "final")}
            with torch.inference_mode():
                for start in range(0, len(images), batch):
                    parts["final"].append(network(images[start:start + batch]).float())
                    for i in STAGES:
                        parts[f"b{i}"].append(pooled[i].float())
            for hook in hooks:
                hook.remove()
            np.savez(path / f"{view}-{split}.npz", **{k: torch.cat(v).numpy() for k, v in parts.items()})
            print(f"{view} {split}: {time.perf_counter() - started:.0f} s", flush=True)


def head_inputs(path, candidate: Candidate) -> list[dict[str, np.ndarray]]:
    """Per averaged view: {split: principal components of the standardised, concatenated features},
    the directions and standardisation from the first view's train pool (no label read)."""
    def raw(views: tuple[str, ...], split: str) -> np.ndarray:
        return np.hstack([np.load(path / f"{v}-{split}.npz")[b] for v in views for b in candidate.blocks])

    first = raw(candidate.views[0], "train")
    mean, std = first.mean(0), first.std(0) + 1e-6
    directions = principal_directions(((first - mean) / std).astype(np.float32), HEAD_COMPONENTS)
    return [{split: ((raw(views, split) - mean) / std) @ directions for split in ("train", "test")}
            for views in candidate.views]


def fit_predict(candidate: Candidate, fit_x: np.ndarray, y: np.ndarray, predict: list[np.ndarray],
                strength: float, seed: int) -> np.ndarray:
    """Fit on the first view's rows, return p averaged over the views' rows `predict`."""
    if candidate.head == "logistic":
        theta, _ = fit_logistic(fit_x, y, strength, False)
        return np.mean([expit(x @ theta[:-1] + theta[-1]) for x in predict], 0)
    mlp = MLPClassifier((64,), alpha=strength, solver="lbfgs", max_iter=300, random_state=seed % 2**32).fit(fit_x, y)
    return np.mean([mlp.predict_proba(x)[:, 1] for x in predict], 0)


def score(candidate: Candidate, inputs, rows: np.ndarray, labels: np.ndarray, test_labels: np.ndarray,
          patients: np.ndarray, seed: int) -> dict:
    y = labels[rows]
    out_of_fold = np.zeros((len(candidate.grid), len(y)))
    for fit_rows, held_out in stratified_folds(y, seed, patients[rows]):
        for k, strength in enumerate(candidate.grid):
            out_of_fold[k, held_out] = fit_predict(candidate, inputs[0]["train"][rows[fit_rows]], y[fit_rows],
                                                   [v["train"][rows[held_out]] for v in inputs], strength, seed)
    best = int(np.argmin([log_loss(y, p) for p in out_of_fold]))
    thresholds = {"cv": operating_threshold("cv", y, out_of_fold[best]), "prior": operating_threshold("prior", y, None),
                  "search": choose_threshold(y, out_of_fold[best])}  # the search alone, as before the shrinkage
    dev = np.flatnonzero(~np.isin(patients, patients[rows]))
    splits = (("test", slice(None)), ("train", dev)) if len(dev) else (("test", slice(None)),)
    probs, *dev_probs = (fit_predict(candidate, inputs[0]["train"][rows], y, [v[split][where] for v in inputs],
                                     candidate.grid[best], seed) for split, where in splits)
    row = {"auc": classification_metrics(test_labels, probs)["roc_auc"],
           "auc_ci": bootstrap_intervals(test_labels, probs, 0.5, seed)["roc_auc"],
           "ceiling": classification_metrics(test_labels, probs, choose_threshold(test_labels, probs))["balanced_accuracy"],
           "ece": reliability(test_labels, probs).ece, "oof_log_loss": log_loss(y, out_of_fold[best]),
           "strength": candidate.grid[best]}
    for rule, threshold in thresholds.items():
        row[f"bal_{rule}"] = classification_metrics(test_labels, probs, threshold)["balanced_accuracy"]
    if dev_probs:  # every train label fitted: no dev images
        row["dev_auc"] = classification_metrics(labels[dev], dev_probs[0])["roc_auc"]
        for rule, threshold in thresholds.items():
            row[f"dev_bal_{rule}"] = classification_metrics(labels[dev], dev_probs[0], threshold)["balanced_accuracy"]
    return row


def _cell(rows: list[dict], key: str) -> str:
    values = np.array([r[key] for r in rows if key in r], dtype=float)
    if not len(values):
        return "–"
    if len(values) == 1:
        low, high = rows[0][f"{key}_ci"] if f"{key}_ci" in rows[0] else (None, None)
        return f"{values[0]:.4f}" + (f" [{low:.3f}, {high:.3f}]" if low is not None else "")
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f} [{values.mean() - half:.3f}, {values.mean() + half:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/work/shared/data/chest_xray")
    parser.add_argument("--extract", action="store_true", help="compute the views' features first (minutes)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", default="", help="candidates whose name contains this text")
    parser.add_argument("--init", type=int, default=100)
    parser.add_argument("--budget", type=int, default=90)
    parser.add_argument("--round", type=int, default=10, help="the labeled set after this many random rounds")
    parser.add_argument("--no-full", dest="full", action="store_false", help="skip the fits on every train label")
    args = parser.parse_args()
    dataset = load_dataset(args.data, 224, seed=0)
    path = cache_dir() / "bench_candidates" / dataset.fingerprint
    path.mkdir(parents=True, exist_ok=True)
    if args.extract:
        extract(dataset, path)
    labels, test_labels = dataset.train.labels.astype(int), dataset.test.labels.astype(int)
    _, patients = np.unique([patient_id(i) for i in dataset.train.ids], return_inverse=True)
    sets = [(seed, random_labeled_sets(labels, seed, args.init, args.budget, args.round)[-1])
            for seed in range(args.seeds)]
    keys = ("auc", "bal_cv", "bal_prior", "bal_search", "ceiling", "ece", "dev_auc", "dev_bal_cv", "dev_bal_prior",
            "dev_bal_search", "oof_log_loss")
    print("| candidate | labels | test ROC-AUC | test bal. acc. (cv threshold) | test bal. acc. (prior threshold) "
          "| test bal. acc. (unshrunk search) | test-best bal. acc. (ceiling) | test ECE | dev ROC-AUC "
          "| dev bal. acc. (cv) | dev bal. acc. (prior) | dev bal. acc. (unshrunk search) | out-of-fold log loss "
          "| C / alpha chosen | s |")
    print("|---" * 15 + "|")
    for candidate in CANDIDATES:
        if args.only not in candidate.name:
            continue
        inputs = head_inputs(path, candidate)
        groups = [(str(len(sets[0][1])), sets)] + ([("5216", [(0, np.arange(len(labels)))])] if args.full else [])
        for n, runs in groups:
            started = time.perf_counter()
            with threadpool_limits(1):
                rows = [score(candidate, inputs, r, labels, test_labels, patients, round_seed(s, args.round))
                        for s, r in runs]
            cells = " | ".join(_cell(rows, key) for key in keys)
            print(f"| {candidate.name} | {n} | {cells} | {sorted({r['strength'] for r in rows})} | "
                  f"{time.perf_counter() - started:.0f} |", flush=True)


if __name__ == "__main__":
    main()
