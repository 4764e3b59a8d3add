"""python -m alcore: run, list, show, resume, strategies, summary; bad input -> exit 2, one line."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from alcore.cli import main

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
    capsys.readouterr()
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
