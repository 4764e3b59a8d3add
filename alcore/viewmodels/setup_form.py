"""The Setup page's form, a flat dict of widget values, to and from configs; the facts it checks
before a launch (pool size, labels, GPU). No streamlit."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from alcore.config import (DEVICES, HEADS, INIT_MODES, KEEP_MODELS, MODELS, ORACLES, REGIMES, SYNTHETIC_PRESETS,
                           THRESHOLD_RULES, WEIGHTS, ConfigError, ExperimentConfig, experiment_configs, new_experiment_name,
                           positive_int, validate)
from alcore.data import PATIENT_SOURCES, UNCERTAIN_POLICIES
from alcore.paths import PathRefused, allowed_path

def gpu_name() -> str | None:
    import torch
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


@dataclass(frozen=True)
class PoolFacts:
    size: int  # images in the train pool
    labeled: bool  # every one has a true label, so a simulated twin of a human run can answer
    summary_text: str = ""  # the data summary, as `python -m alcore data` prints it
    thumbnails: tuple[tuple[str, np.ndarray], ...] = ()  # one windowed image per class


def pool_facts(cfg: ExperimentConfig) -> PoolFacts:
    """Decodes (and caches) a folder, table or .npz; a human run accepts unlabeled images. Raises DataError."""
    if cfg.data == "synthetic":
        return PoolFacts(cfg.synthetic_size, True)
    from alcore.data import class_thumbnails, run_data_summary
    dataset, summary = run_data_summary(cfg)
    train = dataset.train
    return PoolFacts(len(train), bool(np.all(train.labels >= 0)), summary.text(), tuple(class_thumbnails(dataset)))


def synthetic_classes_text(cfg: ExperimentConfig) -> str:
    """The synthetic train pool's classes and images per class ('NORMAL 500 · BACTERIAL 750 · VIRAL 750'),
    known before anything is drawn; "" while the settings it needs are invalid."""
    from alcore.data.synthetic import class_counts, class_names
    if {"synthetic_size", "synthetic_classes", "synthetic_pneumonia_share"} & set(validate(cfg)):
        return ""
    counts = class_counts(cfg.synthetic_size, cfg.synthetic_pneumonia_share, cfg.synthetic_classes)
    return " · ".join(f"{name} {n:,}" for name, n in zip(class_names(cfg.synthetic_classes), counts))


def data_check_key(cfg: ExperimentConfig) -> tuple:
    """The settings a data check depends on: a check of other settings does not stand for this one."""
    return (cfg.data, cfg.resolution, cfg.seed, cfg.oracle, cfg.classes, cfg.columns, cfg.uncertain, cfg.patient_from)


def table_header(path: str) -> list[str]:
    """A label table's column names, for the column pickers; [] when it is not a readable table."""
    from alcore.data.table import is_table, read_header
    table = Path(path.strip()).expanduser()
    if not is_table(table) or not table.is_file():
        return []
    try:
        return read_header(table)
    except (OSError, UnicodeDecodeError):
        return []


def source_of(data: str) -> str:
    """The Setup page's data source for a data setting: synthetic, npz, table or folder."""
    from alcore.data.table import is_table
    return "synthetic" if data == "synthetic" else "npz" if data.endswith(".npz") else \
        "table" if is_table(Path(data)) else "folder"




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
FORM_CHOICES = {"model": MODELS, "regime": REGIMES, "head": HEADS, "init_mode": INIT_MODES, "device": DEVICES,
                "oracle": ORACLES, "synthetic_preset": SYNTHETIC_PRESETS, "threshold_rule": THRESHOLD_RULES,
                "uncertain": UNCERTAIN_POLICIES, "patient_from": PATIENT_SOURCES, "keep_models": KEEP_MODELS}
FORM_DEFAULTS = ExperimentConfig()


def option_field(sampler: str, option: str) -> str:
    return f"opt_{sampler}_{option}"


