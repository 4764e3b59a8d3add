"""What the dashboard pages show, computed from the results store and the data cache. No streamlit.

Round files never change once listed, so their arrays, projections and the data sets behind
thumbnails are cached in-process (and UMAP layouts on disk, next to the round they belong to).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, fields, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from alcore.config import new_experiment_name, experiment_configs  # noqa: F401  (pages call views.experiment_configs)
from alcore.config import DEVICES, INIT_MODES, MODELS, ORACLES, REGIMES, ConfigError, ExperimentConfig, validate
from alcore.data.base import Dataset
from alcore.runs import RunStore, atomic_write_bytes, read_npz
from alcore.summary import rounds_frame

if TYPE_CHECKING:
    from alcore.jobs import JobManager

CLASS_NAMES = ("NORMAL", "PNEUMONIA")
PROJECTIONS = ("PCA", "UMAP")
LIVE_STATES = ("queued", "running", "waiting_for_labels")
RESUMABLE_STATES = ("interrupted", "cancelled", "failed")
# The one-click demo: the synthetic default (EfficientNet-Lite0 ImageNet features, frozen) made small enough
# for a first curve point within about 15 s on two CPU cores: 810 images at 64 px instead of 2,700 at 128.
DEMO_CONFIG = ExperimentConfig(resolution=64, synthetic_size=600, init_size=30, budget=30, rounds=10)


def results_root() -> Path:
    return Path(os.environ.get("ALCORE_RESULTS", "results"))


# --- run lists ---------------------------------------------------------------------------------
def data_label(config: dict) -> str:
    data = config.get("data", "?")
    if data == "synthetic":
        return f"synthetic ({config.get('synthetic_size', '?')})"
    return Path(data).name or data


def strategy_label(config: dict) -> str:
    return "full-data baseline" if config.get("full_data") else str(config.get("sampler", "?"))


def runs_table(store: RunStore) -> pd.DataFrame:
    """One row per run, newest first: what the Home page lists."""
    rows = [{"run_id": run.run_id, "state": run.status.state, "strategy": strategy_label(run.config),
             "data": data_label(run.config), "labels": run.last.get("n_labeled", 0),
             "best_accuracy": run.best_accuracy, "best_auc": run.best_auc,
             "started": _local_time(run.status.started_at), "experiment": run.config.get("experiment", "")}
            for run in store.list_runs()]
    columns = ["run_id", "state", "strategy", "data", "labels", "best_accuracy", "best_auc", "started", "experiment"]
    return pd.DataFrame(rows, columns=columns)


def _local_time(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return ""


def experiments(store: RunStore) -> dict[str, list[str]]:
    """Experiment name -> its run ids, newest experiment first."""
    groups: dict[str, list[str]] = {}
    for run_id in store.run_ids():
        name = store.load_config(run_id).get("experiment", "")
        if name:
            groups.setdefault(name, []).append(run_id)
    return groups


# --- progress ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunProgress:
    """A run's progress from its live job when this process runs it, else from status.json."""

    state: str
    round: int  # last finished round, -1 before the first
    rounds_total: int
    n_labeled: int
    fraction: float
    eta_seconds: float | None
    detail: str  # what it is doing now
    error: str
    attached: bool  # a job of this process computes it (so Stop works)

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    @property
    def resumable(self) -> bool:
        return self.state in RESUMABLE_STATES

    @property
    def text(self) -> str:
        parts = [f"Round {self.round + 1} of {self.rounds_total} finished", f"{self.n_labeled} images labeled"]
        if self.eta_seconds is not None:
            parts.append(f"about {format_duration(self.eta_seconds)} left")
        return " · ".join(parts)


def run_progress(store: RunStore, jobs: JobManager, run_id: str) -> RunProgress:
    snap = jobs.snapshot(run_id)
    status = store.load_status(run_id)
    if snap is None or not snap.running:  # status.json holds the rounds; a finished job knows how it ended
        state, error = (status.state, status.error) if snap is None else (snap.state, snap.error or status.error)
        return RunProgress(state, status.round, status.rounds_total, status.n_labeled, status.progress,
                           None, status.message, error, attached=False)
    detail = snap.message
    if snap.phase_total:
        detail = f"{snap.phase} {snap.phase_done}/{snap.phase_total}"
    return RunProgress(snap.state, snap.round, snap.rounds_total, max(snap.n_labeled, status.n_labeled),
                       snap.progress, snap.eta_seconds, detail, snap.error, attached=True)


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


