"""Strategies registered by name, with a one-line help text, their options and the one-line reason
they give for a pick (shown when a teacher hovers a picked image)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from threadpoolctl import threadpool_limits

from alcore.strategies.base import Pool, Selection

StrategyFn = Callable[[Pool, int], Selection]


@dataclass(frozen=True)
class Option:
    name: str
    default: Any
    help: str
    minimum: float | None = None


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    fn: StrategyFn
    help: str  # one line: what the strategy prefers and why
    reason: str  # why it picked an image, with {p} (the model's p(PNEUMONIA)) and {score} (its score)
    options: tuple[Option, ...] = ()
    aliases: tuple[str, ...] = ()
    needs_mc: bool = False  # asks the loop for MC-dropout passes (Pool.mc_probs)
    family: str = "uncertainty"
    needs_labeled_features: bool = False  # reads Pool.labeled_features (else they may be left empty)

    def option_values(self, given: dict[str, Any]) -> dict[str, Any]:
        return {o.name: given.get(o.name, o.default) for o in self.options}


_REGISTRY: dict[str, StrategyInfo] = {}
_ALIASES: dict[str, str] = {}


def register(name: str, help: str, *, reason: str, options: tuple[Option, ...] = (), aliases: tuple[str, ...] = (),
             needs_mc: bool = False, family: str = "uncertainty",
             needs_labeled_features: bool = False) -> Callable[[StrategyFn], StrategyFn]:
    def wrap(fn: StrategyFn) -> StrategyFn:
        _REGISTRY[name] = StrategyInfo(name, fn, help, reason, options, aliases, needs_mc, family,
                                       needs_labeled_features)
        for alias in aliases:
            _ALIASES[alias] = name
        return fn
    return wrap


def _load() -> None:
    import alcore.strategies  # noqa: F401  (importing the package registers every strategy)


def canonical(name: str) -> str:
    _load()
    return _ALIASES.get(name, name)


def is_known(name: str) -> bool:
    return canonical(name) in _REGISTRY


def get(name: str) -> StrategyInfo:
    _load()
    key = canonical(name)
    if key not in _REGISTRY:
        raise KeyError(f"unknown sampler '{name}'; choose one of: {', '.join(names())}")
    return _REGISTRY[key]


def names() -> list[str]:
    _load()
    return list(_REGISTRY)


def all_strategies() -> list[StrategyInfo]:
    _load()
    return list(_REGISTRY.values())


def reason(name: str, prob: float, score: float) -> str:
    """The strategy's one-line reason for a pick, with the model's p(PNEUMONIA) and the pick's score
    ('–' where there is none)."""
    def shown(value: float, spec: str) -> str:
        return "–" if value is None or not math.isfinite(value) else format(value, spec)
    return get(name).reason.format(p=shown(prob, ".2f"), score=shown(score, ".3g"))


def validate_options(name: str, given: dict[str, Any]) -> dict[str, str]:
    """{sampler_options: message} for unknown option names or out-of-range values."""
    info = get(name)
    known = {o.name: o for o in info.options}
    problems = []
    for key, value in given.items():
        if key not in known:
            problems.append(f"'{key}' is not an option of {info.name}"
                            + (f" (options: {', '.join(known)})" if known else " (it takes none)"))
        elif known[key].minimum is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                                 or value < known[key].minimum):
            problems.append(f"{key} must be a number >= {known[key].minimum} (got {value!r})")
    return {"sampler_options": "; ".join(problems)} if problems else {}


def query(name: str, pool: Pool, budget: int) -> Selection:
    """Run a strategy with its resolved options; checks the contract on the way out. BLAS and OpenMP
    (scikit-learn's KMeans) compute it on one thread: split over threads, their sums would make the
    picks depend on the machine's cores (docs/performance.md, "Threads")."""
    info = get(name)
    if budget > len(pool):
        raise ValueError(f"budget {budget} is larger than the unlabeled pool ({len(pool)})")
    resolved = Pool(pool.probs, pool.features, pool.labeled_features, pool.rng, pool.mc_probs,
                    info.option_values(pool.options))
    with threadpool_limits(1):
        selection = info.fn(resolved, budget)
    if len(selection.indices) != budget or len(set(selection.indices.tolist())) != budget:
        raise RuntimeError(f"strategy {info.name} returned {len(selection.indices)} indices "
                           f"({len(set(selection.indices.tolist()))} distinct) for a budget of {budget}")
    return selection