def form_values(cfg: ExperimentConfig) -> dict[str, object]:
    """The form that shows `cfg`: one sampler, one seed, no baseline, a simulated twin of a human run.
    Also every sampler's options.

    Raises ConfigError for a setting no widget can show: a value of another type than the field's, or
    (with the engine's message) a choice, sampler or sampler option the engine does not know."""
    from alcore.strategies import registry

    problems = unshowable_settings(cfg)
    if problems:
        raise ConfigError(problems)
    sampler = registry.canonical(cfg.sampler)
    source = source_of(cfg.data)
    form = {name: _widget_value(getattr(cfg, name), getattr(FORM_DEFAULTS, name)) for name in FORM_FIELDS}
    form.update(source=source, path="" if source == "synthetic" else cfg.data, samplers=[sampler], seeds="1",
                baseline=False, twin=True)
    for info in registry.all_strategies():
        given = cfg.sampler_options if info.name == sampler else {}
        form.update({option_field(info.name, o.name): _widget_value(given.get(o.name, o.default), o.default)
                     for o in info.options})
    return {name: str(value) if name in typed_numbers(form) else value for name, value in form.items()}


def unshowable_settings(cfg: ExperimentConfig) -> dict[str, str]:
    """{field: message} for the settings of `cfg` that no widget of the form can hold. Other problems
    (a budget too large, a missing folder) load and are flagged next to their field."""
    wrong_type = {name: f"{name} must be {_KINDS[type(getattr(FORM_DEFAULTS, name))]} (got {getattr(cfg, name)!r})"
                  for name in (*FORM_FIELDS, "data", "sampler")
                  if not _holds(getattr(cfg, name), getattr(FORM_DEFAULTS, name))}
    if not isinstance(cfg.sampler_options, dict):
        wrong_type["sampler_options"] = "sampler_options must be a JSON object, e.g. {\"mc_passes\": 10}"
    if wrong_type:
        return wrong_type
    unknown = {name: message for name, message in engine_problems(cfg).items() if name in SHOWN_AS_CHOICES}
    if unknown:
        return unknown
    from alcore.strategies import registry
    wrong_options = [f"{o.name} must be {_KINDS[type(o.default)]} (got {cfg.sampler_options[o.name]!r})"
                     for o in registry.get(cfg.sampler).options
                     if o.name in cfg.sampler_options and not _holds(cfg.sampler_options[o.name], o.default)]
    return {"sampler_options": "; ".join(wrong_options)} if wrong_options else {}


_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}
SHOWN_AS_CHOICES = ("sampler", "sampler_options", *FORM_CHOICES)  # a widget lists what it may hold


def _holds(value: object, default: object) -> bool:
    """Whether the widget of a field with this default can hold `value` (a float field takes an int)."""
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return type(value) is type(default)


def _widget_value(value: object, default: object) -> object:
    return float(value) if isinstance(default, float) else value


def engine_problems(cfg: ExperimentConfig, pool_size: int | None = None) -> dict[str, str]:
    """The engine's per-field problems of `cfg` (config.validate): the one place the form asks for them."""
    return validate(cfg, pool_size)


def form_configs(form: dict[str, object]) -> tuple[ExperimentConfig, list[ExperimentConfig]]:
    """The form's own config (its first sampler and seed: what Save writes) and the runs Launch starts."""
    from alcore.strategies import registry

    form = {**form, **read_numbers(form)[0]}
    samplers = {name: {o.name: form[option_field(name, o.name)] for o in registry.get(name).options
                       if form[option_field(name, o.name)] != o.default}
                for name in form["samplers"]}
    first = next(iter(samplers), "")
    data = "synthetic" if form["source"] == "synthetic" else str(form["path"]).strip()
    base = ExperimentConfig(data=data, sampler=first, sampler_options=samplers.get(first, {}),
                            **{name: form[name] for name in FORM_FIELDS})
    seeds = form["seeds"] if positive_int(form["seeds"]) else 1
    return base, experiment_configs(base, samplers, seeds, bool(form["baseline"]), base.experiment.strip())


# --- numbers typed as text: Streamlit's number_input turns "abc" into 0 and "1e3" into 1 without a word ---
SLIDERS = ("synthetic_pneumonia_share",)  # a number the page draws as a slider, not as typed text


