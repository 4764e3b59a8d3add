"""The two pipelines bench_loop.py times, each in a fresh interpreter so that it has its own peak
memory and compute clock:

    python benchmarks/loop_pipelines.py ours|naive JOB_JSON

prints one line, RESULT {json}. `ours` is the engine (create_run / execute_run); `naive` is the
common torchvision pipeline (ImageFolder + DataLoader, decoding every JPEG on every pass).
"""
from __future__ import annotations

import copy
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# samplers the naive pipeline can run from its pool probabilities alone
NAIVE_SAMPLERS = ("random", "least_confidence", "margin", "entropy")
NAIVE_PREDICT_BATCH = 256  # a common inference batch (and the engine's before it sized CPU batches)


# --- measuring --------------------------------------------------------------------------------
def _rss_kib(pid: int | str = "self") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


class PeakMemory:
    """Peak resident memory of this process, and of it plus its children (DataLoader workers)
    sampled every 0.1 s; forked workers share pages with their parent, so that sum overcounts."""

    def __init__(self):
        self.peak_with_children_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.1):
            total = _rss_kib(me) + sum(_rss_kib(c) for c in _descendants(me))
            self.peak_with_children_kib = max(self.peak_with_children_kib, total)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @staticmethod
    def peak_self_mib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (loader workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class Timed:
    """Wraps a function and adds up the seconds spent in it."""

    def __init__(self, fn):
        self.fn, self.seconds = fn, 0.0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


# --- workers: each runs in its own subprocess and prints one RESULT line -------------------------
def ours_worker(job: dict) -> dict:
    """One run through the engine; `job["warm_only"]` refuses to extract features."""
    import alcore.learners as learners
    import alcore.runner as runner
    from alcore.config import ExperimentConfig
    from alcore.runs import RunStore
    from alcore.train import COMPUTE

    COMPUTE.start()
    decode = runner.load_run_data = Timed(runner.load_run_data)
    prepare = runner.make_learner = Timed(runner.make_learner)
    if job.get("warm_only"):
        def refuse(*args, **kwargs):
            raise RuntimeError("feature cache is cold")
        learners.extract_features = learners.FeatureExtractor = refuse
    inferred = []  # images per inference pass
    extract, extractor = learners.extract_features, learners.FeatureExtractor

    def counted(model, images, *args, rows=None, **kwargs):
        inferred.append(len(images) if rows is None else len(rows))
        return extract(model, images, *args, rows=rows, **kwargs)

    class CountedExtractor(extractor):  # the frozen learner's cache fill
        def __call__(self, images, *args, **kwargs):
            inferred.append(len(images))
            return super().__call__(images, *args, **kwargs)

    learners.extract_features = counted
    if not job.get("warm_only"):
        learners.FeatureExtractor = CountedExtractor
    store = RunStore(job["results"])
    cfg = ExperimentConfig(**job["config"])  # threads 0 (the default): every core, as the naive pipeline has
    cpu0 = cpu_seconds()
    with PeakMemory() as memory:
        start = time.perf_counter()
        run_id = runner.create_run(cfg, store)
        status = runner.execute_run(store, run_id)
        wall = time.perf_counter() - start
    if status.state != "done":
        return {"error": status.error or status.state}
    rounds = store.load_rounds(run_id)
    config = store.load_resolved(run_id)
    parts = {"decode": decode.seconds, "prepare": prepare.seconds,
             "train": sum(r.seconds.train for r in rounds), "eval": sum(r.seconds.eval for r in rounds),
             "query": sum(r.seconds.query for r in rounds)}
    sizes = config["split_sizes"]
    passes = None if cfg.regime != "finetune" else {"train": cfg.epochs * sum(r.n_labeled for r in rounds),
                                                    "infer": sum(inferred)}
    return {"wall": wall, "cpu": cpu_seconds() - cpu0, "compute": COMPUTE.seconds, "parts": parts,
            "peak_mib": PeakMemory.peak_self_mib(), "peak_children_mib": memory.peak_with_children_kib / 1024,
            "n_images": sum(sizes.values()), "initial_ids": config["initial_ids"], "passes": passes,
            "weights": config["weights_used"], "threads": config["threads"],
            "cache": str(__import__("alcore.data", fromlist=["cache_dir"]).cache_dir()),
            "rounds": [{"n_labeled": r.n_labeled, "accuracy": r.metrics.accuracy, "roc_auc": r.metrics.roc_auc}
                       for r in rounds],
            "picks": [list(r.queried_ids) for r in rounds]}


def naive_worker(job: dict) -> dict:
    """The common torchvision pipeline, decoding every JPEG on every pass."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    from alcore.config import ExperimentConfig
    from alcore.loop import round_seed
    from alcore.metrics import classification_metrics
    from alcore.models import build_classifier, dropout_generator
    from alcore.strategies import Pool, registry
    from alcore.runs import two_class_probs
    from alcore.train import TrainSettings

    cfg, workers = job["config"], job["workers"]
    defaults = ExperimentConfig()
    settings = TrainSettings(cfg["epochs"], 0, cfg["batch_size"], defaults.lr, defaults.weight_decay, False,
                             torch.device("cpu"))
    cpu0 = cpu_seconds()
    with PeakMemory() as memory:
        start = time.perf_counter()
        model, _ = build_classifier(cfg["model"], cfg["weights"], cfg["resolution"], cfg["seed"])
        # the engine's memory format (learners.Learner), so both sides run the same network
        model = model.to(memory_format=torch.channels_last)
        initial_state = copy.deepcopy(model.state_dict())
        mean = (model.preprocess.mean.flatten() / 255).tolist()
        std = (1 / (model.preprocess.inv_std.flatten() * 255)).tolist()
        tf = transforms.Compose([transforms.Grayscale(3), transforms.Resize((cfg["resolution"],) * 2),
                                 transforms.ToTensor(), transforms.Normalize(mean, std)])
        root = Path(job["folder"])
        train_set = datasets.ImageFolder(str(root / "train"), transform=tf)
        test_set = datasets.ImageFolder(str(root / "test"), transform=tf)
        test_labels = np.array(test_set.targets)
        row_of = {Path(p).relative_to(root).as_posix(): i for i, (p, _) in enumerate(train_set.samples)}
        labeled = np.zeros(len(train_set), bool)
        labeled[[row_of[i] for i in job["initial_ids"]]] = True
        clock = {"compute": 0.0, "wait": 0.0, "train": 0.0, "eval": 0.0, "query": 0.0}
        passes = {"train": 0, "infer": 0}

        def batches(loader):
            it = iter(loader)
            while True:
                t = time.perf_counter()
                try:
                    batch = next(it)
                except StopIteration:
                    return
                finally:
                    clock["wait"] += time.perf_counter() - t
                yield batch

        def logits(x):
            return model.head(model.backbone(x)).squeeze(1)

        def predict(dataset) -> np.ndarray:
            model.eval()
            loader = DataLoader(dataset, batch_size=NAIVE_PREDICT_BATCH, num_workers=workers)
            out = []
            with torch.inference_mode():
                for x, _ in batches(loader):
                    t = time.perf_counter()
                    out.append(torch.sigmoid(logits(x)))
                    clock["compute"] += time.perf_counter() - t
                    passes["infer"] += len(x)
            return torch.cat(out).numpy()

        rounds = []
        for r in range(cfg["rounds"] + 1):
            seed = round_seed(cfg["seed"], r)
            t0 = time.perf_counter()
            rows = np.flatnonzero(labeled)
            model.load_state_dict(initial_state)
            loader = DataLoader(Subset(train_set, rows.tolist()), batch_size=cfg["batch_size"], shuffle=True,
                                num_workers=workers, generator=torch.Generator().manual_seed(seed))
            optimiser = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
            loss_fn = nn.BCEWithLogitsLoss()
            model.train()
            with dropout_generator(model, torch.Generator().manual_seed(seed)):
                for _ in range(cfg["epochs"]):
                    for x, y in batches(loader):
                        if len(y) < 2:
                            continue
                        t = time.perf_counter()
                        loss = loss_fn(logits(x), y.float())
                        optimiser.zero_grad(set_to_none=True)
                        loss.backward()
                        optimiser.step()
                        clock["compute"] += time.perf_counter() - t
                        passes["train"] += len(x)
            t1 = time.perf_counter()
            probs = predict(test_set)
            metrics = classification_metrics(test_labels, probs)
            t2 = time.perf_counter()
            if r < cfg["rounds"]:
                unlabeled = np.flatnonzero(~labeled)
                pool_probs = predict(Subset(train_set, unlabeled.tolist()))
                empty = np.empty((len(unlabeled), 0), np.float32)
                sampler = cfg["sampler"] if cfg["sampler"] in NAIVE_SAMPLERS else "entropy"
                view = Pool(probs=two_class_probs(pool_probs), features=empty, labeled_features=empty[:0],
                            rng=np.random.default_rng([cfg["seed"], r]))
                labeled[unlabeled[registry.query(sampler, view, cfg["budget"]).indices]] = True
            t3 = time.perf_counter()
            clock["train"] += t1 - t0
            clock["eval"] += t2 - t1
            clock["query"] += t3 - t2
            rounds.append({"n_labeled": int(len(rows)), "accuracy": metrics["accuracy"],
                           "roc_auc": metrics["roc_auc"]})
        wall = time.perf_counter() - start
    parts = {k: clock[k] for k in ("train", "eval", "query", "wait")}
    return {"wall": wall, "cpu": cpu_seconds() - cpu0, "compute": clock["compute"], "parts": parts,
            "peak_mib": PeakMemory.peak_self_mib(), "peak_children_mib": memory.peak_with_children_kib / 1024,
            "threads": torch.get_num_threads(), "rounds": rounds, "passes": passes}


if __name__ == "__main__":
    kind, job = sys.argv[1:3]
    result = (naive_worker if kind == "naive" else ours_worker)(json.loads(job))
    print("RESULT " + json.dumps(result), flush=True)
