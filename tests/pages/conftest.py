"""Fixtures for the dashboard tests: a scratch results folder, runs written without the engine, AppTest."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from alcore.config import ExperimentConfig
from alcore.records import RoundRecord
from alcore.data import cache
from alcore.data.base import Dataset, Split
from alcore.jobs import JobManager, manager_for
from alcore.runs import RunStatus, RunStore, probs_for_file

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # the pages import `ui.*`, as under `streamlit run`
FAKE_FINGERPRINT = "fake-dashboard-test"
POOL = 60
TWO = ("NORMAL", "PNEUMONIA")
THREE = ("NORMAL", "BACTERIAL", "VIRAL")  # what the synthetic generator names three classes
TINY = dict(model="tiny_cnn", regime="finetune", resolution=32, synthetic_size=200, init_size=20, budget=10,
            rounds=2, epochs=1)


@pytest.fixture
def store(tmp_path, monkeypatch) -> RunStore:
    """An empty results folder that the dashboard reads ($ALCORE_RESULTS); the test's folder is one
    the browser may name (data, export)."""
    root = tmp_path / "results"
    monkeypatch.setenv("ALCORE_RESULTS", str(root))
    monkeypatch.setenv("ALCORE_ALLOWED_ROOTS", str(tmp_path))
    return RunStore(root)


@pytest.fixture
def jobs(store) -> JobManager:
    manager = manager_for(store.root)
    yield manager
    for run_id in manager.active_ids():  # never leave a worker thread behind
        manager.cancel(run_id)
        manager.wait(run_id, timeout=60)


def sample_id(split: str, i: int, long_ids: bool = False) -> str:
    """A fake sample id; `long_ids`: as long as a real folder's file paths."""
    return f"{split}/PNEUMONIA/person{1000 + i}_bacteria_{4000 + 7 * i}.jpeg" if long_ids else f"fake-{split}-{i:03d}"


def fake_labels(n: int, classes: tuple[str, ...]) -> np.ndarray:
    """Two classes: every fourth image NORMAL, the others PNEUMONIA; three: 0, 1, 2, 0, 1, 2, ..."""
    return (np.arange(n) % 4 != 0).astype(np.int64) if len(classes) == 2 else np.arange(n) % len(classes)


def fake_dataset(long_ids: bool = False, classes: tuple[str, ...] = TWO) -> Dataset:
    rng = np.random.default_rng(0)

    def split(name: str, n: int) -> Split:
        return Split(rng.integers(0, 255, (n, 16, 16), dtype=np.uint8), fake_labels(n, classes),
                     np.array([sample_id(name, i, long_ids) for i in range(n)]),
                     np.array([f"synthetic:{name}:{i}" for i in range(n)]))

    return Dataset("fake", fake_fingerprint(long_ids, classes), 16,
                   {"train": split("train", POOL), "val": split("val", 10), "test": split("test", 20)}, classes=classes)


def fake_fingerprint(long_ids: bool, classes: tuple[str, ...] = TWO) -> str:
    return FAKE_FINGERPRINT + ("-long-ids" if long_ids else "") + ("" if classes == TWO else f"-{len(classes)}")


def stored_probs(rng: np.random.Generator, labels: np.ndarray, n_classes: int, lean: float) -> np.ndarray:
    """Class probabilities as a round file stores them (runs.probs_for_file), `lean` of the way towards
    the true class: two classes, p(positive) = lean * label + (1 - lean) * uniform noise (the draws of the
    binary tests' runs, unchanged); more classes, Dirichlet noise."""
    if n_classes == 2:
        return np.clip(labels * lean + rng.random(len(labels)) * (1 - lean), 0, 1).astype(np.float32)
    noise = rng.dirichlet(np.ones(n_classes), len(labels))
    return probs_for_file((1 - lean) * noise + lean * np.eye(n_classes)[labels])