# --- one round ---------------------------------------------------------------------------------
def round_arrays(store: RunStore, run_id: str, round_index: int) -> dict[str, np.ndarray]:
    path = store.round_path(run_id, round_index)
    return _npz(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=48)
def _npz(path: str, mtime_ns: int) -> dict[str, np.ndarray]:
    return read_npz(Path(path))


def records_embeddings(store: RunStore, run_id: str) -> bool:
    """Whether the run stores each round's layout (runs from before the setting always did)."""
    return store.load_config(run_id).get("record_embeddings", True) is not False


def round_frame(store: RunStore, run_id: str, round_index: int) -> pd.DataFrame:
    """The train pool at one round: id, PCA x/y, cluster, label, p(PNEUMONIA), score, status.
    x/y are NaN and cluster -1 where the run recorded no embeddings."""
    a = round_arrays(store, run_id, round_index)
    status = np.where(a["queried"], "queried", np.where(a["labeled"], "labeled", "unlabeled"))
    labels = a["label"].astype(int)
    xy = a["embedding"] if "embedding" in a else np.full((len(a["ids"]), 2), np.nan, np.float32)
    return pd.DataFrame({
        "id": a["ids"], "x": xy[:, 0], "y": xy[:, 1], "cluster": a.get("cluster", np.full(len(a["ids"]), -1)),
        "label": np.where(labels < 0, "unknown", np.array(CLASS_NAMES)[labels.clip(0)]),
        "prob": a["prob"].astype(float), "score": a["score"].astype(float), "status": status,
    })


def projection(store: RunStore, run_id: str, round_index: int, method: str) -> np.ndarray:
    """(n, 2) layout of the round's train pool: PCA from the round file, or UMAP cached beside it."""
    arrays = round_arrays(store, run_id, round_index)
    if method == "PCA":
        return arrays["embedding"]
    path = store.run_dir(run_id) / "rounds" / f"umap_{round_index:03d}.npy"
    if path.is_file():
        return np.load(path)
    layout = umap_layout(arrays["features_pca"])
    atomic_write_bytes(path, _npy_bytes(layout))
    return layout


def umap_layout(features: np.ndarray) -> np.ndarray:
    """UMAP on exact neighbours (sklearn): skipping pynndescent saves a minute of numba compiling,
    and 200 epochs lay out 5,000 points in about two seconds on two cores."""
    import umap  # late: importing it costs seconds
    from sklearn.neighbors import NearestNeighbors

    features = features.astype(np.float32)
    if len(features) < 4:  # no neighbourhood to lay out
        return np.zeros((len(features), 2), np.float32)
    k = min(15, len(features) - 1)
    distances, indices = NearestNeighbors(n_neighbors=k).fit(features).kneighbors(features)
    reducer = umap.UMAP(n_neighbors=k, min_dist=0.1, n_epochs=200, precomputed_knn=(indices, distances, None))
    with warnings.catch_warnings():  # "no NNDescent index, so no transform()": we never transform
        warnings.simplefilter("ignore", UserWarning)
        return reducer.fit_transform(features).astype(np.float32)


def _npy_bytes(array: np.ndarray) -> bytes:
    import io
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def latest_queried_round(rounds: list[dict]) -> int | None:
    """The last round that queried images (the final round only evaluates)."""
    queried = [r["round"] for r in rounds if r.get("queried_ids")]
    return queried[-1] if queried else None


def queried_frame(store: RunStore, run_id: str, rounds: list[int]) -> pd.DataFrame:
    """The images queried in the given rounds, highest score first within a round."""
    frames = []
    for r in rounds:
        frame = round_frame(store, run_id, r)
        frames.append(frame[frame.status == "queried"].sort_values("score", ascending=False).assign(round=r))
    columns = ["round", "id", "label", "prob", "score"]
    return pd.concat(frames)[columns].reset_index(drop=True) if frames else pd.DataFrame(columns=columns)


# --- images ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunImages:
    dataset: Dataset
    rows: dict[str, tuple[str, int]]  # sample id -> (split, row)

    def image(self, sample_id: str) -> np.ndarray:
        split, row = self.rows[sample_id]
        return np.asarray(self.dataset.splits[split].images[row])

    def source(self, sample_id: str) -> str:
        split, row = self.rows[sample_id]
        return str(self.dataset.splits[split].sources[row])

    def label(self, sample_id: str) -> int:
        """The true label: 0 NORMAL, 1 PNEUMONIA, -1 unknown (an unlabeled folder)."""
        split, row = self.rows[sample_id]
        return int(self.dataset.splits[split].labels[row])