def typed_numbers(form: dict[str, object]) -> dict[str, tuple[int | float, str, str]]:
    """{form field: (its default, its label, where its problem shows)} for the numbers the page lets the user
    type: the config's whole numbers and rates, the seeds per sampler, and every sampler option."""
    from alcore.strategies import registry

    numbers = {name: (getattr(FORM_DEFAULTS, name), FIELD_LABELS.get(name, name), name) for name in FORM_FIELDS
               if type(getattr(FORM_DEFAULTS, name)) in (int, float) and name not in SLIDERS}
    numbers["seeds"] = (1, FIELD_LABELS["seeds"], "seeds")
    numbers.update({option_field(info.name, o.name): (o.default, f"{info.name}: {o.name}",
                                                      f"sampler_options.{info.name}")
                    for info in registry.all_strategies() for o in info.options if type(o.default) in (int, float)})
    return {name: number for name, number in numbers.items() if name in form}


def parse_number(text: object, default: int | float) -> int | float:
    """The number `text` holds, strictly of the default's kind: a whole number ("90", "-1") for a count, any
    finite decimal ("0.001", "1e-3") for a rate. Raises ValueError for anything else ("abc", "1e3" as a count)."""
    text = str(text).strip()
    if isinstance(default, int):
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(text)
        return int(text)
    value = float(text)  # ValueError for "fast"
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def read_numbers(form: dict[str, object]) -> tuple[dict[str, int | float], dict[str, str]]:
    """The typed numbers of the form, parsed, and {field: message in the page's words} for those that are not
    numbers of their kind (a sampler option's under 'sampler_options.<sampler>'); such a field reads as its
    default, so that the engine's checks of the rest still run."""
    values, problems = {}, {}
    for name, (default, label, shown_at) in typed_numbers(form).items():
        try:
            values[name] = parse_number(form[name], default)
        except ValueError:
            values[name] = default
            text = str(form[name]).strip()
            kind = "a whole number" if isinstance(default, int) else "a number"
            problems[shown_at] = f"{label} is empty: give {kind}, e.g. {default}" if not text else \
                f"{label} must be {kind}, e.g. {default} (got {text!r})"
    return values, problems


def runs_at_once(text: str) -> int:
    """'Runs at once' (this machine's runs in parallel, not a run's setting): a whole number of 1 or more.
    Raises ValueError with the page's message."""
    try:
        count = parse_number(text, 1)
    except ValueError:
        raise ValueError(f"Runs at once must be a whole number, e.g. 2 (got {str(text).strip()!r})") from None
    if count < 1:
        raise ValueError(f"Runs at once must be 1 or more (got {count})")
    return count


# The Setup page's names of the settings: its messages name a setting as its field does, not as the config does.
FIELD_LABELS = {"synthetic_size": "Synthetic pool size", "synthetic_pneumonia_share": "PNEUMONIA share",
                "synthetic_classes": "Synthetic classes",
                "model": "Model", "resolution": "Resolution", "weights": "Weights", "epochs": "Epochs",
                "head_steps": "Head steps", "batch_size": "Batch size", "lr": "Learning rate",
                "weight_decay": "Weight decay", "finetune_steps": "Fine-tune steps per round",
                "val_share": "Validation share", "second_resolution": "Second resolution",
                "init_size": "Initial labeled images", "budget": "Budget per round", "rounds": "Rounds",
                "stop_set_size": "Stop set", "stop_kappa": "Stable at κ", "stop_window": "For rounds",
                "seed": "First seed", "seeds": "Seeds per sampler", "threads": "Cores per run"}


