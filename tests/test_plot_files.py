"""`python -m alcore figures RUN_ID [--svg]`: one ROC, one PR and one reliability picture per round."""
from __future__ import annotations

import numpy as np
import pytest

from alcore.cli import main
from alcore.config import ExperimentConfig
from alcore.runner import create_run, execute_run
from alcore.runs import RunStore
from alcore import plots


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pictures")
    store = RunStore(root)
    cfg = ExperimentConfig(model="tiny_cnn", regime="frozen", resolution=32, synthetic_size=120, init_size=20,
                           budget=10, rounds=1, head_steps=20)
    run_id = create_run(cfg, store)
    assert execute_run(store, run_id).state == "done"
    return store, run_id


def test_figures_writes_png_and_svg_per_round(finished_run, capsys):
    if plots.export_problem():
        pytest.skip(plots.export_problem())
    store, run_id = finished_run
    assert main(["--out", str(store.root), "figures", run_id, "--svg"]) == 0
    folder = store.run_dir(run_id) / "figures"
    expected = {f"round_{r:03d}_{kind}.{fmt}" for r in (0, 1) for kind in ("roc", "pr", "reliability")
                for fmt in ("png", "svg")}
    assert {p.name for p in folder.iterdir()} == expected
    assert (folder / "round_001_roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labels = store.load_rounds(run_id)[1].n_labeled
    assert f"ROC curve, test set, at {labels} labels".encode() in (folder / "round_001_roc.svg").read_bytes()
    assert "wrote 12 files" in capsys.readouterr().out


def test_figures_of_a_run_without_test_probabilities_or_unknown_is_a_message(finished_run, tmp_path):
    store, run_id = finished_run
    with pytest.raises(SystemExit, match="no run 'nope'"):
        main(["--out", str(store.root), "figures", "nope"])
    if plots.export_problem():
        return
    for r in (0, 1):  # as runs recorded before test probabilities were kept
        path = store.round_path(run_id, r)
        arrays = {k: v for k, v in np.load(path).items() if not k.startswith("test_")}
        np.savez(path, **arrays)
    with pytest.raises(SystemExit, match="no round with test-set probabilities"):
        main(["--out", str(store.root), "figures", run_id])