def run_images(store: RunStore, run_id: str) -> RunImages:
    """The decoded images of a run: the cache entry named in its config, else decoded again."""
    config = store.load_config(run_id)
    fingerprint = config.get("resolved", {}).get("data_fingerprint", "")
    return _images(fingerprint, config["data"], int(config["resolution"]), int(config["seed"]),
                   int(config.get("synthetic_size", 2000)), float(config.get("synthetic_pneumonia_share", 0.75)),
                   config.get("oracle") == "human")


@lru_cache(maxsize=4)
def _images(fingerprint: str, data: str, resolution: int, seed: int, size: int, share: float,
            allow_unlabeled: bool) -> RunImages:
    from alcore.data import load_dataset, open_cached

    dataset = open_cached(fingerprint) if fingerprint else None
    if dataset is None:
        dataset = load_dataset(data, resolution, seed=seed, synthetic_size=size, pneumonia_share=share,
                               allow_unlabeled=allow_unlabeled)
    rows = {sample_id: (name, row) for name, split in dataset.splits.items()
            for row, sample_id in enumerate(split.ids.tolist())}
    return RunImages(dataset, rows)


def images_by_id(store: RunStore, run_id: str, ids: list[str]) -> list[np.ndarray]:
    """Each sample's decoded (H, W) uint8 image, as the model saw it."""
    images = run_images(store, run_id)
    return [images.image(i) for i in ids]


def original_file(store: RunStore, run_id: str, sample_id: str) -> Path | None:
    """The image file a sample was decoded from, when it is a file still on disk."""
    source = Path(run_images(store, run_id).source(sample_id))
    return source if source.suffix and source.is_file() else None


# --- labeling (human oracle) ------------------------------------------------------------------
LARGEST_SHOWN = 1024  # px: an original file is shown at most this large on the Label page


