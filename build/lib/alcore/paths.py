"""Which paths a browser may name (data, weights, an export destination): only those under the allowed roots.

A dashboard reachable by others must not let them read or write any file the server can. The roots are
$ALCORE_ALLOWED_ROOTS (folders separated by ':'), plus, when the dashboard listens on the loopback
address only, the project folder, ../shared/data and the user's home. A path is resolved first (no
'..', no symlink out of a root). The command line is not limited: its user already has a shell.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOTS_ENV = "ALCORE_ALLOWED_ROOTS"
PROJECT = Path(__file__).resolve().parents[1]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class PathRefused(ValueError):
    """A path outside the allowed roots; the message names them."""


def is_loopback(address: str | None) -> bool:
    """Whether a server bound to `address` is reachable from this machine only ('' or None: every interface)."""
    return bool(address) and (address in LOOPBACK or address.startswith("127."))


def allowed_roots(address: str | None) -> tuple[Path, ...]:
    """The folders under which a browser's paths are accepted, for a server bound to `address`."""
    configured = [Path(p).expanduser() for p in os.environ.get(ROOTS_ENV, "").split(os.pathsep) if p.strip()]
    defaults = [PROJECT, PROJECT.parent / "shared" / "data", Path.home()] if is_loopback(address) else []
    roots: list[Path] = []
    for root in [*configured, *defaults]:
        resolved = root.resolve()
        if resolved not in roots:
            roots.append(resolved)
    return tuple(roots)


def allowed_path(text: str, roots: tuple[Path, ...]) -> Path:
    """`text` resolved (relative to the working folder), or PathRefused when it lies outside every root."""
    path = Path(str(text).strip()).expanduser()
    resolved = (path if path.is_absolute() else Path.cwd() / path).resolve()
    if any(resolved.is_relative_to(root) for root in roots):
        return resolved
    where = ", ".join(str(root) for root in roots) if roots else "none (this dashboard is served to the network)"
    raise PathRefused(f"{text} is outside the folders this dashboard may use. Allowed: {where}. "
                      f"Set {ROOTS_ENV} (folders separated by ':') before starting it to allow others")
