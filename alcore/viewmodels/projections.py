"""The 2-D layouts of a round's train pool: PCA from the round file, UMAP cached on disk beside it. No streamlit."""
from __future__ import annotations

import io
import threading
import warnings

import numpy as np

from alcore.runs import RunStore, atomic_write_bytes
from alcore.viewmodels.round_view import round_arrays

PROJECTIONS = ("PCA", "UMAP")


def projection(store: RunStore, run_id: str, round_index: int, method: str) -> np.ndarray:
    """(n, 2) layout of the round's train pool: PCA from the round file, or UMAP cached beside it."""
    arrays = round_arrays(store, run_id, round_index)
    if method == "PCA":
        return arrays["embedding"].astype(np.float32)  # stored as float16
    path = store.run_dir(run_id) / "rounds" / f"umap_{round_index:03d}.npy"
    if path.is_file():
        return np.load(path)
    layout = umap_layout(arrays["features_pca"])
    try:
        atomic_write_bytes(path, _npy_bytes(layout))
    except OSError:  # a full disk or a read-only run folder: shown all the same, computed again next time
        pass
    return layout


_UMAP_COMPILED = threading.Event()
_UMAP_WARM_UP: list[threading.Thread] = []
_UMAP_LOCK = threading.Lock()


def warm_up_umap() -> None:
    """Compile UMAP's numba code in a background thread, once per process: the first layout otherwise
    spends 30-60 s compiling on two cores (numba caches little of it on disk), the next ones seconds.
    Started when the Embeddings page is first shown, not at server start, so a demo run is not slowed."""
    with _UMAP_LOCK:
        if not _UMAP_WARM_UP:
            tiny = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
            _UMAP_WARM_UP.append(threading.Thread(target=umap_layout, args=(tiny,), name="umap-warm-up", daemon=True))
            _UMAP_WARM_UP[0].start()


def umap_compiled() -> bool:
    """Whether a UMAP layout has finished in this process (later ones need no compiling)."""
    return _UMAP_COMPILED.is_set()


def umap_layout(features: np.ndarray) -> np.ndarray:
    """UMAP on exact neighbours (sklearn): skipping pynndescent saves a minute of numba compiling,
    and 200 epochs lay out 5,000 points in about two seconds on two cores."""
    import umap  # late: importing it costs seconds
    from sklearn.neighbors import NearestNeighbors

    features = features.astype(np.float32)
    if len(features) < 4:  # no neighbourhood to lay out
        return np.zeros((len(features), 2), np.float32)
    k = min(15, len(features) - 1)
    distances, indices = NearestNeighbors(n_neighbors=k).fit(features).kneighbors(features)
    reducer = umap.UMAP(n_neighbors=k, min_dist=0.1, n_epochs=200, precomputed_knn=(indices, distances, None))
    with warnings.catch_warnings():  # "no NNDescent index, so no transform()": we never transform
        warnings.simplefilter("ignore", UserWarning)
        layout = reducer.fit_transform(features).astype(np.float32)
    _UMAP_COMPILED.set()
    return layout


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