def in_page_words(problems: dict[str, str], cfg: ExperimentConfig, pool: int | None) -> dict[str, str]:
    """The engine's messages as the Setup page says them: settings by their fields' names, the data by
    what the page asks for (a folder, a label table or an .npz file), the pool limit in its fields' terms."""
    worded = {}
    for name, message in problems.items():
        label = FIELD_LABELS.get(name)
        if name == "data" and message.startswith("data path not found: "):
            message = f"Nothing at {cfg.data}: give the path of a folder of X-rays, a label table or an .npz file"
        elif name == "budget" and message.startswith("init ") and pool is not None:
            message = (f"Initial labeled images {cfg.init_size} + Budget per round {cfg.budget} × Rounds "
                       f"{cfg.rounds} = {cfg.final_labeled:,} labels: more than the pool's {pool:,} images. "
                       "Lower the budget or the rounds.")
        elif label and message.startswith(f"{name} "):
            message = label + message[len(name):]
        first_word = message.split(" ", 1)[0]
        worded[name] = message[:1].upper() + message[1:] if first_word.isalpha() else message  # not a path
    return worded


def keep_experiment_name(configs: list[ExperimentConfig], form: dict[str, object],
                         name: str) -> list[ExperimentConfig]:
    """The runs under `name` where the form leaves the experiment's name to the app: the name the page
    announced before Launch is the one the runs get (every rerun would draw a new one)."""
    if str(form["experiment"]).strip() or not configs or not configs[0].experiment:
        return configs
    return [replace(cfg, experiment=name) for cfg in configs]


def uses_optimizer(form: dict[str, object]) -> bool:
    """Whether learning rate and weight decay apply: fine-tuning, or the frozen AdamW head (the
    logistic head has no optimiser)."""
    return form["regime"] == "finetune" or form["head"] == "adamw"


def form_problems(form: dict[str, object], base: ExperimentConfig, configs: list[ExperimentConfig],
                  data_check: int | str | None, roots: tuple[Path, ...]) -> dict[str, str]:
    """{field: message}, in the page's words, for everything that stops a launch. `data_check` is a
    folder's or .npz's pool size, or what is wrong with it, once checked; a sampler's options are
    'sampler_options.<name>'. A data or weights path outside `roots` is refused before anything looks at it."""
    numbers, problems = read_numbers(form)
    problems = {name: message for name, message in problems.items() if _drawn(name, form)}
    problems.update(path_problems(base, roots))
    if not form["samplers"]:
        problems["sampler"] = "choose at least one sampler"
    if "seeds" not in problems and not positive_int(numbers["seeds"]):
        problems["seeds"] = f"the number of seeds must be 1 or more (got {numbers['seeds']})"
    if isinstance(data_check, str):
        problems["data"] = data_check
    pool = data_check if isinstance(data_check, int) else None
    if base.data == "synthetic" and positive_int(base.synthetic_size):
        pool = base.synthetic_size
    for cfg in configs or [base]:  # no sampler chosen: still check everything else
        for name, message in engine_problems(cfg, pool).items():
            problems.setdefault(f"sampler_options.{cfg.sampler}" if name == "sampler_options" else name, message)
    return in_page_words(problems, base, pool)


def _drawn(name: str, form: dict[str, object]) -> bool:
    """Whether the field can be edited: a chosen sampler's options; lr and weight decay where they apply."""
    if name.startswith("sampler_options."):
        return name.removeprefix("sampler_options.") in form["samplers"]
    return uses_optimizer(form) or name not in ("lr", "weight_decay")


def example_folder(roots: tuple[Path, ...]) -> str:
    """A Folder placeholder the dashboard accepts: the Kaggle download's `chest_xray` folder where one lies
    in (or in `data/` of) an allowed root, else where one would go in the first root."""
    for root in roots:
        for folder in (root / "chest_xray", root / "data" / "chest_xray"):
            if folder.is_dir():
                return str(folder)
    return str(roots[0] / "chest_xray") if roots else "/path/to/chest_xray"


def path_problems(cfg: ExperimentConfig, roots: tuple[Path, ...]) -> dict[str, str]:
    """The data and weights paths of `cfg` that lie outside the allowed roots."""
    problems = {}
    for name, value, keywords in (("data", cfg.data, ("synthetic",)), ("weights", cfg.weights, WEIGHTS)):
        if isinstance(value, str) and value.strip() and value not in keywords:
            try:
                allowed_path(value, roots)
            except PathRefused as exc:
                problems[name] = str(exc)
    return problems
