"""The tree shows the plan: the engine never imports the view models nor Streamlit; every file of pages/
is a page and nothing imports one; no private Streamlit, torch or Ray API; no long function in the pages."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ui.navigation import NAVIGATION

REPO = Path(__file__).resolve().parents[1]
ALCORE = REPO / "alcore"
PAGES = REPO / "pages"
UI = REPO / "ui"
MAX_LINES = 60
PAGE_FRAME = "ui.sidebar.page_frame"
OUR_PACKAGES = ("alcore", "ui", "pages")


def python_files(*folders: Path) -> list[Path]:
    return sorted(p for folder in folders for p in folder.rglob("*.py"))


def every_python_file() -> list[Path]:
    """The repository's own code: the dashboard, the engine, the pages, the UI helpers, tests and benchmarks."""
    return [REPO / "dashboard.py", *python_files(ALCORE, PAGES, UI, REPO / "tests", REPO / "benchmarks")]


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def dotted(node: ast.AST) -> str:
    """`a.b.c` for an attribute chain on a name, else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else ""


def test_no_module_of_alcore_imports_streamlit():
    offenders = [str(p) for p in ALCORE.rglob("*.py") if any(m.split(".")[0] == "streamlit" for m in imported_modules(p))]
    assert offenders == []


def test_the_engine_never_imports_the_view_models():
    engine = [p for p in ALCORE.rglob("*.py") if "viewmodels" not in p.relative_to(ALCORE).parts]
    offenders = [str(p) for p in engine if any(m.startswith("alcore.viewmodels") for m in imported_modules(p))]
    assert engine and offenders == []


def test_the_engine_and_the_view_models_never_import_the_dashboard():
    offenders = [str(p) for p in ALCORE.rglob("*.py") if any(m.split(".")[0] in ("ui", "pages") for m in imported_modules(p))]
    assert offenders == []


def test_nothing_imports_a_page():
    """Streamlit runs every file of pages/ as a page: shared code lives in ui/, never in a page."""
    offenders = [str(p) for p in every_python_file() if any(m.split(".")[0] == "pages" for m in imported_modules(p))]
    assert offenders == []


@pytest.mark.parametrize("page", ["dashboard.py", *(p.relative_to(REPO).as_posix() for p in python_files(PAGES))])
def test_every_page_draws_the_frame_first_and_is_in_the_navigation(page):
    """A fresh server whose first request is a page's URL runs that file alone: the page itself draws the
    sidebar (ui.sidebar.page_frame, imported before the rest, as it starts the worker launcher)."""
    tree = parse(REPO / page)
    ours = [node for node in tree.body if isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] in OUR_PACKAGES]
    assert ours and [f"{ours[0].module}.{a.name}" for a in ours[0].names] == [PAGE_FRAME], \
        f"{page}: its first import of our code must be `from ui.sidebar import page_frame`"
    calls = [node for node in tree.body if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)]
    assert calls and dotted(calls[0].value.func) == "page_frame", f"{page}: page_frame() must be its first call"
    assert page in {entry.path for entry in NAVIGATION}, f"{page} is missing from ui/navigation.py's NAVIGATION"


def test_the_navigation_lists_every_page_once():
    paths = [entry.path for entry in NAVIGATION]
    assert len(set(paths)) == len(paths)
    assert sorted(paths) == sorted(["dashboard.py", *(p.relative_to(REPO).as_posix() for p in python_files(PAGES))])
    assert len({entry.label for entry in NAVIGATION}) == len(NAVIGATION)


def private_api_uses(path: Path) -> list[str]:
    """Imports of streamlit.runtime, private torch ops (torch.ops.<lib>._name), private arguments of ray.init."""
    found = []
    for node in ast.walk(parse(path)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [(node, f"import {m}") for m in modules if m.split(".")[:2] == ["streamlit", "runtime"]]
        elif isinstance(node, ast.Attribute):
            parts = dotted(node).split(".")
            if parts[:2] == ["torch", "ops"] and len(parts) > 3 and parts[3].startswith("_"):
                found.append((node, dotted(node)))
        elif isinstance(node, ast.Call) and dotted(node.func) == "ray.init":
            found += [(node, f"ray.init({k.arg}=...)") for k in node.keywords if k.arg and k.arg.startswith("_")]
    return [f"{path.relative_to(REPO)}:{node.lineno}: {use}" for node, use in found]


def test_no_private_streamlit_torch_or_ray_api():
    offenders = [use for path in every_python_file() for use in private_api_uses(path)]
    assert offenders == []


def long_defs(path: Path) -> list[str]:
    """Functions (and methods) over MAX_LINES lines."""
    return [f"{path.relative_to(REPO)}:{node.lineno} {node.name}() has {node.end_lineno - node.lineno + 1} lines"
            for node in ast.walk(parse(path)) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_LINES]


def long_functions(path: Path) -> list[str]:
    """Functions over MAX_LINES lines, and a page's script (its statements outside functions) over MAX_LINES."""
    tree = parse(path)
    found = long_defs(path)
    script = sum(node.end_lineno - node.lineno + 1 for node in tree.body[1:]  # [0]: the docstring
                 if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import,
                                          ast.ImportFrom)))
    if script > MAX_LINES:
        found.append(f"{path.relative_to(REPO)}: {script} lines of script outside functions")
    return found


def test_no_long_functions_in_pages():
    offenders = [f for path in [REPO / "dashboard.py", *python_files(PAGES, UI)] for f in long_functions(path)]
    assert offenders == []


def test_no_long_functions_in_alcore():
    """Every function of the engine and the view models reads in one screen (benchmarks are exempt)."""
    offenders = [f for path in python_files(ALCORE) for f in long_defs(path)]
    assert offenders == []
