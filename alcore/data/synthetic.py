"""Procedural chest X-rays (PA view) for quick, data-free runs.

Each image is a density map (soft tissue, air-filled lungs, heart, diaphragm, ribs,
clavicles, spine, vessel markings) turned into film brightness. PNEUMONIA adds patchy or
confluent opacities, sometimes a diffuse haze, inside the lung fields. About a fifth of the
images are deliberately ambiguous (faint small opacities; or normals that are poorly
inflated, with dense markings or a small benign density) so query strategies differ.
The smooth anatomy is drawn at <= ANATOMY_PX, bones and vessel texture at <= DETAIL_PX,
both upsampled; film grain at the output resolution. The data set never depends on the run seed.

With more than two classes (`n_classes`, 3..8) class 0 is NORMAL and each other class draws its
own finding (FINDINGS, below): with three, BACTERIAL (a dense lobar consolidation) and VIRAL
(bilateral perihilar interstitial haze). The ambiguous share applies the same way (faint findings).

The teaching preset (below) draws the same anatomy with sub-populations, a clear lesion for most
images and a borderline band, for teaching demos (docs/teaching.md); it is not realistic data.
Two classes only.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from alcore import CLASS_NAMES
from alcore.data import cache
from alcore.data.base import DataError, Dataset, Split

DATA_SEED = 1234  # fixed: every run shares one synthetic data set
VERSION = 4  # bump when the standard generator changes (it is part of the cache key)
FINDINGS_VERSION = 1  # the same for the findings of more than two classes
TEACHING_VERSION = 1  # the same for the teaching preset
AMBIGUOUS_SHARE = 0.22
ANATOMY_PX = 48  # smooth anatomy is drawn at most this size
DETAIL_PX = 128  # bones and texture at most this size; only the film grain at the full resolution
CHUNK_PIXELS = 64 * 128 * 128  # pixels per generator chunk: bounds memory at large resolutions
MAX_CLASSES = 8  # NORMAL and one class per finding drawn (FINDINGS)


def split_sizes(size: int, preset: str = "standard") -> dict[str, int]:
    """Images per split; the teaching preset tests on as many images as it trains on (smoother curves)."""
    return {"train": size, "val": max(16, size // 10), "test": PRESETS[preset].test_size(size)}


def class_names(n_classes: int) -> tuple[str, ...]:
    """The synthetic classes: NORMAL, PNEUMONIA; NORMAL, BACTERIAL, VIRAL; or NORMAL, FINDING_1, ...."""
    if n_classes == 2:
        return CLASS_NAMES
    if n_classes == 3:
        return ("NORMAL", "BACTERIAL", "VIRAL")
    return ("NORMAL", *(f"FINDING_{k}" for k in range(1, n_classes)))


def class_counts(n: int, pneumonia_share: float, n_classes: int = 2) -> list[int]:
    """Images per class in a split of `n`: round(share x n) abnormal, split evenly over the
    non-normal classes (the first ones get the remainder), NORMAL the rest."""
    abnormal = round(pneumonia_share * n)
    each, extra = divmod(abnormal, n_classes - 1)
    return [n - abnormal, *(each + (k < extra) for k in range(n_classes - 1))]


def load_synthetic(size: int, pneumonia_share: float, resolution: int, progress: cache.Progress | None = None,
                   preset: str = "standard", n_classes: int = 2) -> Dataset:
    """The synthetic data set (generated once, then read from the disk cache)."""
    if preset not in PRESETS:
        raise DataError(f"unknown synthetic preset '{preset}'; choose one of: {', '.join(PRESETS)}")
    if n_classes != 2 and not (preset == "standard" and 3 <= n_classes <= MAX_CLASSES):
        raise DataError(f"synthetic classes {n_classes}: the standard preset draws 2 to {MAX_CLASSES} classes, "
                        "the teaching preset 2")
    share = round(pneumonia_share, 6)
    classes = () if n_classes == 2 else ("classes", n_classes, FINDINGS_VERSION)  # two: the key as before
    key = cache.fingerprint(*PRESETS[preset].key, DATA_SEED, size, share, resolution, *classes)

    def build() -> Dataset:
        splits = generate(split_sizes(size, preset), pneumonia_share, resolution, preset, DATA_SEED, progress,
                          n_classes)
        names = class_names(n_classes)
        text = f"{pneumonia_share:.0%} {' / '.join(names[1:])}"
        kind = PRESETS[preset].label
        even = ", split evenly" if n_classes > 2 else ""
        return Dataset(name=f"synthetic ({size} train, {text}{kind})", fingerprint=key, resolution=resolution,
                       splits=splits, kind="synthetic", classes=names,
                       notes=[f"synthetic chest X-rays{kind} (fixed data seed {DATA_SEED}), {text}{even}"])

    return cache.cached(key, build, progress)


def generate(sizes: dict[str, int], pneumonia_share: float, resolution: int, preset: str, data_seed: int,
             progress: cache.Progress | None = None, n_classes: int = 2) -> dict[str, Split]:
    """Every split's images, labels, ids and sources, drawn from `data_seed` alone."""
    splits, done, total = {}, 0, sum(sizes.values())
    for index, (name, n) in enumerate(sizes.items()):
        counts = class_counts(n, pneumonia_share, n_classes)
        # abnormal first, then NORMAL, then shuffled: two classes give the labels they always gave
        labels = np.concatenate([np.repeat(np.arange(1, n_classes), counts[1:]), np.zeros(counts[0])]).astype(np.int64)
        np.random.default_rng([data_seed, index]).shuffle(labels)
        chunk = max(1, CHUNK_PIXELS // resolution ** 2)
        starts = range(0, n, chunk)
        # one generator per chunk: the same images whatever the thread scheduling
        jobs = [(labels[i:i + chunk], np.random.default_rng([data_seed, index, i])) for i in starts]
        images = np.empty((n, resolution, resolution), np.uint8)
        sources = np.array([f"synthetic:{name}:{i}" for i in range(n)], dtype=object)
        draw = PRESETS[preset].draw
        # two chunks at a time (numpy releases the GIL); BLAS threads would only spin against them
        with ThreadPoolExecutor(2) as pool, threadpool_limits(limits=1, user_api="blas"):
            for i, (batch, traits) in zip(starts, pool.map(lambda job: draw(job[0], resolution, job[1], n_classes),
                                                          jobs)):
                images[i:i + len(batch)] = batch
                if traits is not None:  # the teaching preset names each image's sub-population and kind
                    for j, trait in enumerate(traits.describe()):
                        sources[i + j] += f":{trait}"
                done += len(batch)
                if progress is not None:
                    progress(done, total)
        splits[name] = Split(images, labels, np.array([f"syn-{name}-{i:05d}" for i in range(n)]),
                             sources.astype(str))
    return splits


def render(labels: np.ndarray, resolution: int, rng: np.random.Generator, n_classes: int = 2) -> np.ndarray:
    """Images (b, resolution, resolution) uint8 for the given labels: 1 = PNEUMONIA with two classes,
    else label k draws FINDINGS[k - 1] (class_names(n_classes)[k])."""
    return _film(_Patients(labels, rng) if n_classes == 2 else _FindingPatients(labels, rng), resolution)


def render_teaching(labels: np.ndarray, resolution: int, rng: np.random.Generator) -> tuple[np.ndarray, "Traits"]:
    """The teaching preset's images and each image's sub-population and kind (clear or borderline)."""
    p = _TeachingPatients(labels, rng)
    return _film(p, resolution), p.traits


def _film(p: "_Patients", resolution: int) -> np.ndarray:
    rng = p.rng
    detail = min(resolution, DETAIL_PX)
    density, vessel_weight, bone_weight = (
        _resize(a, detail) for a in _soft_tissue(p, min(resolution, ANATOMY_PX)))
    x, y = p.grid(detail)
    density += bone_weight * _bones(p, x, y) + p.devices(x, y)
    # vessel markings: thin ridges of band-passed noise (a coarse and a fine net) and mottling
    ridges = _noise(rng, p.b, 12, detail) * 3.3
    texture = np.exp(-ridges * ridges)
    ridges = _noise(rng, p.b, 22, detail) * 3.3
    texture += 0.6 * np.exp(-ridges * ridges) + 0.3 * _noise(rng, p.b, 30, detail)
    density += vessel_weight * texture
    film = _resize((1 - np.exp(-p.exposure * density) - p.level) / p.window, resolution)
    film += p.grain * (rng.random(film.shape, dtype=np.float32) - 0.5)
    return (np.clip(film, 0, 1) * 255).astype(np.uint8)


class _Patients:
    """Per-image random anatomy, pose and exposure; every field has shape (b, 1, 1)."""

    def __init__(self, labels: np.ndarray, rng: np.random.Generator):
        b = len(labels)
        self.rng, self.labels, self.b = rng, labels, b
        self.ambiguous = rng.random(b) < AMBIGUOUS_SHARE
        self.faint = self.ambiguous & (labels == 1)  # small, faint opacities only
        self.benign = self.ambiguous & (labels == 0)  # poor inspiration, dense markings, a benign density
        hazy = self.col(self.benign)
        u = self.uniform
        self.angle, self.scale, self.dx, self.dy = u(-0.05, 0.05), u(0.9, 1.05), u(-0.05, 0.05), u(-0.05, 0.06)
        self.body_w, self.top, self.base = u(0.9, 1.12), u(-0.78, -0.66), u(0.5, 0.62) - 0.08 * hazy
        self.lung_w, self.dome = u(0.3, 0.36), u(0.12, 0.2)
        self.rib_gap, self.rib_first = u(0.135, 0.16), u(-1.0, -0.9)
        self.heart_x, self.heart_y, self.heart_r = u(0.08, 0.14), u(0.2, 0.3), u(0.3, 0.36)
        self.air = u(0.33, 0.4) - hazy * u(0.03, 0.07)
        self.markings = u(0.07, 0.1) * (1 + 0.7 * hazy)
        self.exposure, self.level, self.window = u(1.6, 2.1), u(-0.03, 0.05), u(0.85, 1.0)
        self.grain = u(0.03, 0.07)

    def uniform(self, lo: float, hi: float) -> np.ndarray:
        return self.rng.uniform(lo, hi, (self.b, 1, 1)).astype(np.float32)

    @staticmethod
    def col(values: np.ndarray) -> np.ndarray:
        return np.asarray(values, np.float32)[:, None, None]

    def grid(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Body coordinates (x right, y down, about -1..1) of every pixel, after the pose."""
        g = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
        x0, y0 = g[None, None, :] - self.dx, g[None, :, None] - self.dy
        c, s = np.cos(self.angle), np.sin(self.angle)
        return (c * x0 + s * y0) / self.scale, (c * y0 - s * x0) / self.scale

    def opacities(self, x: np.ndarray, y: np.ndarray, s: int) -> np.ndarray:
        return _opacities(self, x, y, s)

    def devices(self, x: np.ndarray, y: np.ndarray) -> np.ndarray | float:
        """Metal outside the body's own anatomy (none in the standard set)."""
        return 0.0


def _soft_tissue(p: _Patients, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smooth density, the weight of vessel texture and the visibility of bone; each (b, s, s)."""
    x, y = p.grid(s)
    ax = np.abs(x)
    neck = np.clip((-0.78 - y) / 0.22, 0, 1) ** 2  # the body narrows from the shoulders up
    body_w = p.body_w * (1 - 0.5 * neck) - 0.05 * np.clip(y, 0, 1)
    body = _soft(ax - body_w, 0.12) * (0.8 + 0.2 * np.clip(1 - (x / body_w) ** 2, 0, 1))

    # lungs: boxy superellipses leaning outward downward, cut by the mediastinum and the domes
    base = p.base + 0.04 * (x > 0)  # the liver lifts the image-left dome
    cy = 0.5 * (p.top + base)
    dx, dy = np.abs(ax - 0.4 - 0.1 * (y - cy)) / p.lung_w, np.abs(y - cy) / (0.5 * (base - p.top) + 0.1)
    outline = dx * dx * np.sqrt(dx) + dy * dy * np.sqrt(dy) - 1
    diaphragm = base - p.dome * np.exp(-((ax - 0.33) / 0.22) ** 2)
    lung = _soft(np.maximum(np.maximum(0.11 - ax, outline * 0.2), y - diaphragm), 0.05)
    below = _soft(diaphragm - y, 0.08)

    hx, hy = x - p.heart_x, y - p.heart_y  # the heart leans to image right and merges upward
    tilt_x, tilt_y = (0.94 * hx - 0.34 * hy) / (p.heart_r * 1.25), (0.34 * hx + 0.94 * hy) / p.heart_r
    heart = _soft(np.sqrt(tilt_x * tilt_x + tilt_y * tilt_y) - 1, 0.14)
    heart = np.maximum(heart, _soft(ax - 0.12 - 0.1 * np.clip(y + 0.2, 0, 1), 0.08) * _soft(-0.25 - y, 0.2))
    trachea = _soft(ax - 0.035, 0.02) * _soft(y + 0.3, 0.08)
    lung_free = lung * (1 - heart)
    bubble = p.col(p.rng.random(p.b) < 0.6) * np.exp(-((x - 0.4) ** 2 + (y - p.base - 0.12) ** 2 * 2) / 0.012)
    hilum = np.exp(-((ax - 0.2) ** 2 + (y + 0.02) ** 2 * 0.4) / 0.01)
    tissue = (0.6 + 0.12 * below * (1 - lung) + 0.05 * heart + 0.03 * _noise(p.rng, p.b, 6, s)
              - 0.15 * bubble * below)
    filled = np.minimum(p.opacities(x, y, s), p.air)  # fluid replaces air: at most soft-tissue dense
    density = body * tissue - lung_free * (p.air - 0.08 * hilum - filled) - 0.1 * trachea
    vessel_weight = lung_free * p.markings * (0.35 + 0.65 * np.exp(-((ax - 0.15) ** 2 + y * y) / 0.15))
    cage = _soft(ax - 0.85, 0.1) * _soft(y - p.base - 0.2, 0.16) * body
    return density, vessel_weight, 0.17 * cage * (0.45 + 0.55 * lung_free)


def _opacities(p: _Patients, x: np.ndarray, y: np.ndarray, s: int) -> np.ndarray:
    """Added lung density: consolidations and haze (PNEUMONIA), or a small benign spot."""
    rng, b, faint, sick = p.rng, p.b, p.faint, p.labels == 1
    patch = np.clip(0.6 + 0.45 * _noise(rng, b, 14, s), 0, 1.5)
    total = np.zeros_like(x)
    for k, chance in enumerate((1.0, 0.55, 0.3, 0.15)):
        present = sick & (rng.random(b) < chance) & ((k == 0) | ~faint)
        cx = p.col(rng.choice((-1, 1), b) * rng.uniform(0.22, 0.55, b))
        cy = p.col(rng.uniform(-0.45, 0.45, b))
        r = p.col(np.where(faint, rng.uniform(0.05, 0.09, b), rng.uniform(0.1, 0.28, b)))
        amp = p.col(np.where(faint, rng.uniform(0.06, 0.12, b), rng.uniform(0.3, 0.6, b)) * present)
        total += amp * np.exp(-((x - cx) ** 2 + ((y - cy) / 1.3) ** 2) / (r * r))
    total *= patch
    # diffuse bronchopneumonia-like haze over one or both lungs
    diffuse = sick & ~faint & (rng.random(b) < 0.5)
    side = p.col(rng.choice((-1, 0, 1), b))  # 0: both lungs
    amount = p.col(rng.uniform(0.08, 0.16, b) * diffuse)
    total += amount * np.clip(0.6 + 0.4 * _noise(rng, b, 4, s), 0, 1) * ((side == 0) | (side * x > 0))
    return total + _benign_spot(p, x, y)


def _benign_spot(p: _Patients, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A benign look-alike in half the ambiguous NORMALs: a small round density (a nipple shadow, a
    vessel seen end-on)."""
    rng, b = p.rng, p.b
    spot = p.col((p.benign & (rng.random(b) < 0.5)) * rng.uniform(0.06, 0.12, b))
    sx, sy = p.col(rng.choice((-1, 1), b) * rng.uniform(0.25, 0.5, b)), p.col(rng.uniform(0.05, 0.4, b))
    return spot * np.exp(-((x - sx) ** 2 + (y - sy) ** 2) / 0.003)


# --- more than two classes: one finding per class ----------------------------------------------------
# Each finding draws its added lung density for a whole batch; (b, s, s) in body coordinates (x right,
# y down; the lungs span about 0.1 < |x| < 0.75, -0.72 < y < 0.56). A faint (ambiguous) image draws its
# finding at FAINT of its density; half of every class's images add a small nonspecific patch, so no
# class is told by "any opacity at all".
FAINT = (0.25, 0.45)


def _lobar(p: _Patients, x: np.ndarray, y: np.ndarray, s: int) -> np.ndarray:
    """Lobar / segmental consolidation (bacterial): one lung's upper, middle or lower zone, dense and
    nearly homogeneous, bounded by a sloping fissure."""
    rng, b = p.rng, p.b
    side = p.col(rng.choice((-1, 1), b))
    zone = rng.integers(0, 3, b)
    top = p.col(np.array([-0.85, -0.3, 0.05])[zone] + rng.uniform(-0.05, 0.05, b))
    bottom = p.col(np.array([-0.25, 0.15, 0.8])[zone] + rng.uniform(-0.05, 0.05, b))
    tilt = 0.25 * (np.abs(x) - 0.4)
    region = _soft(top - y + tilt, 0.05) * _soft(y - tilt - bottom, 0.05) * (side * x > 0)
    return p.col(rng.uniform(0.22, 0.4, b)) * region * np.clip(0.85 + 0.25 * _noise(rng, b, 10, s), 0, 1.3)


def _interstitial(p: _Patients, x: np.ndarray, y: np.ndarray, s: int) -> np.ndarray:
    """Bilateral interstitial haze around the hila (viral): a fine reticular net over a diffuse haze,
    densest beside the heart, fading to the periphery."""
    rng, b = p.rng, p.b
    perihilar = np.exp(-((np.abs(x) - p.col(rng.uniform(0.25, 0.35, b))) ** 2 / 0.08 + y * y / 0.25))
    ridges = _noise(rng, b, 16, s) * 2.5
    net = np.exp(-ridges * ridges)
    return p.col(rng.uniform(0.15, 0.25, b)) * perihilar * (0.45 + 0.9 * net)


def _nodules(p: _Patients, x: np.ndarray, y: np.ndarray, s: int) -> np.ndarray:
    """Several small round nodules scattered over both lungs."""
    rng, b = p.rng, p.b
    total = np.zeros_like(x)
    for k in range(6):
        present = p.col((k < 3) | (rng.random(b) < 0.5))
        cx = p.col(rng.choice((-1, 1), b) * rng.uniform(0.2, 0.65, b))
        cy, r = p.col(rng.uniform(-0.55, 0.4, b)), p.col(rng.uniform(0.05, 0.08, b))
        total += present * _soft(np.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r, 0.02)
    return p.col(rng.uniform(0.3, 0.45, b)) * np.minimum(total, 1)


def _effusion(p: _Patients, x: np.ndarray, y: np.ndarray, s: int) -> np.ndarray:
    """Pleural effusion: fluid filling one lung's base, its meniscus rising towards the chest wall."""
    rng, b = p.rng, p.b
    side = p.col(rng.choice((-1, 1), b))
    line = p.col(rng.uniform(0.05, 0.3, b)) - 0.5 * np.clip(np.abs(x) - 0.35, 0, None)
    return p.col(rng.uniform(0.3, 0.45, b)) * _soft(line - y, 0.04) * (side * x > 0)


def _apical(p: _Patients, x: np.ndarray, y: np.ndarray, s: int) -> np.ndarray:
    """Upper-zone patchy opacities with lucent holes (cavitating), one apex or both."""
    rng, b = p.rng, p.b
    side = p.col(rng.choice((-1, 0, 1), b))  # 0: both lungs
    zone = _soft(y - p.col(rng.uniform(-0.45, -0.25, b)), 0.08) * ((side == 0) | (side * x > 0))
    patch = np.clip(0.5 + 0.6 * _noise(rng, b, 12, s), 0, 1.2)
    return p.col(rng.uniform(0.22, 0.38, b)) * zone * patch


def _basal_lines(p: _Patients, x: np.ndarray, y: np.ndarray, s: int) -> np.ndarray:
    """Bilateral basal linear bands (plate atelectasis / fibrotic lines) in both lower zones."""
    rng, b = p.rng, p.b
    phase = (y + 0.3 * x * p.col(rng.uniform(-0.5, 0.5, b))) / p.col(rng.uniform(0.15, 0.22, b))
    bands = _bump(phase - np.floor(phase) - 0.5, 0.4)
    return p.col(rng.uniform(0.25, 0.4, b)) * bands * _soft(p.col(rng.uniform(0.0, 0.2, b)) - y, 0.08)


def _mass(p: _Patients, x: np.ndarray, y: np.ndarray, s: int) -> np.ndarray:
    """One large, round, sharply bounded mass in either lung."""
    rng, b = p.rng, p.b
    cx = p.col(rng.choice((-1, 1), b) * rng.uniform(0.3, 0.5, b))
    cy, r = p.col(rng.uniform(-0.45, 0.25, b)), p.col(rng.uniform(0.1, 0.16, b))
    return p.col(rng.uniform(0.35, 0.5, b)) * _soft(np.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r, 0.025)


# class k > 0 draws FINDINGS[k - 1]: with three classes BACTERIAL (lobar) and VIRAL (interstitial)
FINDINGS = (_lobar, _interstitial, _nodules, _effusion, _apical, _basal_lines, _mass)


class _FindingPatients(_Patients):
    """The standard anatomy; label k > 0 draws FINDINGS[k - 1], a faint one in the ambiguous share."""

    def __init__(self, labels: np.ndarray, rng: np.random.Generator):
        super().__init__(labels, rng)
        self.faint = self.ambiguous & (labels > 0)

    def opacities(self, x: np.ndarray, y: np.ndarray, s: int) -> np.ndarray:
        rng, b = self.rng, self.b
        total = np.zeros_like(x)
        for k in range(1, int(self.labels.max(initial=0)) + 1):
            total += self.col(self.labels == k) * FINDINGS[k - 1](self, x, y, s)
        total *= self.col(np.where(self.faint, rng.uniform(*FAINT, b), 1.0))
        # a small nonspecific patch in half of the images of every class
        patch = self.col((rng.random(b) < 0.5) * rng.uniform(0.04, 0.1, b))
        px, py = self.col(rng.choice((-1, 1), b) * rng.uniform(0.25, 0.6, b)), self.col(rng.uniform(-0.5, 0.4, b))
        total += patch * np.exp(-((x - px) ** 2 + (y - py) ** 2) / 0.008) * np.clip(1 + _noise(rng, b, 8, s), 0, 2)
        return total + _benign_spot(self, x, y)


# --- the teaching preset ---------------------------------------------------------------------------
# Built so that what strategies do can be seen and measured, not to look like real data (docs/teaching.md):
# - sub-populations of unequal size that look different on the film (patient type, projection,
#   exposure); the bedside and large-patient films have hazier lungs without any pneumonia, so a
#   model that has seen few of them misreads them, and a random initial set holds few of them;
# - a clear lesion for most images: a dense lower-zone consolidation, or none;
# - a borderline band in both classes: the same consolidation, faint, whose density alone decides
#   the label (above THRESHOLD: PNEUMONIA): learnable, but only with labels near the line;
# - less pose and exposure variation than the standard set within each sub-population.
GROUPS = ("adult PA", "child", "portable AP", "large patient")
GROUP_SHARES = (0.6, 0.2, 0.13, 0.07)
# The rare-finding lesson (the demo's): the teaching preset with PNEUMONIA in 5 % of the pool, where
# uncertainty sampling finds it far sooner than random (Ertekin et al. 2007; Kothawade et al. 2021);
# designed on another draw, measured over 5 seeds (docs/teaching.md). 5 %: the lowest share a run accepts.
RARE_FINDING_SHARE = 0.05
BORDERLINE_SHARE = 0.2  # of each class
THRESHOLD = 0.12  # a borderline consolidation denser than this is PNEUMONIA, a fainter one is not
BAND = 0.1  # borderline densities lie within THRESHOLD +- BAND
CLEAR_DENSITY = (0.25, 0.45)  # a clear PNEUMONIA's consolidation (the lungs' air is about 0.3-0.4)
LESION_TOP = (-0.6, -0.1)  # the consolidation fills the lung below this height (body coordinates, -1 top)
PATCHINESS = 0.3  # how unevenly a consolidation fills its zone
CONFOUND = 0.09  # air missing from the lungs of portable AP and large-patient films, pneumonia or not
NUISANCE = 0.35  # the standard set's spread of pose and exposure, scaled by this
POSE_AND_EXPOSURE = {"angle": 0.0, "scale": 0.975, "dx": 0.0, "dy": 0.005, "body_w": 1.01, "exposure": 1.85,
                     "level": 0.01, "window": 0.925, "grain": 0.05}  # the middles of the standard ranges


@dataclass
class Traits:
    """What the teaching preset drew for each image: its sub-population, and whether it is borderline
    (with its consolidation's density) or clear (PNEUMONIA: a dense consolidation; NORMAL: none)."""

    group: np.ndarray  # (b,) index into GROUPS
    borderline: np.ndarray  # (b,) bool
    density: np.ndarray  # (b,) a borderline image's consolidation density, 0 for clear images

    def describe(self) -> list[str]:
        return [f"{GROUPS[g]}:{'borderline' if b else 'clear'}" for g, b in zip(self.group, self.borderline)]


class _TeachingPatients(_Patients):
    """The standard anatomy, changed per sub-population; lesions drawn as clear or borderline."""

    def __init__(self, labels: np.ndarray, rng: np.random.Generator):
        super().__init__(labels, rng)
        b = self.b
        group = rng.choice(len(GROUPS), size=b, p=GROUP_SHARES)
        borderline = rng.random(b) < BORDERLINE_SHARE
        above = np.where(labels == 1, rng.uniform(0, BAND, b), -rng.uniform(0, BAND, b))
        self.traits = Traits(group, borderline, np.where(borderline, THRESHOLD + above, 0.0).astype(np.float32))
        self.faint = self.benign = np.zeros(b, bool)  # the standard set's ambiguous share is replaced
        for name, middle in POSE_AND_EXPOSURE.items():  # less variation within a sub-population
            setattr(self, name, middle + NUISANCE * (getattr(self, name) - middle))
        child, portable, large = (self.col(group == k) for k in (1, 2, 3))
        self.scale *= 1 - 0.24 * child  # a small thorax in a larger field
        self.dy += 0.06 * child
        self.heart_r *= 1 + 0.12 * child + 0.22 * portable  # AP magnifies the heart
        self.rib_gap *= 1 - 0.1 * child
        self.base -= 0.07 * portable  # supine: a high diaphragm and hazier lungs
        self.air -= CONFOUND * (portable + large)
        self.level += 0.1 * portable  # a greyer bedside film
        self.angle += portable * self.uniform(-0.08, 0.08)
        self.body_w *= 1 + 0.12 * large
        self.exposure *= 1 - 0.4 * large  # under-penetrated: low contrast, heavy grain
        self.grain *= 1 + 1.5 * large
        self.portable = portable
        self.electrodes = [(self.uniform(-0.75, 0.75), self.uniform(-0.7, 0.3)) for _ in range(3)]

    def opacities(self, x: np.ndarray, y: np.ndarray, s: int) -> np.ndarray:
        """A lower-zone consolidation of one lung or both: the same shape in both classes, only its
        density differs (dense in clear PNEUMONIA, near THRESHOLD when borderline, none in a clear NORMAL)."""
        rng, b = self.rng, self.b
        side = self.col(rng.choice((-1, 0, 1), b))  # 0: both lungs
        upper = self.col(rng.uniform(*LESION_TOP, b))  # the consolidation fills the lung below this height
        zone = _soft(upper - y, 0.12) * ((side == 0) | (side * x > 0))
        patch = np.clip(1.05 - PATCHINESS + PATCHINESS * _noise(rng, b, 10, s), 0, 1.5)
        clear_sick = (self.labels == 1) & ~self.traits.borderline
        density = np.where(clear_sick, rng.uniform(*CLEAR_DENSITY, b), self.traits.density)
        return self.col(density) * zone * patch

    def devices(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """ECG electrodes on the bedside (portable AP) films: small, very dense discs."""
        discs = sum(np.exp(-((x - ex) ** 2 + (y - ey) ** 2) / 0.0015) for ex, ey in self.electrodes)
        return 1.2 * self.portable * discs


def _bones(p: _Patients, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Ribs (posterior arcs, fainter anterior ones), clavicles and vertebrae, drawn sharp."""
    ax = np.abs(x)
    arc = y - p.rib_first + ax * (0.15 - 1.4 * ax * ax)  # posterior ribs leave the spine flat, fall laterally
    phase = arc / p.rib_gap * (1 - 0.08 * arc)
    phase -= np.floor(phase) + 0.5
    u = _bump(phase, 0.7)
    posterior = u * (1 - 0.6 * u * u)  # a brighter cortex around a paler core
    phase = (y + 0.5 * ax - p.rib_first) / (1.3 * p.rib_gap)
    phase -= np.floor(phase) + 0.5
    anterior = _bump(phase, 0.45) * _soft(0.25 - ax, 0.12) * _soft(y - 0.2, 0.2)
    lateral = _soft(0.08 - ax, 0.04)  # off the spine
    clavicle = _bump(y - p.top - 0.08 + ax * (0.3 - 0.1 * ax), 0.14) * _soft(ax - 0.62, 0.08)
    spine = (1 - lateral) * (0.5 + 0.5 * posterior)  # vertebrae line up with the ribs
    return lateral * (posterior + 3 * clavicle) + 0.4 * anterior + 1.5 * spine


def _soft(d: np.ndarray, width: float) -> np.ndarray:
    """A soft step: 1 inside (d < 0), 0 outside, a smoothstep over `width` around the edge."""
    t = np.clip(0.5 - d * (0.5 / width), 0, 1)
    return t * t * (3 - 2 * t)


def _bump(d: np.ndarray, width: float) -> np.ndarray:
    """A smooth bump: 1 at d = 0, falling to 0 at |d| = width/2."""
    t = np.clip(1 - d * d * (4 / (width * width)), 0, 1)
    return t * t


def _noise(rng: np.random.Generator, b: int, cells: int, size: int) -> np.ndarray:
    """Smooth, roughly unit-variance noise (b, size, size) with about `cells` blobs per side."""
    pos = _positions(cells, size)
    w = np.exp(-0.5 * ((pos[:, None] - np.arange(cells)[None, :]) / 0.55) ** 2)
    low = rng.standard_normal((b, cells, cells), dtype=np.float32)
    return _separable(w / w.sum(axis=1, keepdims=True), low) * 1.6


def _resize(a: np.ndarray, n_out: int) -> np.ndarray:
    """Bilinear resize of a batch (b, n, n) to (b, n_out, n_out)."""
    n = a.shape[-1]
    if n == n_out:
        return a
    pos = np.clip(_positions(n, n_out), 0, n - 1)
    w = np.clip(1 - np.abs(pos[:, None] - np.arange(n)[None, :]), 0, None)
    return _separable(w, a)


def _positions(n_in: int, n_out: int) -> np.ndarray:
    """Where each output pixel centre falls on the input pixel grid."""
    return (np.arange(n_out) + 0.5) * n_in / n_out - 0.5


def _separable(m: np.ndarray, a: np.ndarray) -> np.ndarray:
    """m @ a[i] @ m.T for a batch a (b, n, n), m (n_out, n): two plain GEMMs (fast BLAS)."""
    b, n, _ = a.shape
    m = m.astype(np.float32)
    rows = (a.reshape(b * n, n) @ m.T).reshape(b, n, len(m))
    both = m @ rows.transpose(1, 0, 2).reshape(n, b * len(m))
    return np.ascontiguousarray(both.reshape(len(m), b, len(m)).transpose(1, 0, 2))


@dataclass(frozen=True)
class Preset:
    """One synthetic generator: how it draws a batch, its test split's size, its cache key's leading fields."""

    key: tuple  # the standard set's key predates the presets: it names none (cached sets stay valid)
    label: str  # what the data set's name adds
    test_size: Callable[[int], int]
    draw: Callable[[np.ndarray, int, np.random.Generator, int], tuple[np.ndarray, Traits | None]]


def _draw_standard(labels: np.ndarray, resolution: int, rng: np.random.Generator,
                   n_classes: int) -> tuple[np.ndarray, None]:
    return render(labels, resolution, rng, n_classes), None


def _draw_teaching(labels: np.ndarray, resolution: int, rng: np.random.Generator,
                   n_classes: int) -> tuple[np.ndarray, Traits]:
    return render_teaching(labels, resolution, rng)  # two classes (load_synthetic refuses more)


# The one list of presets (config.SYNTHETIC_PRESETS names these keys).
PRESETS = {
    "standard": Preset(("synthetic", VERSION), "", lambda size: max(100, size // 4), _draw_standard),
    "teaching": Preset(("synthetic", "teaching", TEACHING_VERSION), ", teaching preset", lambda size: max(200, size),
                       _draw_teaching),
}
