"""The tree shows the split: the engine never imports the view models, and no module of alcore imports Streamlit."""
import ast
from pathlib import Path

ALCORE = Path(__file__).resolve().parents[1] / "alcore"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_of_alcore_imports_streamlit():
    offenders = [str(p) for p in ALCORE.rglob("*.py") if any(m.split(".")[0] == "streamlit" for m in imported_modules(p))]
    assert offenders == []


def test_the_engine_never_imports_the_view_models():
    engine = [p for p in ALCORE.rglob("*.py") if "viewmodels" not in p.relative_to(ALCORE).parts]
    offenders = [str(p) for p in engine if any(m.startswith("alcore.viewmodels") for m in imported_modules(p))]
    assert engine and offenders == []
