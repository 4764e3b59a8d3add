"""A dashboard safe to leave running: paths only under the allowed roots, human mode keeps its secret."""
from __future__ import annotations

import json
from dataclasses import replace

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
    assert any("Nothing at" in m for m in errors(at)) and not any("xrays is outside" in m for m in errors(at))
    assert not at.exception


def human_run(store: RunStore, make_run, pending: list[str]) -> str:
    """A finished fake run turned into a human one: 'fake-train-000' labeled, `pending` waiting in its queue."""
    run_id = make_run(rounds=2)
    store.write_config(run_id, replace(store.load_config(run_id), oracle="human"), store.load_resolved(run_id))
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


PAGES = ("dashboard.py", "pages/setup.py", "pages/live.py", "pages/label.py", "pages/embeddings.py",
         "pages/queried.py", "pages/compare.py")


def rendered(at) -> str:
    """Everything the pages sent to the browser: every element's message, text, captions, charts, keys."""
    def walk(node):
        if getattr(node, "proto", None) is not None:
            yield str(node.proto)
        for child in getattr(node, "children", {}).values():
            yield from walk(child)
    return "\n".join(walk(at._tree))


def test_human_mode_shows_no_page_the_truth_or_file_name_of_an_image_waiting_for_a_person(
        open_page, make_run, store, captions):
    waiting = ["fake-train-012", "fake-train-013"]
    run_id = human_run(store, make_run, waiting)
    secret = [f"fake-train-{i:03d}" for i in range(10, 20)]  # queried in round 0, none labeled yet
    at = open_page("dashboard.py", run=run_id)
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        text = rendered(at)
        assert not [i for i in secret if i in text], page
        assert not [m.value for m in at.markdown if "[**NORMAL**]" in m.value or "[**PNEUMONIA**]" in m.value], page
        if page in ("pages/live.py", "pages/queried.py"):
            assert len(captions(at)) == 10 and all(c.startswith("waiting for a person's label") for c in captions(at))
            described = [m.value for m in at.markdown if "p=" in m.value]
            assert all("label hidden until it is labeled**] · p=– · score –" in m for m in described), described
    at.switch_page("pages/embeddings.py").run()
    at.selectbox(key="emb_color").set_value("label").run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    hovers = [t for trace in spec["data"] for t in trace.get("text", [])]
    waiting_hovers = [t for t in hovers if t.startswith("waiting for a person's label")]
    assert len(waiting_hovers) == 10 and all("<br>hidden · p=– · score –" in t for t in waiting_hovers)
    at.switch_page("pages/queried.py").run()
    at.button[0].click().run()  # Enlarge
    assert not [i for i in secret if i in rendered(at)] and not at.exception

    at.switch_page("pages/label.py").run()  # "Show model prediction" shows the guess elsewhere too, never the rest
    at.toggle(key="label_show_prediction").set_value(True).run()
    at.switch_page("pages/queried.py").run()
    assert all("p=0." in m.value or "p=1." in m.value for m in at.markdown if "p=" in m.value)
    assert not [i for i in secret if i in rendered(at)]
    assert not [m.value for m in at.markdown if "[**NORMAL**]" in m.value or "[**PNEUMONIA**]" in m.value]


def test_a_simulated_run_shows_ids_and_true_labels(open_page, make_run, captions):
    at = open_page("pages/queried.py", run=make_run(rounds=2))
    assert all(c.startswith("fake-train-") for c in captions(at))
    assert any("[**NORMAL**]" in m.value or "[**PNEUMONIA**]" in m.value for m in at.markdown)


def test_a_launch_the_results_folder_cannot_take_is_one_message(open_page, store, monkeypatch):
    import errno

    def disk_full(self, run_id, config, resolved):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(RunStore, "write_config", disk_full)
    at = open_page("pages/setup.py")
    at.button(key="setup_launch").click().run()
    assert not at.exception
    assert any("Nothing was launched: cannot write to the results folder" in m and "No space left on device" in m
               for m in errors(at)), errors(at)
    assert not store.run_ids() and at.title[0].value == "Set up a run"


def test_setup_flags_a_full_data_baseline_in_human_mode(open_page):
    at = open_page("pages/setup.py")
    at.radio(key="setup_oracle").set_value("human").run()
    at.checkbox(key="setup_baseline").check().run()
    assert any("nobody has labeled in human mode" in m for m in errors(at)), errors(at)
    assert at.button(key="setup_launch").disabled


def test_an_answer_the_disk_cannot_take_is_one_message(open_page, make_run, store, monkeypatch):
    import errno
    run_id = human_run(store, make_run, ["fake-train-012"])
    at = open_page("pages/label.py", run=run_id)

    def disk_full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("alcore.oracle.atomic_write_bytes", disk_full)
    at.button(key="label_normal").click().run()
    assert not at.exception
    assert any("Your answer was not saved" in m and "No space left on device" in m for m in errors(at)), errors(at)
    assert LabelBook(store, run_id).pending() == ["fake-train-012"]
