"""Which phases of a run give other numbers on another thread count (issue 30).

    .venv/bin/python benchmarks/bench_threads.py [--threads 1 2 4] [--size 96]

Each phase's output is computed at each thread count and compared bit for bit with the one-thread
result. "intra-op" is how a phase computed before issue 30: torch (and BLAS / OpenMP) split each
operation over N threads of the calling thread. "pieces" is the run's way now (alcore.cores): a fixed
partition of the work, each piece on one thread, N worker threads. The head, the strategies
(registry.query) and the layout compute on one BLAS / OpenMP thread in a run since issue 30: their
"intra-op" line tells why. The machine's load does not matter here (nothing is timed).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from threadpoolctl import threadpool_limits

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alcore.data.folder import decode_image  # noqa: E402
from alcore.data.synthetic import render  # noqa: E402
from alcore.models import build_classifier  # noqa: E402
from alcore.strategies import Pool, registry  # noqa: E402
from alcore.runs import two_class_probs  # noqa: E402
from alcore.train import FeatureExtractor, PieceStep, WholeBatchStep, fit_logistic_head, head_probs  # noqa: E402

SHARED_DATA = REPO.parent / "shared" / "data" / "chest_xray"


@contextlib.contextmanager
def intra_op(threads: int):
    """torch, BLAS and OpenMP with `threads` threads in this thread (the run's way before issue 30)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            yield
    finally:
        torch.set_num_threads(previous)


def same(outputs: list) -> str:
    """'identical', or the largest difference from the first output."""
    first = outputs[0]
    worst = 0.0
    for other in outputs[1:]:
        a, b = (np.asarray(x, dtype=np.float64) for x in (first, other))
        if a.shape != b.shape:
            return "different shapes"
        worst = max(worst, float(np.abs(a - b).max()) if a.size else 0.0)
    return "identical" if worst == 0 else f"differ (max {worst:.2g})"


def images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """n synthetic chest films (half of them with opacities), uint8 (n, size, size)."""
    return torch.from_numpy(render(np.arange(n) % 2, size, np.random.default_rng(seed)))


def decode_phase(folder: Path, threads: list[int], size: int) -> dict[str, str]:
    files = sorted(p for p in (folder / "train").rglob("*.jpeg"))[:120]
    if not files:
        return {"intra-op": "skipped (no real data)"}
    outputs = []
    for n in threads:
        with ThreadPoolExecutor(n) as pool:
            outputs.append(np.stack(list(pool.map(lambda p: decode_image(p, size), files))))
    return {"intra-op": same(outputs) + f" ({len(files)} files, a pool of N decoding threads)"}


def inference_phase(model_name: str, threads: list[int], size: int, n: int) -> dict[str, str]:
    model, _ = build_classifier(model_name, "auto", size, 0)
    model = model.eval().to(memory_format=torch.channels_last)
    x = images(n, size)
    old, new = [], []
    for cores in threads:
        with intra_op(cores), torch.inference_mode():
            extractor = FeatureExtractor(model, x[:2], torch.device("cpu"), cores=1)
            batches = [extractor.network(x[s:s + extractor.batch_size]) for s in range(0, n, extractor.batch_size)]
            old.append(torch.cat(batches).numpy())
        new.append(FeatureExtractor(model, x[:2], torch.device("cpu"), cores=cores)(x).numpy())
    return {"intra-op": same(old), "pieces": same(new)}


def training_phase(threads: list[int], size: int, steps: int = 3, batch: int = 32) -> dict[str, str]:
    x = images(batch * steps, size, seed=1)
    y = torch.arange(len(x)) % 2
    old, new = [], []
    for cores in threads:
        for way, out in (("intra-op", old), ("pieces", new)):
            model, _ = build_classifier("resnet18", "none", size, 0)
            model = model.train().to(memory_format=torch.channels_last)
            optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
            loss_fn = torch.nn.BCEWithLogitsLoss()
            step = WholeBatchStep(model, loss_fn, optimiser) if way == "intra-op" else \
                PieceStep(model, loss_fn, optimiser, cores)
            generator = torch.Generator().manual_seed(0)
            with intra_op(cores) if way == "intra-op" else contextlib.nullcontext():
                for s in range(steps):
                    step(x[s * batch:(s + 1) * batch], y[s * batch:(s + 1) * batch].float(), None, generator)
            out.append(torch.cat([p.detach().flatten() for p in model.parameters()]).numpy())
    return {"intra-op": same(old), "pieces": same(new)}


def head_phase(threads: list[int]) -> dict[str, str]:
    rng = np.random.default_rng(0)
    features = torch.from_numpy(rng.standard_normal((3000, 1280)).astype(np.float32))
    labels = (rng.random(200) < 0.7).astype(int)
    directions = np.random.default_rng(1).standard_normal((1280, 64)).astype(np.float32)
    standardised, logistic, adamw = [], [], []
    for n in threads:
        with intra_op(n):
            z = ((features - features.mean(0)) / (features.std(0) + 1e-6)).numpy()
            standardised.append(z @ directions)
            fitted = fit_logistic_head(standardised[-1][:200], labels, False, 0)
            logistic.append(fitted.probs(standardised[-1]))
            head = build_classifier("tiny_cnn", "none", 32, 0)[0].head
            adamw.append(head_probs(head, features[:, :32], mc_passes=3, generator_seed=0)[1].numpy())
    return {"standardise + PCA projection": same(standardised), "logistic head (Newton, BLAS)": same(logistic),
            "AdamW head's MC passes": same(adamw)}


def strategy_phase(threads: list[int]) -> dict[str, str]:
    """registry.query under N threads (it limits BLAS and OpenMP to one thread itself since issue 30)."""
    rng = np.random.default_rng(2)
    n, d = 4000, 64
    probs = two_class_probs(rng.random(n).astype(np.float32))  # (n, 2): [1 - p, p]
    features = rng.standard_normal((n, d)).astype(np.float32)
    mc = two_class_probs(rng.random((5, n)).astype(np.float32))  # (5, n, 2)
    results = {}
    for name in registry.names():
        picks = []
        for t in threads:
            with intra_op(t):
                pool = Pool(probs=probs, features=features, labeled_features=features[:50],
                            rng=np.random.default_rng([0, 1]), mc_probs=mc)
                picks.append(registry.query(name, pool, 90).indices)
        results[f"{name} (registry.query)"] = same(picks)
    return results


def layout_phase(threads: list[int]) -> dict[str, str]:
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    features = np.random.default_rng(3).standard_normal((4000, 512)).astype(np.float32)
    outputs, clusters = [], []
    for t in threads:
        with intra_op(t):
            reduced = PCA(n_components=50, random_state=0).fit_transform(features)
            outputs.append(reduced)
            clusters.append(KMeans(n_clusters=8, n_init=1, random_state=0).fit_predict(reduced[:, :10]))
    return {"PCA": same(outputs), "KMeans clusters": same(clusters)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--size", type=int, default=96, help="image side for the network phases")
    parser.add_argument("--images", type=int, default=96, help="images per inference phase")
    parser.add_argument("--data", default=str(SHARED_DATA), help="a Kaggle-layout folder for the decode phase")
    args = parser.parse_args()
    phases: list[tuple[str, Callable[[], dict[str, str]]]] = [
        ("decode", lambda: decode_phase(Path(args.data), args.threads, args.size)),
        ("feature extraction (efficientnet_lite0)", lambda: inference_phase("efficientnet_lite0", args.threads,
                                                                             args.size, args.images)),
        ("pool inference (resnet18)", lambda: inference_phase("resnet18", args.threads, args.size, args.images)),
        ("training steps (resnet18, 3 x 32)", lambda: training_phase(args.threads, args.size)),
        ("head", lambda: head_phase(args.threads)),
        ("strategies", lambda: strategy_phase(args.threads)),
        ("layout (PCA + KMeans)", lambda: layout_phase(args.threads)),
    ]
    print(f"# bench_threads: each output at {args.threads} threads against the first; torch {torch.__version__}")
    for name, measure in phases:
        for part, verdict in measure().items():
            print(f"{name:<42} {part:<32} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
