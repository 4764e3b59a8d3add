"""A model folder: what `python -m alcore export` writes and `predict` reads.

    model.pt2      the network (torch.export): torch.export.load(path).module()(uint8 images) -> probabilities
    model.onnx     the same network for ONNX Runtime, when the `onnx` package is importable
    model.json     the card as data (alcore.modelio.model_card)
    MODEL_CARD.md  the card for a person
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.export import Dim

from alcore.modelio import FORMAT_VERSION, MAX_BATCH, MODEL_FORMAT, NETWORK_FILE, ONNX_FILE, ModelError, RunModel

log = logging.getLogger(__name__)
CARD_FILE, CARD_TEXT_FILE = "model.json", "MODEL_CARD.md"


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to predict: the network (uint8 images -> probabilities) and its card."""

    network: nn.Module
    card: dict

    @property
    def resolution(self) -> int:
        return int(self.card["preprocessing"]["resolution"])

    @property
    def classes(self) -> list[str]:
        return list(self.card["classes"])

    @property
    def threshold(self) -> float | None:
        """p(positive) at or above which a two-class model predicts the positive class; None: argmax (C > 2)."""
        return None if self.card["threshold"] is None else float(self.card["threshold"])


def write_model_folder(model: RunModel, out: str | Path, force: bool = False) -> list[Path]:
    """Write the model folder `out` (built aside, then moved into place). ModelError when `out`
    exists and is not empty, unless `force` replaces it."""
    out = Path(out).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not force:
            raise ModelError(f"{out} already exists and is not empty: choose another --out, or add --force to "
                             "replace it")
        if not (out / CARD_FILE).is_file():
            raise ModelError(f"{out} is not a model folder: --force replaces only a model folder; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".export-", dir=out.parent))
    try:
        resolution = model.card["preprocessing"]["resolution"]
        example = torch.zeros((2, resolution, resolution), dtype=torch.uint8)
        with torch.no_grad():
            program = torch.export.export(model.network, (example,), dynamic_shapes=({0: Dim("batch", min=1, max=MAX_BATCH)},))
        torch.export.save(program, building / NETWORK_FILE)
        files = {"torch_export": NETWORK_FILE}
        if _write_onnx(model.network, example, building / ONNX_FILE):
            files["onnx"] = ONNX_FILE
        card = {**model.card, "files": files}
        (building / CARD_FILE).write_text(json.dumps(card, indent=2, allow_nan=False) + "\n")
        (building / CARD_TEXT_FILE).write_text(card_text(card))
        if out.exists():
            shutil.rmtree(out)
        building.replace(out)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return sorted(out.iterdir())


def _write_onnx(network: nn.Module, example: torch.Tensor, path: Path) -> bool:
    """The ONNX file when the exporter's packages are installed; False (and a log line) otherwise."""
    try:
        import onnx  # noqa: F401  (only asks whether ONNX is wanted here)
    except ImportError:
        return False
    try:
        torch.onnx.export(network, (example,), str(path), input_names=["images"], output_names=["probabilities"],
                          dynamic_shapes=({0: Dim("batch", min=1, max=MAX_BATCH)},), dynamo=True)
        return True
    except Exception as exc:  # an exporter that cannot handle this network: the torch file still serves
        log.warning("no ONNX file: %s: %s", type(exc).__name__, exc)
        path.unlink(missing_ok=True)
        return False


def card_text(card: dict) -> str:
    """MODEL_CARD.md from model.json."""
    metrics = card.get("test_metrics", {})
    intervals = card.get("test_intervals_95", {})
    rows = "\n".join(f"| {name} | {value:.3f} | {_interval(intervals.get(name))} |"
                     for name, value in metrics.items() if isinstance(value, (int, float)))
    data = card["data"]
    return f"""# Model card: {card['model']} ({card['regime']}), {card['labels_used']} labels

**Intended use: {card['intended_use']}**

{_decision(card)}
- Input: uint8 grayscale images, {card['preprocessing']['resolution']} x {card['preprocessing']['resolution']} px,
  decoded as the data layer decodes them ({card['input']['decoding']})
- Labels used: {card['labels_used']} ({', '.join(f'{k} {v}' for k, v in card['labels_per_class'].items())}),
  chosen by the strategy `{card['strategy']}` (seed {card['seed']}); backbone weights: {card['weights']}
- Data: {data['source']} ({data['kind']}), fingerprint `{data['fingerprint']}`, splits {data['split_sizes']}
- From run `{card['run_id']}`, round {card['round']}; alcore {card['alcore_version']}, torch {card['torch_version']}

## Test metrics (95 % bootstrap intervals over the test images)

| metric | value | 95 % interval |
| --- | --- | --- |
{rows}
{_per_class_table(card.get("test_metrics_per_class") or {})}

## Use

```python
import torch
network = torch.export.load("model.pt2").module()
probabilities = network(images_uint8)  # (batch, {card['preprocessing']['resolution']}, {card['preprocessing']['resolution']}) -> (batch, {len(card['classes'])})
```
or `python -m alcore predict THIS_FOLDER --data PATH --out predictions.csv`.
"""


def _decision(card: dict) -> str:
    """The card's classes and how a class is predicted: a threshold (two classes) or the argmax."""
    if card["threshold"] is None:
        return (f"- Classes: {', '.join(card['classes'])}\n"
                "- Decision: the most probable class (argmax; no threshold with more than two classes)")
    return (f"- Classes: {', '.join(card['classes'])} (positive: {card['positive_class']})\n"
            f"- Decision: positive when p({card['positive_class']}) >= {card['threshold']:.4f}\n"
            f"  (threshold rule `{card['threshold_rule']}`, chosen on the labeled images alone)")


def _per_class_table(per_class: dict[str, dict[str, float]]) -> str:
    """Each class's test sensitivity, precision and one-vs-rest ROC-AUC (empty for an older card)."""
    if not per_class:
        return ""
    rows = "\n".join(f"| {name} | " + " | ".join("n/a" if v is None else f"{v:.3f}" for v in values.values()) + " |"
                     for name, values in per_class.items())
    return f"""
| class | sensitivity | precision | ROC-AUC (one vs rest) |
| --- | --- | --- | --- |
{rows}
"""


def _interval(bounds) -> str:
    if not bounds or len(bounds) != 2 or None in bounds:
        return "n/a"
    return f"{bounds[0]:.3f} - {bounds[1]:.3f}"


def load_model_folder(folder: str | Path) -> LoadedModel:
    """A model folder written by `export`; ModelError naming what is wrong (not a model folder, another
    format version, a damaged network file)."""
    folder = Path(folder).expanduser()
    card_path = folder / CARD_FILE
    if not card_path.is_file():
        raise ModelError(f"{folder} is not a model folder (no {CARD_FILE}): give a folder written by "
                         "`python -m alcore export`, or a run id")
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{card_path} cannot be read ({exc}): export the model again") from None
    if not isinstance(card, dict) or card.get("format") != MODEL_FORMAT:
        raise ModelError(f"{card_path} is not an alcore model card: export the model again")
    if card.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{folder} holds a model of format version {card.get('format_version')} (written by alcore "
                         f"{card.get('alcore_version', '?')}); this alcore reads version {FORMAT_VERSION}: export "
                         "it again with this version")
    try:
        network = torch.export.load(folder / card["files"]["torch_export"]).module()
    except Exception as exc:  # truncated, foreign or missing file: torch's reason, in a sentence
        raise ModelError(f"the network file in {folder} cannot be loaded ({type(exc).__name__}: "
                         f"{str(exc)[:200]}): it is damaged or missing; export the model again") from None
    return LoadedModel(network, card)
