"""Setup: every setting of a run, checked as you type; several samplers × seeds make an experiment, or a race
(started together, one Live view); step mode (pause after each round) for any launch.

Widget values live under "setup_<field>" keys (alcore.viewmodels.setup_form maps that form to configs), mirrored
in "setup_saved" so they survive a visit to another page (Streamlit drops undrawn widgets' state). Numbers are typed
as text and parsed strictly by setup_form: st.number_input turns "abc" into 0 and "1e3" into 1 without a word.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import streamlit as st

from ui.sidebar import page_frame  # first: it starts the worker launcher (ui/sidebar.py)

from alcore.config import (CONFIG_PRESETS, DEVICES, HEADS, INIT_MODES, KEEP_MODELS, MODELS, ORACLES, REGIMES,
                           SYNTHETIC_PRESETS, THRESHOLD_RULES, ConfigError, ExperimentConfig, new_experiment_name)
from alcore.data import PATIENT_SOURCES, UNCERTAIN_POLICIES, DataError, parse_columns
from alcore.executors import QueueFull, default_parallel
from alcore.runs import StoreError
from alcore.strategies import registry
from alcore.viewmodels import setup_form
from ui import navigation
from ui.state import RUN_KEY, jobs, open_race, path_roots

page_frame()

SOURCES = {"synthetic": "Synthetic X-rays", "folder": "Image folder (or DICOM)", "table": "Label table (.csv / .tsv)",
           "npz": "MedMNIST-style .npz file"}
PATH_LABELS = {"folder": "Folder path", "table": "Label table path", "npz": ".npz file path"}
CLASSES_EXAMPLE = {"folder": "Normal,Lung Opacity", "table": "NORMAL=No Finding,PNEUMONIA=Pneumonia",
                   "npz": "NORMAL,PNEUMONIA"}
COLUMN_ROLES = ("image", "label", "patient", "split")
BY_NAME = "(found by its name)"
ORACLE_NAMES = {"simulated": "Simulated (the true labels)", "human": "Human (you label in the browser)"}
PENDING_EXPERIMENT = "setup_pending_experiment"  # the automatic experiment name announced before Launch
DATA_ORIGIN = ("**Real X-rays:** the Kaggle data set *Chest X-Ray Images (Pneumonia)* (Kermany et al. 2018). Unzip "
               "it and give its `chest_xray` folder: `train/`, `val/` and `test/`, each with `NORMAL/` and "
               "`PNEUMONIA/`. This dashboard reads folders under: {roots}.")
RUN_ON = ("this machine", "a Ray cluster")


def key(field: str) -> str:
    return f"setup_{field}"


def load_uploaded() -> None:
    """file_uploader callback: show the uploaded config (a saved one, or a run's config.json)."""
    upload = st.session_state.get(key("upload"))
    st.session_state.pop(key("load_error"), None)
    if upload is None:
        return
    try:
        values = json.loads(upload.getvalue())
        if not isinstance(values, dict):
            raise ConfigError({"config": "the file must hold a JSON object of settings"})
        show_config(ExperimentConfig.from_dict({k: v for k, v in values.items() if k not in ("run_id", "resolved")}))
    except json.JSONDecodeError as exc:
        st.session_state[key("load_error")] = f"{upload.name} is not valid JSON ({exc.msg}, line {exc.lineno})."
    except ConfigError as exc:
        st.session_state[key("load_error")] = f"{upload.name} cannot be loaded: {exc}"


def show_config(cfg: ExperimentConfig) -> None:
    """Fill the form with `cfg` (a loaded file, a preset). Raises ConfigError for a setting no widget can hold."""
    loaded = setup_form.form_values(cfg)
    st.session_state[key("saved")].update(loaded)
    st.session_state.update({key(name): value for name, value in loaded.items()})


def load_preset() -> None:
    """'Load preset' callback: the chosen ready-made config in the form."""
    show_config(CONFIG_PRESETS[st.session_state[key("preset")]])


def preset_picker() -> None:
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    left.selectbox("Start from a preset", list(CONFIG_PRESETS), key=key("preset"),
                   help="A ready-made config: the one-click demo (two classes, a rare finding), or the three-class "
                        "demo (NORMAL / BACTERIAL / VIRAL synthetic X-rays, where the uncertainty strategies differ).")
    right.button("Load preset", key=key("load_preset"), on_click=load_preset, icon=":material/tune:")


def current_form() -> dict:
    """The form's values; those of widgets not drawn on the last run come back from setup_saved."""
    saved = st.session_state.setdefault(key("saved"), setup_form.form_values(setup_form.FORM_DEFAULTS))
    for name, value in saved.items():
        st.session_state.setdefault(key(name), value)
    saved.update({name: st.session_state[key(name)] for name in saved})
    return dict(saved)


def check_data(cfg: ExperimentConfig) -> None:
    """Decode (and cache) a folder or .npz once; remember its pool facts or what is wrong with it."""
    with st.spinner(f"Reading {cfg.data} at {cfg.resolution} px (cached for the run)…"):
        try:
            result: setup_form.PoolFacts | str = setup_form.pool_facts(cfg)
        except (DataError, OSError, ValueError) as exc:  # unreadable files too: a message, never a traceback
            result = str(exc)
    st.session_state.setdefault(key("data_checks"), {})[setup_form.data_check_key(cfg)] = result


def checked_facts(cfg: ExperimentConfig) -> setup_form.PoolFacts | str | None:
    return st.session_state.get(key("data_checks"), {}).get(setup_form.data_check_key(cfg))


def data_check(cfg: ExperimentConfig) -> int | str | None:
    """The pool size or what is wrong with the data, once checked."""
    facts = checked_facts(cfg)
    return facts.size if isinstance(facts, setup_form.PoolFacts) else facts


def labels_known(cfg: ExperimentConfig) -> bool:
    """Synthetic data and .npz files always carry the truth; a folder or table once its check found no unlabeled image."""
    return cfg.data == "synthetic" or cfg.data.lower().endswith(".npz") or getattr(checked_facts(cfg), "labeled", False)


@dataclass(frozen=True)
class Plan:
    """What the form asks for: its own config (Save writes it), the runs Launch starts, and what stops them."""
    form: dict
    base: ExperimentConfig
    configs: list[ExperimentConfig]
    problems: dict[str, str]  # {field: message}, from the engine's validation (setup_form.form_problems)


@dataclass(frozen=True)
class Target:
    """Where Launch sends the runs: this machine, `parallel` at once, or the Ray cluster at `ray_address`."""
    parallel: int | None
    ray_address: str | None
    problem: str = ""  # what is wrong with the runs at once: it stops a launch

    def describe(self) -> str:
        return f"on the Ray cluster at {self.ray_address}" if self.ray_address else \
            f"on this machine, {self.parallel} at a time"


def make_plan() -> Plan:
    """The form's configs (with simulated twins, when wanted and possible) and every problem in them."""
    form = current_form()
    base, configs = setup_form.form_configs(form)
    if base.oracle == "human" and form["twin"] and labels_known(base):
        configs = setup_form.with_twins(configs)
    configs = setup_form.keep_experiment_name(configs, form,
                                              st.session_state.setdefault(PENDING_EXPERIMENT, new_experiment_name()))
    return Plan(form, base, configs, setup_form.form_problems(form, base, configs, data_check(base), path_roots()))


def flag(problems: dict[str, str], name: str) -> None:
    if name in problems:
        st.error(problems[name], icon=":material/error:")


def flag_row(problems: dict[str, str], columns: list, names: tuple[str, ...]) -> None:
    """Each setting's problem under its own column."""
    for column, name in zip(columns, names):
        with column:
            flag(problems, name)


def data_section(plan: Plan) -> None:
    st.subheader("Data")
    left, right = st.columns([1, 2])
    left.radio("Data source", list(SOURCES), format_func=SOURCES.get, key=key("source"))
    left.radio("Oracle", ORACLES, format_func=ORACLE_NAMES.get, key=key("oracle"),
               help="Who answers the queries. Human: each batch waits on the Label page until you have labeled "
                    "it; a folder of images without class folders is then accepted.")
    with left:
        flag(plan.problems, "oracle")
    if plan.base.oracle == "human":
        unlabeled = not labels_known(plan.base) and isinstance(checked_facts(plan.base), setup_form.PoolFacts)
        left.checkbox("Also run a simulated twin with the true labels", key=key("twin"), disabled=unlabeled,
                      help="The same run answered by the true labels, in the same experiment: the Label page "
                           "and Compare show its learning curve next to yours. Only for data whose every image "
                           "has a true label.")
        if unlabeled:
            left.caption("No twin: some images of this data have no true label.")
    with right:
        if st.session_state[key("source")] == "synthetic":
            synthetic_widgets(plan)
        else:
            path_widgets(plan)


def synthetic_widgets(plan: Plan) -> None:
    problems = plan.problems
    size, classes = st.columns(2)
    size.text_input("Synthetic pool size (images)", key=key("synthetic_size"),
                    help="Train-pool size; validation and test sets scale with it.")
    classes.text_input("Synthetic classes", key=key("synthetic_classes"),
                       help="2: NORMAL and PNEUMONIA. 3: NORMAL, BACTERIAL (a dense lobar consolidation) and VIRAL "
                            "(bilateral perihilar haze). Up to 8: NORMAL, FINDING_1, … (one finding each; the "
                            "standard preset).")
    flag_row(problems, [size, classes], ("synthetic_size", "synthetic_classes"))
    several = plan.base.synthetic_classes != 2
    st.slider("Non-normal share (the findings split evenly)" if several else "PNEUMONIA share", 0.05, 0.95,
              step=0.05, key=key("synthetic_pneumonia_share"))
    flag(problems, "synthetic_pneumonia_share")
    counts = setup_form.synthetic_classes_text(plan.base)
    if counts:
        st.caption(f"Train pool: {counts}.")
    st.selectbox("Synthetic preset", SYNTHETIC_PRESETS, key=key("synthetic_preset"),
                 help="standard: a hard set with a fifth of deliberately ambiguous images. teaching: "
                      "sub-populations of unequal size, a borderline band and clear lesions, where the "
                      "strategies' textbook effects can be measured (a teaching preset, not realistic data).")
    flag(problems, "synthetic_preset")


def path_widgets(plan: Plan) -> None:
    """A folder's, table's or .npz file's path, its data options, and 'Check data', which reads it once
    (cached) and shows what was made of it: the summary and one image per class."""
    source = st.session_state[key("source")]
    st.text_input(PATH_LABELS[source], key=key("path"), placeholder=setup_form.example_folder(path_roots()),
                  help="A folder with two or more class folders (optionally under train/ val/ test/; images or DICOM "
                       "at any depth), a label table with one row per image, or a MedMNIST-style .npz file. With the "
                       "human oracle, also a folder of images without class folders (they join the pool unlabeled).")
    flag(plan.problems, "data")
    st.caption(DATA_ORIGIN.format(roots=", ".join(f"`{root}`" for root in path_roots()) or "none (see the README)"))
    data_options(plan, source)
    facts = checked_facts(plan.base)
    if isinstance(facts, setup_form.PoolFacts):
        st.success(f"{facts.size} images in the train pool.", icon=":material/check:")
        show_data_summary(facts)
    if st.button("Check data", key=key("check"), disabled="data" in plan.problems and facts is None,
                 help="Reads the images once (they are cached): the classes (of two, which is positive) and what "
                      "each matched, images per class and patients per split, what was dropped and why, one image "
                      "per class as the model sees it."):
        check_data(plan.base)
        st.rerun()


def data_options(plan: Plan, source: str) -> None:
    """The user's class names (every source); a table's columns and -1 rule; a folder's patients."""
    st.text_input("Classes, in order (of two, the positive one last)", key=key("classes"),
                  placeholder=CLASSES_EXAMPLE[source],
                  help="Two or more. Empty: two class folders or values are guessed when exactly one reads as "
                       "normal; three or more class folders in order, a normal-reading one first. NAME=VALUE|VALUE "
                       "maps label values or findings (table), folder names or a glob below the split folder "
                       "(folder) to a class, e.g. NORMAL=NORMAL/*,BACTERIAL=PNEUMONIA/*bacteria*,"
                       "VIRAL=PNEUMONIA/*virus* on the Kaggle folder. A row or image matching two classes is "
                       "dropped (one class per image).")
    flag(plan.problems, "classes")
    if source == "table":
        header = setup_form.table_header(st.session_state[key("path")])
        if header:
            column_pickers(header)
        st.text_input("Columns", key=key("columns"), placeholder="image=Path,label=Pneumonia",
                      help="ROLE=COLUMN for image, label, patient, split; a role left out is found by its usual name.")
        flag(plan.problems, "columns")
        st.selectbox("Uncertain labels (-1 in a 1 / 0 / -1 column)", UNCERTAIN_POLICIES, key=key("uncertain"),
                     help="drop (U-Ignore), positive (U-Ones) or negative (U-Zeros); blank cells read as 0.")
    if source == "folder":
        st.selectbox("Patients from", PATIENT_SOURCES, key=key("patient_from"),
                     help="auto: DICOM PatientID or Kermany-style file names; folder: the first folder below the "
                          "class folder (CLASS/patient/study/image). Carved val / test splits keep patients whole.")


def column_pickers(header: list[str]) -> None:
    """One picker per column role, filled from the table's header; a choice rewrites the Columns setting."""
    def compose() -> None:
        picked = {role: st.session_state[key(f"pick_{role}")] for role in COLUMN_ROLES}
        st.session_state[key("columns")] = ",".join(f"{r}={c}" for r, c in picked.items() if c != BY_NAME)

    try:
        current = parse_columns(st.session_state.get(key("columns"), ""))
    except DataError:
        current = {}
    for column, role in zip(st.columns(len(COLUMN_ROLES)), COLUMN_ROLES):
        options = [BY_NAME, *header]
        chosen = current.get(role, BY_NAME)
        column.selectbox(f"{role} column", options, index=options.index(chosen) if chosen in options else 0,
                         key=key(f"pick_{role}"), on_change=compose)


def show_data_summary(facts: setup_form.PoolFacts) -> None:
    if facts.summary_text:
        st.code(facts.summary_text, language=None)
    for column, (name, image) in zip(st.columns(max(len(facts.thumbnails), 1)), facts.thumbnails):
        column.image(image, caption=name, width=160)


def model_section(problems: dict[str, str]) -> None:
    st.subheader("Model and training")
    cols = st.columns(5)
    cols[0].selectbox("Model", MODELS, key=key("model"))
    cols[1].radio("Regime", REGIMES, key=key("regime"), horizontal=True,
                  help="frozen: backbone features once, retrain the head each round; finetune: retrain the "
                       "whole network.")
    cols[2].selectbox("Head (frozen)", HEADS, key=key("head"),
                      help="logistic: L2 logistic regression, its C and threshold cross-validated on the labeled "
                           "images; adamw: the earlier dropout + linear head trained for 'Head steps'.")
    cols[3].text_input("Resolution (px)", key=key("resolution"))
    cols[4].text_input("Weights", key=key("weights"), help="auto, imagenet, none, or a path to a state-dict file.")
    flag_row(problems, cols, ("model", "regime", "head", "resolution", "weights"))
    cols = st.columns(6)
    cols[0].text_input("Epochs (finetune)", key=key("epochs"))
    cols[1].text_input("Head steps (frozen)", key=key("head_steps"))
    cols[2].text_input("Batch size", key=key("batch_size"))
    optimised = setup_form.uses_optimizer({name: st.session_state[key(name)] for name in ("regime", "head")})
    not_used = "Used by fine-tuning and the AdamW head; the logistic head has no learning rate."
    cols[3].text_input("Learning rate", key=key("lr"), disabled=not optimised,
                         help=None if optimised else not_used)
    cols[4].text_input("Weight decay", key=key("weight_decay"), disabled=not optimised,
                         help=None if optimised else not_used)
    cols[5].checkbox("Class-weighted loss", key=key("class_weighted"))
    flag_row(problems, cols, ("epochs", "head_steps", "batch_size", "lr", "weight_decay", "class_weighted"))
    cols = st.columns(2)
    cols[0].selectbox("Keep models", KEEP_MODELS, key=key("keep_models"),
                      help="auto: every round's head (frozen, a few KB each) or the last round's network (finetune); "
                           "all, last or none. Export or predict with them (README, use the model).")
    cols[1].text_input("MLflow tracking URI", key=key("mlflow"), placeholder="empty: no MLflow; 'default': ./mlruns",
                       help="Log each run to MLflow: params, every round's metrics (step = labels used), figures "
                            "and the exported model.")
    flag_row(problems, cols, ("keep_models", "mlflow"))


def training_section(problems: dict[str, str]) -> None:
    """The finer training settings: steps per round, validation share, augmentation, threshold, two scales."""
    cols = st.columns(6)
    cols[0].text_input("Fine-tune steps per round", key=key("finetune_steps"),
                         help="0: 'Epochs' passes over the labeled set; N: exactly N optimiser steps every round, "
                              "so later rounds are not simply trained longer.")
    cols[1].text_input("Validation share (finetune)", key=key("val_share"),
                         help="Share of the labeled images held out (by patient) for early stopping and the "
                              "decision threshold; 0: none (threshold 0.5).")
    cols[2].checkbox("Augment", key=key("augment"),  # "(finetune)" was cut at 1440 px: it is in the help
                     help="Fine-tuning: light augmentation: rotation ±5°, scale ±5 %, shift ±4 %, brightness and "
                          "contrast ±10 %.")
    cols[3].checkbox("Horizontal flips", key=key("hflip"), help="Off by default: a flip moves the heart to the right.")
    cols[4].selectbox("Threshold rule", THRESHOLD_RULES, key=key("threshold_rule"),
                      help="Two classes: cv, the threshold maximising balanced accuracy on out-of-fold (or "
                           "validation) probabilities of the labeled images, shrunk towards their positive-class "
                           "share when a class has few images; prior, that share itself. More classes predict by "
                           "argmax (no threshold).")
    cols[5].text_input("Second resolution (frozen)", key=key("second_resolution"),
                         help="0: off. N: features also of the images resized to N px, side by side with those at "
                              "'Resolution' (two scales; one more feature pass, cached).")
    flag_row(problems, cols, ("finetune_steps", "val_share", "augment", "hflip", "threshold_rule",
                              "second_resolution"))


def sampler_section(plan: Plan) -> None:
    """The samplers (one run each), their options, and the labeling schedule."""
    st.subheader("Active learning")
    st.multiselect("Samplers", registry.names(), key=key("samplers"),
                   help="Several samplers make an experiment: one run per sampler and seed.")
    flag(plan.problems, "sampler")
    for name in st.session_state[key("samplers")]:
        info = registry.get(name)
        st.caption(f"**{name}**: {info.help}")
        if info.options:
            for col, option in zip(st.columns(len(info.options) + 1), info.options):
                col.text_input(f"{name}: {option.name}", key=key(setup_form.option_field(name, option.name)),
                                 help=option.help)
            flag(plan.problems, f"sampler_options.{name}")
    with st.expander("What each sampler does"):
        st.markdown("\n".join(f"- **{info.name}** ({info.family}): {info.help}" for info in registry.all_strategies()))
    cols = st.columns(4)
    cols[0].text_input("Initial labeled images", key=key("init_size"))
    cols[1].radio("Initial set", INIT_MODES, key=key("init_mode"), horizontal=True,
                  help="random, or stratified to the pool's class ratio.")
    cols[2].text_input("Budget per round (images)", key=key("budget"))
    cols[3].text_input("Rounds", key=key("rounds"))
    flag_row(plan.problems, cols, ("init_size", "init_mode", "budget", "rounds"))
    if not {"budget", "init_size", "rounds"} & set(plan.problems):
        base = plan.base
        st.caption(f"{base.init_size} + {base.budget} × {base.rounds} = {base.final_labeled} labels at the end.")


def stopping_section(problems: dict[str, str]) -> None:
    st.subheader("When to stop labeling")
    cols = st.columns(4)
    cols[0].text_input("Stop set (images)", key=key("stop_set_size"),
                         help="Unlabeled pool images predicted every round for the stopping signal; 0 turns it off.")
    cols[1].text_input("Stable at κ ≥", key=key("stop_kappa"),
                         help="Cohen's kappa between successive rounds' predictions on the stop set.")
    cols[2].text_input("For rounds", key=key("stop_window"))
    cols[3].checkbox("End the run when stable", key=key("stop_when_stable"),
                     help="Stopping rule (Bloodgood & Vijay-Shanker 2009): no more labels are asked for once the "
                          "predictions have stopped changing.")
    flag_row(problems, cols, ("stop_set_size", "stop_kappa", "stop_window", "stop_when_stable"))


def seeds_and_device_section(problems: dict[str, str]) -> None:
    st.subheader("Seeds, baseline and device")
    cols = st.columns(4)
    cols[0].text_input("First seed", key=key("seed"))
    cols[1].text_input("Seeds per sampler", key=key("seeds"), help="Seeds first, first + 1, …")
    cols[2].checkbox("Add a full-data baseline run", key=key("baseline"),
                     help="One more run trained on every label of the train pool: the reference line on Compare.")
    cols[3].text_input("Experiment name", key=key("experiment"), placeholder="automatic when several runs")
    flag_row(problems, cols, ("seed", "seeds", "full_data", "experiment"))
    cols = st.columns(3)
    cols[0].selectbox("Device", DEVICES, key=key("device"), help="auto uses the GPU when there is one.")
    cols[1].text_input("Cores per run", key=key("threads"),
                         help="The CPU cores each run may use. 0: its share of this machine (all of them for a "
                              "run alone). Its numbers are the same on any number of cores.")
    cols[2].checkbox("Record embeddings", key=key("record_embeddings"),  # whole at 1440 px; its use in the help
                     help="For the Embeddings page. Off: each round infers only the images its strategy reads and the last round infers "
                          "none, so finetune runs take about a quarter less time; the metrics and picks are the "
                          "same, but the Embeddings page has nothing to show.")
    flag_row(problems, cols, ("device", "threads", "record_embeddings"))
    gpu = setup_form.gpu_name()
    st.caption(f"GPU: {gpu}" if gpu else "No CUDA GPU is visible: runs use the CPU.")


def run_on_section() -> Target:
    st.subheader("Run on")
    cols = st.columns([2, 1, 2])
    here = cols[0].radio("Run on", RUN_ON, key=key("run_on"), horizontal=True, label_visibility="collapsed",
                         help="This machine: each run in its own process, the rest queued. A Ray cluster: each "
                              "run a Ray task; the results still come here.") == RUN_ON[0]
    if here:
        text = cols[1].text_input("Runs at once", value=str(jobs().executor().parallel), key=key("parallel"),
                                  help=f"Default: one per core ({default_parallel()}).")
        try:
            return Target(setup_form.runs_at_once(text), None)
        except ValueError as exc:
            cols[1].error(str(exc), icon=":material/error:")
            return Target(None, None, str(exc))
    address = cols[2].text_input("Ray address", value=os.environ.get("RAY_ADDRESS", "local"), key=key("ray_address"),
                                 help="HOST:PORT of the cluster's head (`ray start --head` prints it), or 'local' "
                                      "to start a two-CPU Ray instance on this machine.")
    return Target(None, address.strip())


def launch_section(plan: Plan, target: Target) -> None:
    """Race / step mode, what Launch will start, and Launch."""
    cols = st.columns(2)
    race_them = cols[0].checkbox("Race them", key=key("race"), disabled=len(plan.configs) < 2,
                                 help="Start every run at the same moment and watch them on one Live view: their "
                                      "curves over random's, their picks side by side (several samplers needed).")
    race_them = race_them and len(plan.configs) > 1
    pause = cols[1].checkbox("Pause after each round", key=key("pause"),
                             help="Step mode: after each query the run waits so the picks can be explained; "
                                  "'Next round' on the Live page goes on (every racer at once).")
    st.divider()
    n = len(plan.configs)
    st.caption(f"Launching starts {n} run{'s' if n != 1 else ''}"
               + (f" in experiment '{plan.configs[0].experiment}'" if n > 1 and not race_them else "")
               + f". Runs {'all at once, as a race' if race_them else target.describe()}."
               + (" Each pauses after its query." if pause else ""))
    blocking = len(plan.problems) + bool(target.problem)
    if blocking:
        st.error(f"Fix the {blocking} setting{'s' if blocking > 1 else ''} marked above to launch.")
    launch, save, load = st.columns([1, 1, 2])
    if launch.button("Launch", type="primary", key=key("launch"), disabled=bool(blocking),
                     icon=":material/rocket_launch:", help="Checks the data first when it has not been checked."):
        launch_runs(plan, target, race_them, pause)
    save_and_load(plan, save, load)


def launch_runs(plan: Plan, target: Target, race_them: bool, pause: bool) -> None:
    """Start the runs (or the race) and open the page that follows them; a failure is said, never half-shown."""
    if plan.base.data != "synthetic" and "data" not in plan.problems and data_check(plan.base) is None:
        check_data(plan.base)
        plan = make_plan()  # the check may have found problems, or whether a twin can run
    if plan.problems:
        st.rerun()  # the data's problems are now flagged next to their fields
    if target.parallel is not None:
        jobs().executor().parallel = target.parallel
    st.session_state.pop(PENDING_EXPERIMENT, None)  # the next launch is another experiment
    run_ids: list[str] = []
    try:
        if race_them:
            open_race(jobs().launch_race(plan.configs, ray=target.ray_address, pause=pause))
        for cfg in plan.configs:
            run_ids.append(jobs().launch(cfg, ray=target.ray_address, pause=pause))
    except (ConfigError, StoreError, QueueFull) as exc:  # a results folder that cannot be written, an
        # unreachable cluster, a full queue: say so; nothing half-made shows
        done = f"{len(run_ids)} of {len(plan.configs)} runs were launched, then" if run_ids else "Nothing was launched"
        st.error(f"{done}: {exc}", icon=":material/error:")
        st.stop()
    st.switch_page(navigation.LABEL if plan.configs[0].oracle == "human" else navigation.LIVE,
                   query_params={RUN_KEY: run_ids[0]})


def save_and_load(plan: Plan, save, load) -> None:
    save.download_button("Save config (JSON)", json.dumps(plan.base.to_dict(), indent=2), "alcore-config.json",
                         "application/json", key=key("save"), icon=":material/download:",
                         help="The settings of the first sampler; `python -m alcore run --config FILE` reads it too.")
    load.file_uploader("Load a config (JSON)", type="json", key=key("upload"), on_change=load_uploaded)
    if key("load_error") in st.session_state:
        load.error(st.session_state[key("load_error")])


plan = make_plan()
st.title("Set up a run")
preset_picker()
data_section(plan)
model_section(plan.problems)
training_section(plan.problems)
sampler_section(plan)
stopping_section(plan.problems)
seeds_and_device_section(plan.problems)
launch_section(plan, run_on_section())
