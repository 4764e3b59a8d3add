"""Speed of a whole active-learning run: the engine against a naive torchvision pipeline.

    .venv/bin/python benchmarks/bench_loop.py [--quick] [--limit-pool N] [--frozen-cold] ...

The reference protocol: 100 initial labels (random, seed 0) + 90 per round, finetune regime,
resnet18 (weights auto: ImageNet when cached, else random init), 128 px, 3 rounds, 1 epoch,
entropy. Our side is the real engine (create_run / execute_run into a temporary results folder,
with a cold decode cache in a temporary ALCORE_CACHE), headless like the naive side:
record_embeddings off (`--no-embeddings`), so neither infers images for the Embeddings page; one
more run of ours with embeddings recorded (the dashboard's default) shows what that display costs.
The naive side, with the same network,
initial weights, initial labeled set and settings, is the common approach: torchvision
ImageFolder + DataLoader (Grayscale(3) / Resize / ToTensor / Normalize, 2 workers) decoding and
resizing every JPEG on every pass; it retrains each round from the same initial weights,
evaluates on test through a loader and queries by passing the unlabeled pool through a loader.

Variants: (a) original-resolution-like JPEGs (the 224 px set upscaled to 1400 x 1100, JPEG
quality 90, made in a temporary folder), (b) the 224 px files themselves. Plus a decode-rate
check on the real originals of chest_xray_fullres_sample, and the frozen regime
(efficientnet_lite0, 224 px, 10 rounds) on a warm feature cache: the repo's (.cache/alcore), or
with --frozen-cold a fresh one that a timed cold run fills first.

Cores (issue 30): ours uses every core (`threads` 0), as the naive pipeline does. `--cores 1 2`
(the default) also times one run of ours alone on each count, per phase (decode, prepare: the
frozen regime's features, train, eval, query), on variant (b) and on the frozen default (synthetic
data, efficientnet_lite0 128 px, 10 rounds, cold caches), and checks that their per-round numbers
and picks are identical.

Every measured pipeline (loop_pipelines.py) runs in its own subprocess, one after the other, so
each has a clean peak memory and compute clock. The machine is shared: compare the ratios, which come from
the same run, rather than the absolute seconds. Its speed drifts by ~10 % over minutes: `--repeat N`
runs each pipeline N times in the order ours, naive, naive, ours, ... and takes the ratio of the
median walls.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np

from loop_pipelines import NAIVE_SAMPLERS

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED_DATA = REPO.parent / "shared" / "data"
PIPELINES = Path(__file__).with_name("loop_pipelines.py")  # the two timed pipelines, one per subprocess

FULLRES_SIZE = (1400, 1100)  # (width, height) of the original-resolution-like copies
FULLRES_QUALITY = 90
TARGET_RATIO = {"a": 2.0, "b": 1.3}
TARGET_COMPUTE_SHARE = 0.85
TARGET_FROZEN_SECONDS = 60.0
VARIANT_NAMES = {"a": "(a) 1400x1100 JPEGs", "b": "(b) 224 px JPEGs"}


def run_worker(kind: str, job: dict, env_changes: dict[str, str | None]) -> dict:
    """Run one worker in a fresh interpreter; returns its result (or {"error": ...})."""
    env = dict(os.environ)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    load_before = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, str(PIPELINES), kind, json.dumps(job)], env=env,
                          capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            result["load"] = (load_before, os.getloadavg()[0])
            return result
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
    return {"error": f"worker exited with {proc.returncode}:\n    " + "\n    ".join(tail)}


def alternating_runs(repeat: int, ours: Callable[[int], dict], naive: Callable[[list], dict]
                     ) -> dict[str, list[dict]] | None:
    """Each pipeline `repeat` times in the order ours, naive, naive, ours, ours, ... (a steady drift
    of the machine's speed cancels out of the ratio), each shown as it ends; None once one fails.
    `ours` takes the repetition; `naive` the initial labeled ids that our first run drew."""
    runs: dict[str, list[dict]] = {"ours": [], "naive": []}
    for rep in range(repeat):
        for kind in ("ours", "naive") if rep % 2 == 0 else ("naive", "ours"):
            res = ours(rep) if kind == "ours" else naive(runs["ours"][0]["initial_ids"])
            show_run(kind if repeat == 1 else f"{kind}{rep + 1}", res)
            if "error" in res:
                return None
            runs[kind].append(res)
    return runs


# --- data preparation ---------------------------------------------------------------------------
def list_folder(root: Path) -> dict[str, list[tuple[Path, int]]]:
    """split -> [(file, label)] of a Kaggle-layout folder (NORMAL = 0, PNEUMONIA = 1), sorted."""
    files = {}
    for split in ("train", "val", "test"):
        files[split] = [(p, label) for label, cls in enumerate(("NORMAL", "PNEUMONIA"))
                        for p in sorted((root / split / cls).glob("*")) if p.is_file()]
    return files


def limited(files: dict[str, list[tuple[Path, int]]], limit: int) -> dict[str, list[tuple[Path, int]]]:
    """A stratified subset of `limit` train files (seed 0); val and test kept whole."""
    from alcore.loop import initial_rows

    train = files["train"]
    if not limit or limit >= len(train):
        return files
    rows = initial_rows(np.array([label for _, label in train]), limit, "stratified", 0)
    return {**files, "train": [train[i] for i in rows]}


def link_folder(root: Path, files: dict[str, list[tuple[Path, int]]], target: Path) -> None:
    for split_files in files.values():
        for path, _ in split_files:
            dst = target / path.relative_to(root)
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(path)


def synthetic_folder(target: Path, size: int) -> None:
    """The engine's synthetic set at 224 px written as a Kaggle-layout JPEG folder."""
    from PIL import Image

    from alcore.data import load_dataset

    previous = os.environ.get("ALCORE_CACHE")
    os.environ["ALCORE_CACHE"] = str(target.parent / "cache-synthetic")  # never the user's cache
    try:
        data = load_dataset("synthetic", 224, synthetic_size=size)
    finally:
        os.environ.pop("ALCORE_CACHE") if previous is None else os.environ.update(ALCORE_CACHE=previous)
    for split, part in data.splits.items():
        for image, label, sample_id in zip(part.images, part.labels, part.ids):
            dst = target / split / ("NORMAL", "PNEUMONIA")[label] / f"{sample_id}.jpeg"
            dst.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(dst, "JPEG", quality=95)


def make_fullres(root: Path, files: dict[str, list[tuple[Path, int]]], target: Path) -> tuple[int, float, int]:
    """Upscale every file to FULLRES_SIZE, grayscale JPEG; (files, seconds, bytes)."""
    from PIL import Image

    jobs = [path for split_files in files.values() for path, _ in split_files]

    def one(path: Path) -> int:
        dst = target / path.relative_to(root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as im:
            im.convert("L").resize(FULLRES_SIZE, Image.Resampling.BICUBIC).save(
                dst, "JPEG", quality=FULLRES_QUALITY)
        return dst.stat().st_size

    start = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:  # PIL codecs and resize release the GIL
        size = sum(pool.map(one, jobs))
    return len(jobs), time.perf_counter() - start, size


def decode_rates(folder: Path, resolution: int, passes: int = 3) -> dict[str, float]:
    """Single-thread images/s on the real originals: ImageFolder's loader + PIL-side transforms
    (full decode, RGB, grayscale, resize) against the engine's decode_image (JPEG draft mode)."""
    from PIL import Image
    from torchvision import transforms

    from alcore.data.decode import decode_image

    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    naive_tf = transforms.Compose([transforms.Grayscale(3), transforms.Resize((resolution, resolution))])

    def naive(path: Path):
        with open(path, "rb") as f:
            return naive_tf(Image.open(f).convert("RGB"))

    rates = {"files": len(paths)}
    for name, fn in (("naive", naive), ("ours", lambda p: decode_image(p, resolution))):
        for p in paths:  # warm the page cache: both read files from memory
            fn(p)
        start = time.perf_counter()
        for _ in range(passes):
            for p in paths:
                fn(p)
        rates[name] = passes * len(paths) / (time.perf_counter() - start)
    return rates


# --- cores (issue 30) ---------------------------------------------------------------------------
def core_scaling(name: str, config: dict, cores: list[int], scratch: Path) -> list[str]:
    """The same run of ours alone on each core count (`threads`), each into a fresh decode / feature
    cache: per-phase seconds, the speedup from the first count, and whether the numbers are identical."""
    runs = {}
    for count in cores:
        cache = scratch / f"cache-{name}-{count}"
        try:
            res = run_worker("ours", {"config": {**config, "threads": count},
                                      "results": str(scratch / f"results-{name}-{count}")}, {"ALCORE_CACHE": str(cache)})
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        show_run(f"{count} core" + "s" * (count > 1), res)
        if "error" in res:
            return []
        runs[count] = res
    first, lines = runs[cores[0]], []
    for count in cores[1:]:
        res = runs[count]
        phases = "  ".join(f"{phase} {first['parts'][phase] / res['parts'][phase]:.2f}x"
                           for phase in first["parts"] if res["parts"][phase] > 0.05)
        same = res["rounds"] == first["rounds"] and res["picks"] == first["picks"]
        lines.append(f"{name}: one run alone, {cores[0]} -> {count} cores: wall {first['wall']:.1f} -> "
                     f"{res['wall']:.1f} s = {first['wall'] / res['wall']:.2f}x; per phase {phases}; "
                     f"per-round numbers and picks {'identical' if same else 'DIFFERENT'}")
    return lines


# --- report -------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def show_run(name: str, res: dict) -> None:
    if "error" in res:
        print(f"  {name:<6} FAILED: {res['error']}")
        return
    parts = "  ".join(f"{k} {v:6.1f}" for k, v in res["parts"].items())
    other = res["wall"] - sum(v for k, v in res["parts"].items() if k != "wait")
    print(f"  {name:<6} wall {res['wall']:7.1f} s  cpu {res['cpu']:7.1f} s  compute {res['compute']:6.1f} s "
          f"({res['compute'] / res['wall']:.0%} of wall)  peak RSS {res['peak_mib']:,.0f} MiB "
          f"(+workers {res['peak_children_mib']:,.0f})  load {res['load'][0]:.1f}->{res['load'][1]:.1f}")
    print(f"         split s: {parts}  other {other:6.1f}")
    if res.get("passes"):
        print(f"         images through the network: {res['passes']['train']:,} trained, "
              f"{res['passes']['infer']:,} inferred")
    print("         per round n/acc/AUC: " + "  ".join(
        f"{r['n_labeled']}/{r['accuracy']:.3f}/{r['roc_auc']:.3f}" for r in res["rounds"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED_DATA / "chest_xray"),
                        help="the 224 px Kaggle-layout folder (synthetic data is used when it is absent)")
    parser.add_argument("--fullres-sample", default=str(SHARED_DATA / "chest_xray_fullres_sample"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--sampler", default="entropy")
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--weights", default="auto")
    parser.add_argument("--init", type=int, default=100)
    parser.add_argument("--budget", type=int, default=90)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the naive pipeline")
    parser.add_argument("--limit-pool", type=int, default=0, help="stratified subset of the train pool (0: all)")
    parser.add_argument("--variants", default="ab", help="a: 1400x1100 JPEGs, b: 224 px JPEGs")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each pipeline per variant, alternating (ours, naive, naive, ours, ...); "
                             "the ratio is of the median walls")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: --limit-pool 1000, 2 rounds, a frozen default of 600 images")
    parser.add_argument("--embeddings-variant", default="b", choices=("a", "b", "none"),
                        help="also time ours with embeddings recorded (the dashboard's default) on this variant")
    parser.add_argument("--skip-frozen", action="store_true")
    parser.add_argument("--cores", type=int, nargs="*", default=[1, 2],
                        help="one run of ours (variant b) and the frozen default alone on each of these core counts")
    parser.add_argument("--frozen-default-size", type=int, default=2000,
                        help="synthetic train-pool size of the frozen default run timed on each core count")
    parser.add_argument("--frozen-cold", action="store_true",
                        help="also time the frozen run from a cold cache (decode + features: minutes)")
    args = parser.parse_args()
    if args.quick:
        args.limit_pool, args.rounds, args.frozen_default_size = args.limit_pool or 1000, 2, 600
    if args.repeat < 1:
        parser.error(f"--repeat must be 1 or more (got {args.repeat})")

    import torch

    from alcore.config import ExperimentConfig

    started = time.perf_counter()
    print(f"# bench_loop  {datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, load average "
          f"{os.getloadavg()[0]:.1f} at start; ours uses every core (threads 0) unless said otherwise")
    print(f"protocol: {args.model} (weights {args.weights}), finetune, {args.resolution} px, init {args.init} + "
          f"{args.budget} x {args.rounds} rounds, {args.epochs} epoch(s), batch 32, {args.sampler}, seed {args.seed}; "
          f"naive: ImageFolder + DataLoader ({args.workers} workers)")
    if args.sampler not in NAIVE_SAMPLERS:
        print(f"note: the naive pipeline queries with entropy ({args.sampler} needs features it does not keep)")

    scratch = Path(tempfile.mkdtemp(prefix="bench_loop-"))
    try:
        source = Path(args.data)
        if not (source / "train").is_dir():
            print(f"data: {source} not found; using the synthetic set written as 224 px JPEGs")
            source = scratch / "synthetic"
            synthetic_folder(source, args.limit_pool or 2000)
        files = limited(list_folder(source), args.limit_pool)
        counts = {s: len(f) for s, f in files.items()}
        print(f"data: {source} ({counts['train']} train / {counts['val']} val / {counts['test']} test"
              + (f", stratified subset of the train pool, --limit-pool {args.limit_pool}" if args.limit_pool else "")
              + ")")

        folders = {}
        if "b" in args.variants:
            if args.limit_pool:
                folders["b"] = scratch / "b" / "chest_xray"
                link_folder(source, files, folders["b"])
            else:
                folders["b"] = source
        if "a" in args.variants:
            folders["a"] = scratch / "a" / "chest_xray"
            n, seconds, size = make_fullres(source, files, folders["a"])
            print(f"made {n} JPEGs of {FULLRES_SIZE[0]}x{FULLRES_SIZE[1]} (quality {FULLRES_QUALITY}, "
                  f"{size / n / 1024:.0f} KiB each) in {seconds:.1f} s ({n / seconds:.0f} files/s, "
                  f"{os.cpu_count()} threads)")

        sample = Path(args.fullres_sample)
        if sample.is_dir():
            rates = decode_rates(sample, args.resolution)
            print(f"real originals ({rates['files']} files of {sample}), 1 thread, to {args.resolution} px: "
                  f"naive full decode+resize {rates['naive']:.1f} images/s, ours (draft mode) "
                  f"{rates['ours']:.1f} images/s: {rates['ours'] / rates['naive']:.1f}x")
        else:
            print(f"real originals: {sample} not found, decode-rate check skipped")

        config = dict(model=args.model, weights=args.weights, regime="finetune", resolution=args.resolution,
                      sampler=args.sampler, init_size=args.init, budget=args.budget, rounds=args.rounds,
                      epochs=args.epochs, batch_size=32, seed=args.seed, device="cpu", record_embeddings=False)
        summary = []
        for variant in "ab":
            if variant not in folders:
                continue
            print(f"\n## {VARIANT_NAMES[variant]}")
            cache = scratch / f"cache-{variant}"

            def ours_run(rep: int, extra: dict | None = None) -> dict:
                """One run of the engine into a fresh decode cache (its cold decode is timed)."""
                try:
                    return run_worker("ours", {"config": {**config, "data": str(folders[variant]), **(extra or {})},
                                               "results": str(scratch / f"results-{variant}-{rep}")},
                                      {"ALCORE_CACHE": str(cache)})
                finally:
                    shutil.rmtree(cache, ignore_errors=True)

            runs = alternating_runs(args.repeat, ours_run, lambda initial_ids: run_worker(
                "naive", {"config": config, "folder": str(folders[variant]), "initial_ids": initial_ids,
                          "workers": args.workers}, {}))
            if runs is None:
                continue
            ours = runs["ours"][0]
            rate = ours["n_images"] / ours["parts"]["decode"]
            print(f"  ours cold decode: {ours['n_images']} images in {ours['parts']['decode']:.1f} s = "
                  f"{rate:.0f} images/s (PIL draft mode, thread pool, into a fresh cache)")
            walls = {kind: float(np.median([r["wall"] for r in rs])) for kind, rs in runs.items()}
            ratio = walls["naive"] / walls["ours"]
            cpu_ratio = float(np.median([r["cpu"] for r in runs["naive"]]) / np.median([r["cpu"] for r in runs["ours"]]))
            share = float(np.median([r["compute"] / r["wall"] for r in runs["ours"]]))
            if args.repeat > 1:
                pairs = "  ".join(f"{n['wall'] / o['wall']:.2f}x" for o, n in zip(runs["ours"], runs["naive"]))
                print(f"  naive / ours per repetition: {pairs}; medians naive {walls['naive']:.1f} s, "
                      f"ours {walls['ours']:.1f} s")
            medians = f"medians of {args.repeat} runs each, " if args.repeat > 1 else ""
            summary.append(f"{VARIANT_NAMES[variant]}: naive / ours wall {ratio:.2f}x ({medians}"
                           f"target >= {TARGET_RATIO[variant]}x) {mark(ratio >= TARGET_RATIO[variant])}; "
                           f"cpu-seconds ratio {cpu_ratio:.2f}x")
            summary.append(f"{VARIANT_NAMES[variant]}: compute share of our wall {share:.1%} "
                           f"(target >= {TARGET_COMPUTE_SHARE:.0%}) {mark(share >= TARGET_COMPUTE_SHARE)}")
            if variant == args.embeddings_variant:
                shown = ours_run(args.repeat, {"record_embeddings": True})
                show_run("ours+e", shown)
                if "error" not in shown:
                    summary.append(f"{VARIANT_NAMES[variant]}: with embeddings recorded (the dashboard's default) "
                                   f"naive / ours {walls['naive'] / shown['wall']:.2f}x (no target: it does more work)")

        if len(args.cores) > 1 and "b" in folders:
            print(f"\n## one run of ours alone on {' and '.join(map(str, args.cores))} cores, {VARIANT_NAMES['b']}")
            summary += core_scaling("finetune (b)", {**config, "data": str(folders["b"])}, args.cores, scratch)
        if len(args.cores) > 1:
            default = ExperimentConfig()  # fewer rounds when a smaller pool cannot give their labels
            rounds = min(default.rounds, (args.frozen_default_size - default.init_size) // default.budget - 1)
            print(f"\n## the frozen default (synthetic {args.frozen_default_size}, efficientnet_lite0 128 px, "
                  f"{rounds} rounds) alone on {' and '.join(map(str, args.cores))} cores, cold caches")
            summary += core_scaling("frozen default", {"device": "cpu", "synthetic_size": args.frozen_default_size,
                                                       "rounds": rounds}, args.cores, scratch)

        if not args.skip_frozen:
            print("\n## frozen regime: efficientnet_lite0, 224 px, 10 rounds, entropy")
            frozen_config = dict(model="efficientnet_lite0", weights="auto", regime="frozen", resolution=224,
                                 sampler="entropy", init_size=100, budget=90, rounds=10, seed=0, device="cpu",
                                 data=str(Path(args.data).resolve()) if (Path(args.data) / "train").is_dir()
                                 else str(folders.get("b", source)))
            warm_cache = None  # the repo's own cache (.cache/alcore), unless --frozen-cold fills a fresh one
            if args.frozen_cold:
                warm_cache = str(scratch / "cache-frozen")
                cold = run_worker("ours", {"config": frozen_config, "results": str(scratch / "results-cold")},
                                  {"ALCORE_CACHE": warm_cache})
                show_run("cold", cold)
                if "error" not in cold:
                    print(f"  cold: decode {cold['parts']['decode']:.1f} s + feature extraction of "
                          f"{cold['n_images']} images {cold['parts']['prepare']:.1f} s "
                          f"({cold['n_images'] / cold['parts']['prepare']:.1f} images/s)")
            warm = run_worker("ours", {"config": frozen_config, "results": str(scratch / "results-frozen"),
                                       "warm_only": True}, {"ALCORE_CACHE": warm_cache})
            if "error" in warm:
                print(f"  warm: not run ({warm['error'].strip()}): the feature cache of "
                      f"{warm_cache or REPO / '.cache/alcore'} is not warm for these files (never filled, or "
                      "their size or time changed since); --frozen-cold fills a fresh one first")
            else:
                show_run("warm", warm)
                print(f"  cache: {warm['cache']}")
                summary.append(f"frozen regime, warm cache: {warm['wall']:.1f} s for 11 evaluations "
                               f"(target < {TARGET_FROZEN_SECONDS:.0f} s) {mark(warm['wall'] < TARGET_FROZEN_SECONDS)}")

        print("\n## targets")
        for line in summary:
            print("  " + line)
        print(f"\ntotal benchmark time {time.perf_counter() - started:.0f} s, "
              f"load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
