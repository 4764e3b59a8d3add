"""A dashboard safe to leave running: paths only under the allowed roots, human mode keeps its secret."""
from __future__ import annotations

import json

from alcore.oracle import LabelBook
from alcore.runs import RunStore


def errors(at) -> list[str]:
    return [e.value for e in at.error]


def test_setup_refuses_data_and_weights_outside_the_allowed_roots(open_page, tmp_path):
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (tmp_path / "escape").symlink_to(outside)  # inside by name, outside once resolved
    at = open_page("pages/setup.py")
    at.radio(key="setup_source").set_value("folder").run()
    for path in (str(outside), str(tmp_path / "escape"), str(tmp_path / ".." / outside.name)):
        at.text_input(key="setup_path").set_value(path).run()
        assert any(f"{path} is outside the folders this dashboard may use. Allowed: {tmp_path}" in m
                   for m in errors(at)), errors(at)
        assert at.button(key="setup_check").disabled and at.button(key="setup_launch").disabled
    at.text_input(key="setup_weights").set_value("/etc/passwd").run()
    assert any("/etc/passwd is outside the folders" in m for m in errors(at))
    at.text_input(key="setup_path").set_value(str(tmp_path / "xrays")).run()  # inside: only "not found"
    assert any("data path not found" in m for m in errors(at)) and not any("xrays is outside" in m for m in errors(at))
    assert not at.exception


def human_run(store: RunStore, make_run, pending: list[str]) -> str:
    """A finished fake run turned into a human one: 'fake-train-000' labeled, `pending` waiting in its queue."""
    run_id = make_run(rounds=2)
    config = store.load_config(run_id)
    store.write_config(run_id, {**config, "oracle": "human"})
    book = LabelBook(store, run_id)
    book.add("fake-train-000", "synthetic:train:0", "NORMAL", "test", 0)
    (store.run_dir(run_id) / "queue.json").write_text(json.dumps(
        {"round": 1, "ids": pending, "files": [f"synthetic:train:{i[-3:]}" for i in pending]}))
    return run_id


def test_label_export_refuses_a_destination_outside_the_allowed_roots(open_page, make_run, store, tmp_path):
    run_id = human_run(store, make_run, [])
    at = open_page("pages/label.py", run=run_id)
    outside = tmp_path.parent / f"{tmp_path.name}-export"
    at.text_input(key="label_dest").set_value(str(outside)).run()
    at.button(key="label_export").click().run()
    assert any(f"Nothing was written: {outside} is outside the folders" in m for m in errors(at)), errors(at)
    assert not outside.exists() and not any("Wrote" in s.value for s in at.success)
    at.text_input(key="label_dest").set_value(str(tmp_path / "export")).run()
    at.button(key="label_export").click().run()
    assert any("Wrote 1 NORMAL and 0 PNEUMONIA images" in s.value for s in at.success)