def label_image(store: RunStore, run_id: str, sample_id: str) -> np.ndarray:
    """The X-ray a person labels, (H, W) uint8: the original file when it is on disk (its aspect
    ratio and detail kept), else the decoded array the model sees."""
    original = original_file(store, run_id, sample_id)
    if original is None:
        return images_by_id(store, run_id, [sample_id])[0]
    return _grayscale(str(original), original.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _grayscale(path: str, mtime_ns: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im.draft("L", (LARGEST_SHOWN, LARGEST_SHOWN))  # JPEG: decode at a reduced scale
        im.thumbnail((LARGEST_SHOWN, LARGEST_SHOWN))
        if not (im.mode == "F" or im.mode.startswith("I")):
            return np.asarray(im.convert("L"))
        pixels = np.asarray(im, np.float32)  # 16-bit or float: its own min..max becomes 0..255
    span = max(float(pixels.max() - pixels.min()), 1e-6)
    return np.rint((pixels - pixels.min()) * 255 / span).astype(np.uint8)


def adjust_image(image: np.ndarray, zoom: float = 1.0, centre: tuple[float, float] = (0.5, 0.5),
                 level: int = 128, width: int = 256) -> np.ndarray:
    """Zoom: the crop of 1/zoom of each side around `centre` (x, y as fractions of the image).
    Window: intensities level - width/2 .. level + width/2 stretched to 0..255 (128/256: unchanged)."""
    h, w = image.shape[:2]
    crop_h, crop_w = max(1, round(h / zoom)), max(1, round(w / zoom))
    top = int(np.clip(round(centre[1] * h - crop_h / 2), 0, h - crop_h))
    left = int(np.clip(round(centre[0] * w - crop_w / 2), 0, w - crop_w))
    crop = image[top:top + crop_h, left:left + crop_w].astype(np.float32)
    low = level - width // 2
    return np.clip(np.rint((crop - low) * 255 / max(width - 1, 1)), 0, 255).astype(np.uint8)


def model_view(store: RunStore, run_id: str, round_index: int, sample_id: str) -> tuple[float, float] | None:
    """(p(PNEUMONIA), strategy score) of an image queued for round r, from round r - 1 whose model
    picked it; None for the initial set (no model yet)."""
    if round_index < 1 or not store.round_path(run_id, round_index - 1).is_file():
        return None
    arrays = round_arrays(store, run_id, round_index - 1)
    hit = np.flatnonzero(arrays["ids"] == sample_id)
    return (float(arrays["prob"][hit[0]]), float(arrays["score"][hit[0]])) if hit.size else None


@dataclass(frozen=True)
class Agreement:
    """A person's labels against the true ones, over the labeled images whose truth is known."""

    n: int
    agreeing: int
    table: pd.DataFrame  # counts: a row per true class, a column per given label

    @property
    def share(self) -> float:
        return self.agreeing / self.n


def label_agreement(store: RunStore, run_id: str, answers: dict[str, tuple[str, int]]) -> Agreement | None:
    """`answers` (LabelBook.answers) against the truth; None when no labeled image has a known one."""
    images = run_images(store, run_id)
    counts = np.zeros((2, 2), dtype=int)
    for sample_id, (answer, _) in answers.items():
        truth = images.label(sample_id)
        if answer in CLASS_NAMES and truth >= 0:
            counts[truth, CLASS_NAMES.index(answer)] += 1
    if not counts.sum():
        return None
    table = pd.DataFrame(counts, index=[f"true {c}" for c in CLASS_NAMES],
                         columns=[f"labeled {c}" for c in CLASS_NAMES])
    return Agreement(int(counts.sum()), int(np.trace(counts)), table)


def simulated_twin(store: RunStore, run_id: str) -> str | None:
    """The run of the same experiment and settings whose labels came from the truth, if any."""
    def settings(config: dict) -> dict:
        return {k: v for k, v in config.items() if k not in ("run_id", "resolved", "oracle")}

    config = store.load_config(run_id)
    for other in experiments(store).get(config.get("experiment", ""), []):
        twin = store.load_config(other)
        if twin.get("oracle") == "simulated" and settings(twin) == settings(config):
            return other
    return None


# --- setup -------------------------------------------------------------------------------------
def gpu_name() -> str | None:
    import torch
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


@dataclass(frozen=True)
class PoolFacts:
    size: int  # images in the train pool
    labeled: bool  # every one has a true label, so a simulated twin of a human run can answer


def pool_facts(cfg: ExperimentConfig) -> PoolFacts:
    """Decodes (and caches) a folder or .npz; a human run accepts unlabeled images. Raises DataError."""
    if cfg.data == "synthetic":
        return PoolFacts(cfg.synthetic_size, True)
    from alcore.data import load_dataset
    train = load_dataset(cfg.data, cfg.resolution, seed=cfg.seed, synthetic_size=cfg.synthetic_size,
                         pneumonia_share=cfg.synthetic_pneumonia_share, allow_unlabeled=cfg.oracle == "human").train
    return PoolFacts(len(train), bool(np.all(train.labels >= 0)))




def with_twins(configs: list[ExperimentConfig]) -> list[ExperimentConfig]:
    """Each human-labeled run again with the true labels as its oracle, all in one experiment: the
    curve the strategy would have drawn had every answer been right."""
    twins = [replace(cfg, oracle="simulated") for cfg in configs if cfg.oracle == "human" and not cfg.full_data]
    if not twins:
        return configs
    name = configs[0].experiment or new_experiment_name()
    return [replace(cfg, experiment=name) for cfg in [*configs, *twins]]


# --- the Setup page's form: a flat dict of widget values <-> configs ----------------------------
FORM_FIELDS = tuple(f.name for f in fields(ExperimentConfig)
                    if f.name not in ("data", "sampler", "sampler_options", "full_data"))
FORM_CHOICES = {"model": MODELS, "regime": REGIMES, "init_mode": INIT_MODES, "device": DEVICES, "oracle": ORACLES}
FORM_DEFAULTS = ExperimentConfig()


def option_field(sampler: str, option: str) -> str:
    return f"opt_{sampler}_{option}"


def form_values(cfg: ExperimentConfig) -> dict[str, object]:
    """The form that shows `cfg`: one sampler, one seed, no baseline, a simulated twin of a human run.
    Also every sampler's options.

    Raises ConfigError for a value no widget can hold (a typo in a loaded file)."""
    from alcore.strategies import registry

    if not isinstance(cfg.data, str) or not isinstance(cfg.sampler, str) or not registry.is_known(cfg.sampler):
        raise ConfigError({"sampler": f"sampler must be one of {', '.join(registry.names())}; data must be text"})
    sampler = registry.canonical(cfg.sampler)
    known = {o.name for o in registry.get(sampler).options}
    if not isinstance(cfg.sampler_options, dict) or set(cfg.sampler_options) - known:
        raise ConfigError({"sampler_options": f"{sampler} takes the options: {', '.join(sorted(known)) or 'none'}"})
    source = "synthetic" if cfg.data == "synthetic" else "npz" if cfg.data.endswith(".npz") else "folder"
    form = {name: _form_value(name, getattr(cfg, name), getattr(FORM_DEFAULTS, name)) for name in FORM_FIELDS}
    form.update(source=source, path="" if source == "synthetic" else cfg.data, samplers=[sampler], seeds=1,
                baseline=False, twin=True)
    for info in registry.all_strategies():
        given = cfg.sampler_options if info.name == sampler else {}
        form.update({option_field(info.name, o.name): _form_value(o.name, given.get(o.name, o.default), o.default)
                     for o in info.options})
    return form


def _form_value(name: str, value: object, default: object) -> object:
    """`value` as the widget of a field with this default holds it, else ConfigError."""
    if name in FORM_CHOICES and value not in FORM_CHOICES[name]:
        raise ConfigError({name: f"unknown {name} {value!r}; choose one of: {', '.join(FORM_CHOICES[name])}"})
    numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
    if not numeric:
        if type(value) is not type(default):
            raise ConfigError({name: f"{name} must be {type(default).__name__} (got {value!r})"})
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(default, int) and not float(value).is_integer()):
        raise ConfigError({name: f"{name} must be a {type(default).__name__} number (got {value!r})"})
    return type(default)(value)


def form_configs(form: dict[str, object]) -> tuple[ExperimentConfig, list[ExperimentConfig]]:
    """The form's own config (its first sampler and seed: what Save writes) and the runs Launch starts."""
    from alcore.strategies import registry

    samplers = {name: {o.name: form[option_field(name, o.name)] for o in registry.get(name).options
                       if form[option_field(name, o.name)] != o.default}
                for name in form["samplers"]}
    first = next(iter(samplers), "")
    data = "synthetic" if form["source"] == "synthetic" else str(form["path"]).strip()
    base = ExperimentConfig(data=data, sampler=first, sampler_options=samplers.get(first, {}),
                            **{name: form[name] for name in FORM_FIELDS})
    seeds = form["seeds"] if _positive_int(form["seeds"]) else 1
    return base, experiment_configs(base, samplers, seeds, bool(form["baseline"]), base.experiment.strip())


def form_problems(form: dict[str, object], base: ExperimentConfig, configs: list[ExperimentConfig],
                  data_check: int | str | None) -> dict[str, str]:
    """{field: message} for everything that stops a launch. `data_check` is a folder's or .npz's
    pool size, or what is wrong with it, once checked; a sampler's options are 'sampler_options.<name>'."""
    problems: dict[str, str] = {}
    if not form["samplers"]:
        problems["sampler"] = "choose at least one sampler"
    if not _positive_int(form["seeds"]):
        problems["seeds"] = f"the number of seeds must be 1 or more (got {form['seeds']})"
    if isinstance(data_check, str):
        problems["data"] = data_check
    pool = data_check if isinstance(data_check, int) else None
    if base.data == "synthetic" and _positive_int(base.synthetic_size):
        pool = base.synthetic_size
    for cfg in configs or [base]:  # no sampler chosen: still check everything else
        for name, message in validate(cfg, pool).items():
            problems.setdefault(f"sampler_options.{cfg.sampler}" if name == "sampler_options" else name, message)
    return problems


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# --- comparison --------------------------------------------------------------------------------
IGNORED_IN_SERIES = {"run_id", "seed", "experiment", "resolved", "sampler", "full_data"}


def comparison_frame(store: RunStore, run_ids: list[str]) -> pd.DataFrame:
    """summary.rounds_frame whose 'strategy' names a series: the sampler, plus the settings that
    differ between the compared runs, so only runs differing in seed alone are averaged."""
    frame = rounds_frame(store, run_ids)
    configs = {run_id: store.load_config(run_id) for run_id in run_ids}
    al = [c for c in configs.values() if not c.get("full_data")]
    varying = sorted({k for c in al for k, v in c.items() if k not in IGNORED_IN_SERIES
                      and any(other.get(k) != v for other in al)})

    def series(config: dict) -> str:
        extra = ", ".join(f"{k}={config.get(k)}" for k in varying)
        return strategy_label(config) + (f" ({extra})" if extra and not config.get("full_data") else "")

    frame["strategy"] = frame.run_id.map({run_id: series(c) for run_id, c in configs.items()})
    return frame
