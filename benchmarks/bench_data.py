"""Decode rate of the data layer against a plain loop, on the same files.

    .venv/bin/python benchmarks/bench_data.py [--count N] [--resolution 224] [--repeat R]
    .venv/bin/python benchmarks/bench_data.py --dicom-tree SRC DST [--size 256]

Four kinds of file, written into a temporary folder from real X-rays (../shared/data when present,
else the synthetic generator): 224 px JPEG (the Kaggle set), 2048 x 2048 16-bit PNG, 2048 x 2048
uncompressed 16-bit DICOM, 2048 x 2048 JPEG 2000 (lossless) DICOM. The project's path is
`alcore.data.decode.decode_entries`, what a folder or table load runs on a cold decode cache:
4 threads, JPEG draft mode, Modality / VOI LUT or robust windowing, resized to --resolution. The plain
loop makes the same product one file after another: Pillow's open, or `pydicom.dcmread(path).pixel_array`,
min-max to 8 bits, Lanczos resize. "decode only" is the decoders alone at full size (no usable image
yet), for scale. All read files the OS has in its page cache (just written): the rate is decoding,
not the disk. Each side runs --repeat times alternately; the median counts.
The machine may be shared: compare the two columns of one run, and re-measure on an idle machine.

`--dicom-tree SRC DST` converts an image tree (e.g. ../shared/data/chest_xray) into DICOM with
the variants a hospital export holds (12-bit DX, every 3rd MONOCHROME1, every 5th without an
extension, every 7th with a window, PatientID from the Kermany file name), for `python -m alcore data DST`.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "data"))  # dicom_files: the tests' DICOM writer

from alcore.data.decode import Entry, decode_entries  # noqa: E402
from alcore.data.folder import patient_id  # noqa: E402
from dicom_files import JPEG2000Lossless, write_dicom  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
BIG = 2048
SMALL_PER_BIG = 25  # 224 px JPEGs per 2048² file: enough that a second is measured, not the thread start


def sources(count: int) -> list[np.ndarray]:
    """`count` real-looking X-rays as floats 0..1 (real originals when ../shared/data is there)."""
    files = sorted((SHARED / "chest_xray_fullres_sample").rglob("*.jpeg")) if SHARED.is_dir() else []
    if files:
        return [np.asarray(Image.open(files[i % len(files)]).convert("L"), np.float64) / 255.0 for i in range(count)]
    from alcore.data.synthetic import render
    return list(render(np.ones(count, np.int64), 512, np.random.default_rng(0)).astype(np.float64) / 255.0)


def sixteen_bit(image: np.ndarray, seed: int) -> np.ndarray:
    """A 2048 x 2048 16-bit rendering of `image` (14 bits used, a little noise, a burned-in marker)."""
    big = np.asarray(Image.fromarray(image.astype(np.float32), "F").resize((BIG, BIG), Image.Resampling.BILINEAR))
    noisy = big * 16000 + 300 + np.random.default_rng(seed).normal(0, 20, big.shape)
    out = np.clip(noisy, 0, 65535).astype(np.uint16)
    out[40:80, 40:160] = 65535
    return out


def write_files(folder: Path, count: int) -> dict[str, list[Path]]:
    """`count` files of each 2048² kind and SMALL_PER_BIG x `count` JPEGs (they decode that much faster)."""
    kinds: dict[str, list[Path]] = {"224 px JPEG": [], "2048² 16-bit PNG": [], "2048² DICOM": [],
                                    "2048² JPEG 2000 DICOM": []}
    (folder / "jpeg").mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(sources(count)):
        for k in range(SMALL_PER_BIG):
            small = folder / f"jpeg/{i}-{k}.jpeg"
            pixels = np.round(np.roll(image, 8 * k, axis=1) * 255).astype(np.uint8)
            Image.fromarray(pixels).resize((224, 224)).convert("RGB").save(small, quality=90)
            kinds["224 px JPEG"].append(small)
        deep = sixteen_bit(image, i)
        png = folder / f"png/{i}.png"
        png.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(deep).save(png)
        kinds["2048² 16-bit PNG"].append(png)
        kinds["2048² DICOM"].append(write_dicom(folder / f"dcm/{i}.dcm", deep, 16))
        kinds["2048² JPEG 2000 DICOM"].append(write_dicom(folder / f"j2k/{i}.dcm", deep, 16, compress=JPEG2000Lossless))
    return kinds


def decode_only(paths: list[Path], resolution: int) -> None:
    """The decoders alone, full size: what any reader pays before the image is usable."""
    import pydicom
    for path in paths:
        if path.suffix == ".dcm":
            pydicom.dcmread(path).pixel_array
        else:
            with Image.open(path) as im:
                im.load()


def plain(paths: list[Path], resolution: int) -> None:
    """The plain loop a user writes for the same product, 8-bit grayscale at `resolution`: Pillow or
    `pydicom.dcmread(path).pixel_array`, min-max to 8 bits when deeper, Lanczos resize; one file at a time."""
    import pydicom
    for path in paths:
        if path.suffix == ".dcm":
            values = pydicom.dcmread(path).pixel_array.astype(np.float32)
        else:
            with Image.open(path) as im:
                values = np.asarray(im if im.mode.startswith("I") else im.convert("L"), np.float32)
        eight = np.round(255 * (values - values.min()) / max(float(values.max() - values.min()), 1.0))
        Image.fromarray(eight.astype(np.uint8)).resize((resolution, resolution), Image.Resampling.LANCZOS)


def project(paths: list[Path], resolution: int) -> None:
    decoded = decode_entries({"train": [Entry(p.name, p, 0, p.name) for p in paths]}, resolution, None)
    assert len(decoded.splits["train"]) == len(paths), decoded.dropped


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def benchmark(count: int, resolution: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        kinds = write_files(Path(tmp), count)
        print(f"{count} files per 2048² kind, {count * SMALL_PER_BIG} JPEGs; project path at {resolution} px, "
              f"median of {repeat}; images/s")
        print(f"{'kind':24} {'decode only':>11} {'plain loop':>11} {'project':>9} {'project/plain':>13}")
        for kind, paths in kinds.items():
            seconds: dict = {decode_only: [], plain: [], project: []}
            for _ in range(repeat):
                for fn in seconds:
                    seconds[fn].append(timed(fn, paths, resolution))
            rate = {fn: len(paths) / statistics.median(s) for fn, s in seconds.items()}
            print(f"{kind:24} {rate[decode_only]:>11.1f} {rate[plain]:>11.1f} {rate[project]:>9.1f} "
                  f"{rate[project] / rate[plain]:>12.2f}x", flush=True)


def dicom_tree(src: Path, dst: Path, size: int) -> None:
    """Every image under `src` as a 12-bit DICOM under `dst`, same relative path, variants mixed."""
    files = sorted(p for p in src.rglob("*") if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    for i, path in enumerate(files):
        with Image.open(path) as im:
            image = np.asarray(im.convert("L").resize((size, size), Image.Resampling.LANCZOS), np.float64) / 255
        stored = np.round(image * 4095).astype(np.uint16)
        tags = {"WindowCenter": 2048, "WindowWidth": 4096} if i % 7 == 0 else {}
        photometric = "MONOCHROME1" if i % 3 == 0 else "MONOCHROME2"
        if photometric == "MONOCHROME1":
            stored = (4095 - stored).astype(np.uint16)
        rel = path.relative_to(src).with_suffix("" if i % 5 == 0 else ".dcm")
        write_dicom(dst / rel, stored, 12, photometric, patient=patient_id(path.name), **tags)
    print(f"wrote {len(files)} DICOM files under {dst}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=16, help="files per kind")
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dicom-tree", nargs=2, metavar=("SRC", "DST"), type=Path)
    parser.add_argument("--size", type=int, default=256, help="--dicom-tree: pixels of each DICOM")
    args = parser.parse_args()
    if args.dicom_tree:
        dicom_tree(*args.dicom_tree, args.size)
    else:
        benchmark(args.count, args.resolution, args.repeat)


if __name__ == "__main__":
    main()
