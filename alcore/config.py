"""The experiment configuration and its validation (one message per offending field)."""
from __future__ import annotations

import dataclasses
import difflib
import json
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from alcore.data.synthetic import MAX_CLASSES as SYNTHETIC_MAX_CLASSES, PRESETS, RARE_FINDING_SHARE
from alcore.data.synthetic import class_counts as synthetic_class_counts, class_names as synthetic_class_names
from alcore.data.synthetic import split_sizes as synthetic_split_sizes
from alcore.metrics import THRESHOLD_RULES

MODELS = ("efficientnet_lite0", "resnet18", "vgg16", "tiny_cnn")
REGIMES = ("frozen", "finetune")
INIT_MODES = ("random", "stratified")
DEVICES = ("auto", "cpu", "cuda")
ORACLES = ("simulated", "human")
WEIGHTS = ("auto", "imagenet", "none")
HEADS = ("logistic", "adamw")
# the models a run keeps (alcore.modelio): auto = every round's head (frozen) or the last round's network (finetune)
KEEP_MODELS = ("auto", "last", "all", "none")
SYNTHETIC_PRESETS = tuple(PRESETS)  # the generators of alcore.data.synthetic
DEFAULT_SEEDS = 5  # seeds per strategy of an experiment (a 624-image test set needs several)


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that defines one active-learning run. Defaults: a quick synthetic run."""

    data: str = "synthetic"  # "synthetic", a folder path, or a MedMNIST-style .npz path
    synthetic_size: int = 2000  # synthetic train-pool size (val/test scale with it)
    # the share of non-normal images; with more than two classes, of all of them together (split evenly)
    synthetic_pneumonia_share: float = 0.75
    # "standard", or "teaching": sub-populations, a borderline band and clear lesions, where the
    # textbook effects of the strategies show (a teaching preset, not realistic data; docs/teaching.md)
    synthetic_preset: str = "standard"
    # classes of the synthetic set: 2 (NORMAL, PNEUMONIA), 3 (NORMAL, BACTERIAL, VIRAL) or up to 8
    # (NORMAL, FINDING_1, ...; alcore.data.synthetic.FINDINGS); more than 2: the standard preset only
    synthetic_classes: int = 2
    model: str = "efficientnet_lite0"
    weights: str = "auto"  # auto | imagenet | none | path to a local state-dict file
    regime: str = "frozen"
    resolution: int = 128
    sampler: str = "entropy"
    sampler_options: dict[str, Any] = field(default_factory=dict)
    init_size: int = 100
    init_mode: str = "random"
    budget: int = 90
    rounds: int = 10
    epochs: int = 3  # finetune: passes over the labeled set per round
    finetune_steps: int = 0  # finetune: optimiser steps per round instead (0: `epochs` passes)
    val_share: float = 0.0  # finetune: labeled share held out for early stopping and the threshold (0: none)
    augment: bool = False  # finetune: light augmentation (small rotation, scale, shift, brightness, contrast)
    hflip: bool = False  # finetune, with augment: also random horizontal flips
    # frozen: "logistic" (L2 logistic regression, C and threshold cross-validated on the labeled rows)
    # or "adamw" (the earlier dropout + linear head, `head_steps` AdamW steps)
    head: str = "logistic"
    head_steps: int = 200  # frozen, head "adamw": optimiser steps of the head per round
    # the decision threshold from the labeled rows: "prior" (their PNEUMONIA share, the balanced-accuracy
    # point of calibrated probabilities) or "cv" (searched on out-of-fold / validation probabilities,
    # shrunk towards the prior when a class has few images); metrics.operating_threshold
    threshold_rule: str = "cv"
    # frozen: features also of the images resized to this size, concatenated with those at `resolution`
    # (two scales; 0: off). Real data, 224 + 288 px: README, results
    second_resolution: int = 0
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    class_weighted: bool = False
    seed: int = 0
    device: str = "auto"
    # cores the run may use (0: its executor's share, or the whole machine when it runs alone; the count
    # used is in config.json's resolved facts). Its numbers are the same on any number (alcore.cores)
    threads: int = 0
    oracle: str = "simulated"
    experiment: str = ""  # group id shared by the runs of one multi-strategy / multi-seed launch
    full_data: bool = False  # baseline: train once on the whole train pool (init/budget/rounds ignored)
    # False: skip the inference only the Embeddings page uses (labeled rows each round, the final
    # round's pool pass) and store no layouts; metrics and picks are the same either way
    record_embeddings: bool = True
    # the stopping signal (stabilizing predictions): kappa between successive rounds' predictions
    # on `stop_set_size` unlabeled pool images (0: off); stable when kappa >= stop_kappa for
    # stop_window rounds; stop_when_stable ends the run there (no more labels asked for). 0.99 is the
    # paper's; the deterministic logistic head reaches it on the real data (README, stopping)
    stop_set_size: int = 1000
    stop_kappa: float = 0.99
    stop_window: int = 3
    stop_when_stable: bool = False
    # the data layer (issue 25; README, data): the user's class names in order, the last positive, each
    # with what it matches ("NORMAL=No Finding,PNEUMONIA=Pneumonia"; empty: guessed only when
    # unambiguous); a label table's columns ("image=Path,label=Pneumonia"); what CheXpert's -1 becomes
    # (drop | positive | negative); where patients come from (auto | folder: the first folder below the class)
    classes: str = ""
    columns: str = ""
    uncertain: str = "drop"
    patient_from: str = "auto"
    # the model (issue 27; README, use the model): which rounds' models the run keeps (KEEP_MODELS), and
    # an MLflow tracking URI to log the run to ("": none; "default": MLflow's own default store)
    keep_models: str = "auto"
    mlflow: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], ignore_unknown: bool = False) -> ExperimentConfig:
        """The config of `values`: the defaults fill what is absent (a run saved before a setting
        existed) and a sampler's alias becomes its name. An unknown key is refused (a typo must not
        silently do nothing), or left out with `ignore_unknown` (a run folder's config.json, which
        also holds `run_id` and `resolved`, perhaps a newer version's settings)."""
        from alcore.strategies import registry  # late: strategies import numpy/sklearn

        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown and not ignore_unknown:
            raise ConfigError({k: f"unknown setting '{k}'" + "".join(
                f"; did you mean '{m}'?" for m in difflib.get_close_matches(k, sorted(known), n=1)) for k in unknown})
        settings = {k: v for k, v in values.items() if k in known}
        sampler = settings.get("sampler")
        if isinstance(sampler, str) and registry.is_known(sampler):
            settings["sampler"] = registry.canonical(sampler)
        return cls(**settings)

    @classmethod
    def from_json(cls, path: str | Path) -> ExperimentConfig:
        """A JSON file of settings; a run's config.json works too (its run id and `resolved` are left out)."""
        values = read_json_object(path, "config")
        return cls.from_dict({k: v for k, v in values.items() if k not in ("run_id", "resolved")})

    @property
    def n_evaluations(self) -> int:
        return 1 if self.full_data else self.rounds + 1

    @property
    def final_labeled(self) -> int:
        return self.init_size + self.budget * self.rounds


# The one-click demo: EfficientNet-Lite0 ImageNet features (frozen) on the synthetic teaching preset with a
# rare finding (5 % PNEUMONIA), where the model visibly learns and uncertainty sampling finds the rare class
# far sooner than random: measured over 5 seeds (docs/teaching.md; at 30 % no strategy's lead was measurable).
# Small, so that its 11 rounds compute in about 10 s on one CPU core: 600 + 60 + 600 images at 64 px.
DEMO_CONFIG = ExperimentConfig(resolution=64, synthetic_size=600, synthetic_preset="teaching",
                               synthetic_pneumonia_share=RARE_FINDING_SHARE, init_size=30, budget=30, rounds=10)
# The three-class demo (issue 26): NORMAL / BACTERIAL / VIRAL from the standard generator (150 / 225 / 225 of
# 600), where least confidence, margin and entropy pick different images. Its size and schedule are the demo's.
# Frozen EfficientNet-Lite0 features with a multinomial logistic head reach a macro AUC of about 0.78 on 60
# random labels and 0.88 on all 600 (the data helper's check, measured once; not a run's number).
THREE_CLASS_DEMO_CONFIG = replace(DEMO_CONFIG, synthetic_preset="standard", synthetic_classes=3,
                                  synthetic_pneumonia_share=0.75)
# The ready-made configs the Setup page offers (and a race can start from), by name.
CONFIG_PRESETS = {"demo (two classes, rare finding)": DEMO_CONFIG, "three-class demo": THREE_CLASS_DEMO_CONFIG}


class ConfigError(ValueError):
    """Invalid settings; `problems` maps each field to a message a person can act on."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))


def positive_int(value: Any) -> bool:
    """A whole number above 0 (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def validate(cfg: ExperimentConfig, pool_size: int | None = None) -> dict[str, str]:
    """Return {field: message} for every invalid setting; empty when the config can run.

    `pool_size` (the unlabeled train pool) adds the size checks that need the data (pool_problems).
    """
    problems = {**_choice_problems(cfg), **_data_layer_problems(cfg), **_number_problems(cfg),
                **_stopping_problems(cfg), **_source_problems(cfg)}
    if "sampler" not in problems and "sampler_options" not in problems:
        from alcore.strategies import registry  # late: strategies import numpy/sklearn
        problems.update(registry.validate_options(cfg.sampler, cfg.sampler_options))
    if pool_size is not None and not {"init_size", "budget", "rounds"} & set(problems):
        problems.update(pool_problems(cfg, pool_size))
    return problems


def pool_problems(cfg: ExperimentConfig, pool_size: int) -> dict[str, str]:
    """The settings a train pool of `pool_size` images cannot serve: the data-dependent facts, checked
    again by the worker on the data it reads (the rest was checked once, when the run was created)."""
    if cfg.full_data:
        return {}
    if cfg.init_size > pool_size:
        return {"init_size": f"initial labeled size {cfg.init_size} exceeds the pool of {pool_size} images"}
    if cfg.final_labeled > pool_size:
        return {"budget": (f"init {cfg.init_size} + budget {cfg.budget} x {cfg.rounds} rounds = "
                           f"{cfg.final_labeled} labels, more than the pool of {pool_size} images; "
                           "lower the budget or the rounds")}
    return {}


def _choice_problems(cfg: ExperimentConfig) -> dict[str, str]:
    """Settings that name one of a list: model, regime, sampler, weights..."""
    from alcore.strategies import registry  # late: strategies import numpy/sklearn

    choices = {"model": MODELS, "regime": REGIMES, "init_mode": INIT_MODES, "device": DEVICES, "oracle": ORACLES,
               "head": HEADS, "synthetic_preset": SYNTHETIC_PRESETS, "threshold_rule": THRESHOLD_RULES,
               "keep_models": KEEP_MODELS}
    problems = {name: f"unknown {name} '{getattr(cfg, name)}'; choose one of: {', '.join(options)}"
                for name, options in choices.items() if getattr(cfg, name) not in options}
    if cfg.weights not in WEIGHTS and not Path(cfg.weights).is_file():
        problems["weights"] = (f"weights must be one of {', '.join(WEIGHTS)} or an existing file; "
                               f"'{cfg.weights}' was not found")
    if not registry.is_known(cfg.sampler):
        problems["sampler"] = f"unknown sampler '{cfg.sampler}'; choose one of: {', '.join(registry.names())}"
    if not isinstance(cfg.sampler_options, dict):
        problems["sampler_options"] = "sampler_options must be a JSON object, e.g. {\"pca_components\": 10}"
    return problems


def _number_problems(cfg: ExperimentConfig) -> dict[str, str]:
    """Counts, sizes, rates and switches out of their range or of the wrong type."""
    problems = {name: f"{name} must be a whole number above 0 (got {getattr(cfg, name)!r})"
                for name in ("synthetic_size", "resolution", "init_size", "budget", "rounds", "epochs", "head_steps",
                             "batch_size") if not positive_int(getattr(cfg, name))}
    if not (positive_int(cfg.threads) or (type(cfg.threads) is int and cfg.threads == 0)):
        problems["threads"] = (f"threads must be 0 (every core the run is given) or a whole number of cores "
                               f"(got {cfg.threads!r})")
    problems.update(_resolution_problems(cfg))
    if cfg.regime == "finetune" or cfg.head == "adamw":  # the frozen logistic head has no optimiser
        if not _number(cfg.lr) or not cfg.lr > 0:
            problems["lr"] = f"lr must be a number above 0 (got {cfg.lr!r})"
        if not _number(cfg.weight_decay) or cfg.weight_decay < 0:
            problems["weight_decay"] = f"weight_decay must be 0 or more (got {cfg.weight_decay!r})"
    for name in ("seed", "finetune_steps"):
        if not isinstance(getattr(cfg, name), int) or isinstance(getattr(cfg, name), bool) or getattr(cfg, name) < 0:
            problems[name] = f"{name} must be a whole number, 0 or more (got {getattr(cfg, name)!r})"
    if not _number(cfg.val_share) or not 0 <= cfg.val_share <= 0.5:
        problems["val_share"] = f"val_share must be between 0 (no early stopping) and 0.5 (got {cfg.val_share!r})"
    for name in ("class_weighted", "full_data", "record_embeddings", "augment", "hflip"):
        if not isinstance(getattr(cfg, name), bool):
            problems[name] = f"{name} must be true or false (got {getattr(cfg, name)!r})"
    return {**problems, **_synthetic_problems(cfg)}


def _synthetic_problems(cfg: ExperimentConfig) -> dict[str, str]:
    """The synthetic set's class count and share, in range whatever the data (a saved config keeps them);
    how they fit the preset and the pool size only for synthetic data."""
    problems = {}
    classes = cfg.synthetic_classes
    if not positive_int(classes) or not 2 <= classes <= SYNTHETIC_MAX_CLASSES:
        problems["synthetic_classes"] = (f"synthetic_classes must be a whole number from 2 to {SYNTHETIC_MAX_CLASSES} "
                                         f"(NORMAL and up to {SYNTHETIC_MAX_CLASSES - 1} findings; got {classes!r})")
    elif classes > 2 and cfg.synthetic_preset != "standard" and cfg.data == "synthetic":
        problems["synthetic_classes"] = (f"the {cfg.synthetic_preset} preset draws two classes; use the standard "
                                         f"preset for {classes} synthetic classes, or 2 classes")
    share = cfg.synthetic_pneumonia_share
    what = "PNEUMONIA share" if classes == 2 else "share of non-normal images (all findings together)"
    if not isinstance(share, (int, float)) or not 0.05 <= share <= 0.95:
        problems["synthetic_pneumonia_share"] = f"the {what} must be between 0.05 and 0.95 (got {share!r})"
    elif not problems and positive_int(cfg.synthetic_size) and classes > 2 and cfg.data == "synthetic":
        problems.update(_empty_synthetic_class(cfg))
    return problems


def _empty_synthetic_class(cfg: ExperimentConfig) -> dict[str, str]:
    """A synthetic class without an image in some split (few images, many classes, a small share)."""
    names = synthetic_class_names(cfg.synthetic_classes)
    for split, n in synthetic_split_sizes(cfg.synthetic_size, cfg.synthetic_preset).items():
        counts = synthetic_class_counts(n, cfg.synthetic_pneumonia_share, cfg.synthetic_classes)
        if min(counts) == 0:
            return {"synthetic_pneumonia_share": (
                f"with {cfg.synthetic_classes} classes and a share of {cfg.synthetic_pneumonia_share:g}, the {split} "
                f"split of {n} images gets no {names[counts.index(0)]} image: raise the share or the pool size")}
    return {}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _resolution_problems(cfg: ExperimentConfig) -> dict[str, str]:
    problems = {}
    if cfg.second_resolution != 0 and not (positive_int(cfg.second_resolution) and 16 <= cfg.second_resolution <= 1024):
        problems["second_resolution"] = (f"second_resolution must be 0 (off) or between 16 and 1024 pixels "
                                         f"(got {cfg.second_resolution!r})")
    elif cfg.second_resolution and cfg.regime != "frozen":
        problems["second_resolution"] = "second_resolution is for the frozen regime (its features are cached); use 0"
    elif cfg.second_resolution and cfg.head != "logistic":
        problems["second_resolution"] = ("second_resolution needs the logistic head (the AdamW head is sized for "
                                         "one scale of features); use head logistic, or 0")
    if positive_int(cfg.resolution) and not 16 <= cfg.resolution <= 1024:
        problems["resolution"] = f"resolution must be between 16 and 1024 pixels (got {cfg.resolution})"
    elif cfg.model == "vgg16" and positive_int(cfg.resolution) and cfg.resolution < 32:
        problems["resolution"] = f"vgg16 halves the image five times: it needs 32 pixels or more (got {cfg.resolution})"
    return problems


def _source_problems(cfg: ExperimentConfig) -> dict[str, str]:
    """Where the run reads its images and computes, and who labels."""
    problems = {}
    if cfg.full_data is True and cfg.oracle == "human":
        problems["full_data"] = ("the full-data baseline trains on every image of the pool, which nobody has "
                                 "labeled in human mode: drop the baseline, or run it with the simulated oracle")
    if cfg.device == "cuda":
        import torch
        if not torch.cuda.is_available():
            problems["device"] = "device 'cuda' was asked for but no CUDA GPU is visible; use 'auto' or 'cpu'"
    if not isinstance(cfg.mlflow, str):
        problems["mlflow"] = f"mlflow must be a tracking URI, 'default' or empty (got {cfg.mlflow!r})"
    if not isinstance(cfg.data, str) or not cfg.data.strip():
        problems["data"] = "data must be 'synthetic', a folder path, a label table or an .npz file path"
    elif cfg.data != "synthetic" and not Path(cfg.data).expanduser().exists():
        problems["data"] = f"data path not found: {cfg.data} (give 'synthetic', a folder, a label table or an .npz file)"
    return problems


def _data_layer_problems(cfg: ExperimentConfig) -> dict[str, str]:
    """The data layer's settings: choices, and --classes / --columns that parse."""
    from alcore.data import PATIENT_SOURCES, UNCERTAIN_POLICIES, DataError, parse_classes, parse_columns
    problems = {}
    for name, options in (("uncertain", UNCERTAIN_POLICIES), ("patient_from", PATIENT_SOURCES)):
        if getattr(cfg, name) not in options:
            problems[name] = f"unknown {name} '{getattr(cfg, name)}'; choose one of: {', '.join(options)}"
    for name, parse in (("classes", parse_classes), ("columns", parse_columns)):
        if not isinstance(getattr(cfg, name), str):
            problems[name] = f"{name} must be text like the --{name} flag's (got {getattr(cfg, name)!r})"
            continue
        try:
            parse(getattr(cfg, name))
        except DataError as exc:
            problems[name] = str(exc)
    return problems


def _stopping_problems(cfg: ExperimentConfig) -> dict[str, str]:
    problems = {}
    if not isinstance(cfg.stop_set_size, int) or isinstance(cfg.stop_set_size, bool) or cfg.stop_set_size < 0:
        problems["stop_set_size"] = f"stop_set_size must be a whole number, 0 (off) or more (got {cfg.stop_set_size!r})"
    if not isinstance(cfg.stop_kappa, (int, float)) or isinstance(cfg.stop_kappa, bool) or not 0 < cfg.stop_kappa <= 1:
        problems["stop_kappa"] = f"stop_kappa must be a number in (0, 1], e.g. 0.99 (got {cfg.stop_kappa!r})"
    if not positive_int(cfg.stop_window):
        problems["stop_window"] = f"stop_window must be a whole number above 0 (got {cfg.stop_window!r})"
    if not isinstance(cfg.stop_when_stable, bool):
        problems["stop_when_stable"] = f"stop_when_stable must be true or false (got {cfg.stop_when_stable!r})"
    elif cfg.stop_when_stable and cfg.stop_set_size == 0:
        problems["stop_when_stable"] = "stop_when_stable needs a stop set: set stop_set_size above 0"
    return problems


def check(cfg: ExperimentConfig, pool_size: int | None = None) -> None:
    """Raise ConfigError listing every problem, or return if the config can run."""
    problems = validate(cfg, pool_size)
    if problems:
        raise ConfigError(problems)


def new_experiment_name() -> str:
    """Time plus 24 random bits: two launches in the same second stay two experiments."""
    return datetime.now().strftime("exp-%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def experiment_configs(base: ExperimentConfig, samplers: dict[str, dict], seeds: int, baseline: bool,
                       experiment: str = "") -> list[ExperimentConfig]:
    """One config per sampler x seed (seeds base.seed, base.seed + 1, ...), plus the full-data baseline.

    `samplers` maps each sampler to its options. Several runs share one experiment name.
    """
    several = len(samplers) * seeds + baseline > 1
    name = experiment or base.experiment or (new_experiment_name() if several else "")
    configs = [replace(base, sampler=sampler, sampler_options=dict(options), seed=base.seed + k, experiment=name)
               for sampler, options in samplers.items() for k in range(seeds)]
    if baseline:
        configs.append(replace(base, sampler="random", sampler_options={}, full_data=True, experiment=name))
    return configs


def read_json_object(path: str | Path, what: str) -> dict:
    """A JSON file holding one object; ConfigError (under the key `what`) naming the file otherwise."""
    try:
        values = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError({what: f"{what} file not found: {path}"}) from None
    except json.JSONDecodeError as exc:
        raise ConfigError({what: f"{path} is not valid JSON ({exc.msg}, line {exc.lineno})"}) from None
    if not isinstance(values, dict):
        raise ConfigError({what: f"{path} must hold a JSON object"})
    return values
