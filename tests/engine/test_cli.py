"""python -m alcore: run, list, show, resume, strategies, summary; bad input -> exit 2, one line."""
import errno
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from alcore.cli import build_parser, configs_from_args, main
from alcore.config import ConfigError
from alcore.runs import RunStore

REPO = Path(__file__).resolve().parents[2]
TINY = ["--data", "synthetic", "--synthetic-size", "200", "--model", "tiny_cnn", "--regime", "finetune",
        "--resolution", "32", "--init", "20", "--budget", "10", "--rounds", "1", "--epochs", "1", "--quiet"]


def test_bad_input_exits_2_with_one_line_per_problem():
    result = subprocess.run([sys.executable, "-m", "alcore", "run", "--budget", "0", "--sampler", "oracle"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "budget: budget must be a whole number above 0" in lines[0]
    assert "unknown sampler 'oracle'" in lines[0]


def test_run_list_show_summary(tmp_path, capsys):
    out = str(tmp_path)
    assert main(["--out", out, "run", *TINY, "--sampler", "random,entropy", "--seeds", "2",
                 "--with-baseline", "--experiment", "exp1"]) == 0
    runs = [p for p in tmp_path.iterdir() if (p / "config.json").is_file()]
    assert len(runs) == 5
    configs = [json.loads((p / "config.json").read_text()) for p in runs]
    assert sorted((c["sampler"], c["seed"], c["full_data"]) for c in configs) == [
        ("entropy", 0, False), ("entropy", 1, False), ("random", 0, False), ("random", 0, True), ("random", 1, False)]
    assert {c["experiment"] for c in configs} == {"exp1"}
    assert capsys.readouterr().out.count("classes: 0 NORMAL, 1 PNEUMONIA") == 1  # one summary for five runs
    assert main(["--out", out, "list"]) == 0
    assert capsys.readouterr().out.count("done") == 5
    assert main(["--out", out, "show", runs[0].name]) == 0
    assert "round" in capsys.readouterr().out
    assert main(["--out", out, "summary", "exp1", "--markdown"]) == 0
    table = capsys.readouterr().out
    assert "| entropy | 2 |" in table and "full-data baseline" in table
    assert main(["--out", out, "strategies"]) == 0
    assert "least_confidence (alias: uncertainty)" in capsys.readouterr().out


def test_resume_refuses_a_finished_run(tmp_path):
    assert main(["--out", str(tmp_path), "run", *TINY]) == 0
    run_id = next(p.name for p in tmp_path.iterdir() if (p / "config.json").is_file())
    try:
        main(["--out", str(tmp_path), "resume", run_id])
    except SystemExit as exc:
        assert "only interrupted, cancelled or failed runs can be resumed" in str(exc)
    else:
        raise AssertionError("a finished run was resumed")


def test_no_embeddings_flag_records_no_layouts(tmp_path):
    assert main(["--out", str(tmp_path), "run", *TINY, "--no-embeddings"]) == 0
    (run,) = [p for p in tmp_path.iterdir() if (p / "config.json").is_file()]
    assert json.loads((run / "config.json").read_text())["record_embeddings"] is False
    with np.load(run / "rounds" / "round_000.npz") as arrays:
        assert "embedding" not in arrays.files and "prob" in arrays.files


def run_dirs(root) -> list:
    return [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []


def test_out_goes_before_or_after_the_command(tmp_path, capsys):
    before, after = tmp_path / "before", tmp_path / "after"
    assert main(["--out", str(before), "run", *TINY, "--rounds", "1"]) == 0
    assert main(["run", *TINY, "--rounds", "1", "--out", str(after)]) == 0
    assert len(run_dirs(before)) == len(run_dirs(after)) == 1
    capsys.readouterr()
    assert main(["list", "--out", str(after)]) == 0
    assert run_dirs(after)[0].name in capsys.readouterr().out


def parsed(*argv: str):
    return configs_from_args(build_parser().parse_args(["run", *argv]))


def test_sampler_options_go_to_the_samplers_that_have_them(tmp_path, capsys):
    configs = {c.sampler: c.sampler_options for c in parsed("--sampler", "random,bald", "--sampler-option",
                                                           "mc_passes=4")}
    assert configs == {"random": {}, "bald": {"mc_passes": 4}}
    configs = {c.sampler: c.sampler_options for c in parsed("--sampler", "bald,pca_kmeans", "--sampler-option",
                                                           "bald.mc_passes=6", "--sampler-option",
                                                           "pca_kmeans.pca_components=5")}
    assert configs == {"bald": {"mc_passes": 6}, "pca_kmeans": {"pca_components": 5}}
    assert parsed("--sampler", "bald", "--sampler-option", "mc_passes=3")[0].sampler_options == {"mc_passes": 3}
    with pytest.raises(ConfigError, match="none of random, entropy has an option 'mc_passes'"):
        parsed("--sampler", "random,entropy", "--sampler-option", "mc_passes=4")
    with pytest.raises(ConfigError, match="'bald' is not one of the samplers of this run"):
        parsed("--sampler", "random", "--sampler-option", "bald.mc_passes=4")
    # an option no sampler has is refused by the launch's one check, before any run folder exists
    assert main(["--out", str(tmp_path), "run", "--sampler", "bald", "--sampler-option", "colour=4"]) == 2
    assert "'colour' is not an option" in capsys.readouterr().err and not run_dirs(tmp_path)


def test_boolean_flags_turn_a_config_files_setting_off(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"class_weighted": True, "record_embeddings": False}))
    (cfg,) = parsed("--config", str(path))
    assert cfg.class_weighted is True and cfg.record_embeddings is False
    (cfg,) = parsed("--config", str(path), "--no-class-weighted", "--embeddings")
    assert cfg.class_weighted is False and cfg.record_embeddings is True
    (cfg,) = parsed("--class-weighted", "--no-embeddings")
    assert cfg.class_weighted is True and cfg.record_embeddings is False


def test_every_run_flag_the_guide_lists_exists():
    text = (REPO / "docs" / "guide.md").read_text()
    listed = text[text.index("`run` flags:"):text.index("Bad input exits with code 2")]
    flags = set(re.findall(r"`(--[a-z-]+)", listed))
    (run,) = [a for a in build_parser()._subparsers._group_actions[0].choices.values() if a.prog.endswith(" run")]
    known = {option for action in run._actions for option in action.option_strings}
    assert {"--oracle", "--out", "--sampler-option", "--no-class-weighted"} <= flags
    assert flags <= known, flags - known


def refused(tmp_path, *argv: str) -> str:
    """Runs the CLI expecting exit code 2 and no run folder; returns its one line of stderr."""
    out = tmp_path / "results"
    result = subprocess.run([sys.executable, "-m", "alcore", "run", "--out", str(out), *argv], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert not run_dirs(out), "a refused run left a folder"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_what_can_be_known_before_a_run_is_refused_before_any_folder_is_written(tmp_path):
    from PIL import Image
    assert "more than the pool of 200 images" in refused(tmp_path, *TINY, "--budget", "100", "--rounds", "2")
    npz = tmp_path / "small.npz"
    arrays = {f"{split}_{kind}": (np.zeros((n, 28, 28), np.uint8) if kind == "images" else np.arange(n) % 2)
              for split, n in (("train", 30), ("val", 6), ("test", 8)) for kind in ("images", "labels")}
    np.savez(npz, **arrays)
    assert "initial labeled size 40 exceeds the pool of 30 images" in refused(
        tmp_path, *TINY, "--data", str(npz), "--init", "40")
    one_class = tmp_path / "xrays" / "NORMAL"
    one_class.mkdir(parents=True)
    for i in range(4):
        Image.new("L", (20, 20), 40 * i).save(one_class / f"n{i}.png")
    assert "PNEUMONIA" in refused(tmp_path, *TINY, "--data", str(tmp_path / "xrays"))
    (tmp_path / "empty").mkdir()
    assert "data" in refused(tmp_path, *TINY, "--data", str(tmp_path / "empty"))
    assert "full-data baseline" in refused(tmp_path, *TINY, "--oracle", "human", "--with-baseline")


def test_a_results_folder_that_cannot_be_written_is_one_message(tmp_path, monkeypatch, capsys):
    def disk_full(self, run_id, config, resolved):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(RunStore, "write_config", disk_full)
    assert main(["run", *TINY, "--out", str(tmp_path)]) == 2
    message = capsys.readouterr().err
    assert "cannot write to the results folder" in message and "No space left on device" in message
    assert "Traceback" not in message and not run_dirs(tmp_path)


def test_the_synthetic_preset_flag_runs_the_teaching_set_and_refuses_an_unknown_one(tmp_path):
    line = refused(tmp_path, *TINY, "--synthetic-preset", "easy")
    assert "synthetic_preset: unknown synthetic_preset 'easy'; choose one of: standard, teaching" in line
    out = tmp_path / "runs"
    assert main(["--out", str(out), "run", *TINY, "--synthetic-preset", "teaching"]) == 0
    (config,) = [json.loads((p / "config.json").read_text()) for p in run_dirs(out)]
    assert config["synthetic_preset"] == "teaching" and "teaching preset" in config["resolved"]["dataset"]
    assert config["resolved"]["split_sizes"] == {"train": 200, "val": 20, "test": 200}


def test_race_starts_the_samplers_as_one_race_and_next_and_pause_reach_every_racer(tmp_path, capsys):
    from alcore.race import is_race, racers
    out = str(tmp_path)
    assert main(["--out", out, "run", *TINY, "--sampler", "random,entropy", "--race"]) == 0
    store = RunStore(tmp_path)
    configs = [store.load_config(r) for r in store.run_ids()]
    (race_id,) = {c.experiment for c in configs}
    assert is_race(race_id) and {c.seed for c in configs} == {0} and len(configs) == 2  # one seed by default
    assert main(["--out", out, "pause", race_id]) == 0
    assert all(store.step_control(r).pause for r in racers(store, race_id))
    assert main(["--out", out, "next", race_id]) == 1  # nothing is paused: a finished race
    assert "not paused (done)" in capsys.readouterr().out
    assert main(["--out", out, "pause", race_id, "--off"]) == 0
    assert not any(store.step_control(r).pause for r in racers(store, race_id))
    with pytest.raises(SystemExit, match="no run or race 'race-nope'"):
        main(["--out", out, "next", "race-nope"])
