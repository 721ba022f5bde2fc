"""The layers stay apart: common imports neither side, the host never imports the node, nor the node the host.

Every import statement of every module is read (``ast``), also those inside
functions, so a late import cannot hide a wrong direction.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Folder -> the packages its modules must never import.
FORBIDDEN = {
    "agent/common": ("sparrow.agent", "sparrow.host"),
    "agent": ("sparrow.host",),
    "host": ("sparrow.agent",),
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import statement in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def layer_of(path: Path) -> str:
    relative = path.relative_to(ROOT).as_posix()
    return "agent/common" if relative.startswith("agent/common/") else relative.split("/")[0]


def product_modules() -> list[Path]:
    return sorted(p for folder in ("agent", "host") for p in (ROOT / folder).rglob("*.py"))


def test_there_are_modules_in_every_layer() -> None:
    layers = {layer_of(p) for p in product_modules()}
    assert layers == set(FORBIDDEN)


@pytest.mark.parametrize("path", product_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_module_imports_across_the_layer_rule(path: Path) -> None:
    banned = FORBIDDEN[layer_of(path)]
    wrong = [f"line {line}: {module}" for line, module in imported_modules(path)
             if any(module == b or module.startswith(b + ".") for b in banned)]
    assert not wrong, f"{path.relative_to(ROOT)} imports across layers: {wrong}"


def test_the_rule_catches_a_host_import_in_node_code(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("def f():\n    from sparrow.host.server import Host\n    return Host\n")
    assert (2, "sparrow.host.server") in imported_modules(sample)