def write_run(store: RunStore, *, sampler: str = "entropy", seed: int = 0, rounds: int = 3, state: str = "done",
              experiment: str = "", full_data: bool = False, error: str = "", record_embeddings: bool = True,
              long_ids: bool = False, classes: tuple[str, ...] = TWO, **settings) -> str:
    """A run folder as the engine leaves it: `rounds` rounds (the last one only evaluates and scores
    nothing); without embeddings, no layouts and no probabilities of labeled rows. `classes`: the data's
    class names (with three, (n, 3) probabilities and no threshold). `settings`: more config."""
    fingerprint = fake_fingerprint(long_ids, classes)
    if cache.load(fingerprint) is None:
        cache.save(fake_dataset(long_ids, classes))
    cfg = ExperimentConfig(**{"synthetic_size": POOL, "resolution": 16, **settings}, sampler=sampler, seed=seed,
                           init_size=10, budget=10, rounds=rounds - 1, experiment=experiment, full_data=full_data,
                           record_embeddings=record_embeddings)
    run_id = store.new_run_id(sampler, seed)
    store.run_dir(run_id).mkdir(parents=True)
    store.write_config(run_id, cfg, {"data_fingerprint": fingerprint, "data_summary": {"classes": list(classes)}})
    rng = np.random.default_rng(seed)
    labels, test_labels = fake_labels(POOL, classes), fake_labels(20, classes)
    ids = np.array([sample_id("train", i, long_ids) for i in range(POOL)])
    labeled = np.zeros(POOL, bool)
    labeled[:10] = True
    for r in range(rounds):
        prob = stored_probs(rng, labels, len(classes), lean=0.0)
        score = np.where(labeled | (r == rounds - 1), np.nan, rng.random(POOL))
        queried = np.zeros(POOL, bool)
        if r < rounds - 1:
            queried[np.flatnonzero(~labeled)[:10]] = True
        accuracy = 0.6 + 0.1 * r + 0.01 * seed
        record = {"round": r, "n_labeled": int(labeled.sum()),
                  "n_labeled_per_class": {**dict.fromkeys(classes[:-1], 3),
                                          classes[-1]: int(labeled.sum()) - 3 * (len(classes) - 1)},
                  "accuracy": accuracy, "balanced_accuracy": accuracy - 0.05, "precision": 0.8, "recall": 0.7,
                  "f1": accuracy - 0.02, "roc_auc": min(1.0, accuracy + 0.1),
                  "confusion_matrix": [[3, 2], [4, 11]] if len(classes) == 2 else [[5, 1, 1], [1, 5, 1], [1, 1, 4]],
                  "queried_ids": ids[queried].tolist(),
                  "train_seconds": 0.1, "query_seconds": 0.01, "eval_seconds": 0.01,
                  "stop_kappa": None if r == 0 else 0.9 + 0.05 * r, "predictions_stable": False,
                  "stopped_by_rule": False}
        arrays = {"ids": ids, "prob": prob, "score": score,
                  "queried": queried, "labeled": labeled.copy(), "label": labels.astype(np.int8),
                  "embedding": rng.normal(size=(POOL, 2)).astype(np.float32),
                  "features_pca": rng.normal(size=(POOL, 32)).astype(np.float16),
                  "cluster": (np.arange(POOL) % 3).astype(np.int32),
                  "test_prob": stored_probs(rng, test_labels, len(classes), lean=0.4),
                  "test_label": test_labels.astype(np.int8)}
        if not record_embeddings:
            arrays = {k: v for k, v in arrays.items() if k not in ("embedding", "features_pca", "cluster")}
            arrays["prob"] = prob.copy()
            arrays["prob"][labeled] = np.nan
        store.append_round(run_id, RoundRecord.from_dict(record), arrays)  # a line as older versions wrote it
        labeled |= queried
    store.write_status(run_id, RunStatus(state, round=rounds - 1, rounds_total=rounds, n_labeled=int(labeled.sum()),
                                         message="finished", error=error, started_at="2025-01-01T10:00:00+00:00"))
    store.append_log(run_id, f"fake run {run_id}")
    return run_id


@pytest.fixture
def make_run(store) -> Callable[..., str]:
    return lambda **kwargs: write_run(store, **kwargs)


@pytest.fixture
def tiny_config() -> Callable[..., ExperimentConfig]:
    """The smallest real run: a few seconds on two cores."""
    return lambda **changes: ExperimentConfig(**{**TINY, **changes})


def wait_until(condition: Callable[[], object], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def waiter() -> Callable[..., None]:
    return wait_until


def image_captions(at: AppTest) -> list[str]:
    return [caption for image in at.get("image") for caption in image.captions]


@pytest.fixture
def captions() -> Callable[[AppTest], list[str]]:
    return image_captions


def dashboard_page(page: str, **query: str | None) -> AppTest:
    """The dashboard run on `page` with these URL query parameters (e.g. run=..., race=...), as a fresh
    server renders it; no exception shown."""
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=60)
    for key, value in query.items():
        if value:
            at.query_params[key] = value
    at.run()
    if page != "dashboard.py":
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def open_page(store) -> Callable[..., AppTest]:
    """Run the dashboard on a page: open_page("pages/live.py", run=run_id)."""
    return lambda page, run=None: dashboard_page(page, run=run)


def page_text(at: AppTest) -> str:
    """Everything the page shows (main area, sidebar, chart specs), as protobuf text: for checks on wording."""
    def walk(node):
        yield node
        for child in getattr(node, "children", {}).values():
            yield from walk(child)

    return "\n".join(str(node.proto) for node in walk(at._tree) if getattr(node, "proto", None) is not None)


@pytest.fixture
def texts() -> Callable[[AppTest], str]:
    return page_text
