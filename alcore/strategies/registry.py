"""Strategies registered by name, with a one-line help text, their options and the one-line reason
they give for a pick (shown when a teacher hovers a picked image).

A strategy with options declares them as a small frozen dataclass whose fields are made by
`option()`; `query` turns the run's `sampler_options` (a plain dict from the config) into that
dataclass and passes it as the strategy's `options` argument."""
from __future__ import annotations

import dataclasses
import inspect
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

from threadpoolctl import threadpool_limits

from alcore.strategies.base import Pool, Selection

StrategyFn = Callable[..., Selection]  # (pool, budget) or (pool, budget, options) -> Selection


def option(default: Any, help: str, *, minimum: float | None = None) -> Any:
    """A field of a strategy's options dataclass: its default, one line of help, its lowest valid value."""
    return dataclasses.field(default=default, metadata={"help": help, "minimum": minimum})


@dataclass(frozen=True)
class Option:
    """One option as menus, the CLI and validation show it (read from the options dataclass)."""
    name: str
    default: Any
    help: str
    minimum: float | None = None
    whole: bool = False  # a count: an integer value only


@dataclass(frozen=True)
class StrategyInfo:
    name: str
    fn: StrategyFn
    help: str  # one line: what the strategy prefers and why
    reason: str  # why it picked an image, with {p} (a class probability: 'p(VIRAL) = 0.61') and {score}
    options_type: type | None = None  # the frozen dataclass of its options, if it has any
    aliases: tuple[str, ...] = ()
    needs_mc: bool = False  # asks the loop for MC-dropout passes (Pool.mc_probs)
    family: str = "uncertainty"
    needs_labeled_features: bool = False  # reads Pool.labeled_features (else they may be left empty)

    @property
    def options(self) -> tuple[Option, ...]:
        if self.options_type is None:
            return ()
        types = typing.get_type_hints(self.options_type)
        return tuple(Option(f.name, f.default, f.metadata["help"], f.metadata["minimum"], types[f.name] is int)
                     for f in dataclasses.fields(self.options_type))

    def option_values(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every option's value: the given one, else its default (names it does not have are ignored)."""
        return {o.name: given.get(o.name, o.default) for o in self.options}

    def parse_options(self, given: Mapping[str, Any]) -> Any:
        """The options dataclass filled from `given` (already validated), numbers cast to each field's type."""
        if self.options_type is None:
            return None
        types = typing.get_type_hints(self.options_type)
        return self.options_type(**{name: types[name](value) for name, value in self.option_values(given).items()})

    def select(self, pool: Pool, budget: int, given: Mapping[str, Any]) -> Selection:
        """Call the strategy, with its options when its signature takes them."""
        if "options" in inspect.signature(self.fn).parameters:
            return self.fn(pool, budget, options=self.parse_options(given))
        return self.fn(pool, budget)


_REGISTRY: dict[str, StrategyInfo] = {}
_ALIASES: dict[str, str] = {}


def register(name: str, help: str, *, reason: str, options: type | None = None, aliases: tuple[str, ...] = (),
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


def reason(name: str, prob: float, score: float, class_name: str | None = None) -> str:
    """The strategy's one-line reason for a pick, with a probability the model gives it and the pick's
    score ('–' where there is none). The caller names the class `prob` is for (e.g. the predicted
    class: 'p(VIRAL) = 0.61'); unnamed, it reads 'p = 0.61'."""
    def shown(value: float, spec: str) -> str:
        return "–" if value is None or not math.isfinite(value) else format(value, spec)
    p = shown(prob, ".2f")
    return get(name).reason.format(p=f"p({class_name}) = {p}" if class_name else f"p = {p}",
                                   score=shown(score, ".3g"))


def validate_options(name: str, given: dict[str, Any]) -> dict[str, str]:
    """{sampler_options: message} for unknown option names or out-of-range values."""
    info = get(name)
    known = {o.name: o for o in info.options}
    problems = []
    for key, value in given.items():
        if key not in known:
            problems.append(f"'{key}' is not an option of {info.name}"
                            + (f" (options: {', '.join(known)})" if known else " (it takes none)"))
        else:
            problems += _value_problems(known[key], value)
    return {"sampler_options": "; ".join(problems)} if problems else {}


def _value_problems(spec: Option, value: Any) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            spec.minimum is not None and value < spec.minimum):
        at_least = "" if spec.minimum is None else f" >= {spec.minimum}"
        return [f"{spec.name} must be a number{at_least} (got {value!r})"]
    if spec.whole and not float(value).is_integer():
        return [f"{spec.name} must be a whole number (got {value!r})"]
    return []


def query(name: str, pool: Pool, budget: int, options: Mapping[str, Any] | None = None) -> Selection:
    """Run a strategy with the run's `sampler_options` (defaults for those not given); checks the
    contract on the way out. BLAS and OpenMP (scikit-learn's KMeans) compute it on one thread: split
    over threads, their sums would make the picks depend on the machine's cores (docs/performance.md,
    "Threads")."""
    info = get(name)
    if budget > len(pool):
        raise ValueError(f"budget {budget} is larger than the unlabeled pool ({len(pool)})")
    with threadpool_limits(1):
        selection = info.select(pool, budget, options or {})
    if len(selection.indices) != budget or len(set(selection.indices.tolist())) != budget:
        raise RuntimeError(f"strategy {info.name} returned {len(selection.indices)} indices "
                           f"({len(set(selection.indices.tolist()))} distinct) for a budget of {budget}")
    return selection
