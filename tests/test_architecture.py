"""The house of `kexue`, read from the code's own imports: no import circle; the shared layer
imports no part; parts do not import each other; an idea module imports neither the registry nor
anything that draws; every registered experiment is found; every part module names its chapter."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kexue
from kexue import experiments

PACKAGE = Path(kexue.__file__).parent
ROOT = PACKAGE.parent.parent
#: sub-packages that belong to every part (the shared layer); every other sub-package is a part
SHARED_PACKAGES = {"widgets", "generative", "text"}
#: what only a part's figures (and the shared drawing modules) may import
DRAWING = ("kexue.viz", "kexue.widgets", "kexue.notebook", "matplotlib", "ipywidgets", "IPython")
ROLES = ("experiments", "figures")  # a part's drivers and its figures; anything else is an idea


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (function-level imports included), resolved
    to absolute names; ``from . import x`` counts as importing ``package.x``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}


def internal_graph() -> dict[str, set[str]]:
    return {name: {m for m in imports(path) if m in MODULES and m != name}
            for name, path in MODULES.items()}


def part_of(name: str) -> str | None:
    """The part a module belongs to (``kexue.vae.clustering`` -> ``vae``), None if shared."""
    pieces = name.split(".")
    if len(pieces) < 3 and not (len(pieces) == 2 and (PACKAGE / pieces[1]).is_dir()):
        return None
    return None if pieces[1] in SHARED_PACKAGES else pieces[1]


def role_of(name: str) -> str:
    pieces = name.split(".")
    return pieces[2] if len(pieces) > 2 and pieces[2] in ROLES else "idea"


def test_there_is_no_import_circle():
    graph = internal_graph()
    index, low, stack, on_stack, circles, counter = {}, {}, [], set(), [], [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not circles, f"import circles: {circles}"


def test_the_shared_layer_imports_no_part_and_parts_import_no_other_part():
    wrong = []
    for name, targets in internal_graph().items():
        mine = part_of(name)
        for target in targets:
            theirs = part_of(target)
            if theirs is not None and theirs != mine:
                wrong.append(f"{name} -> {target}")
    assert not wrong, "imports across the layers: " + ", ".join(sorted(wrong))


def test_ideas_import_neither_the_registry_nor_drawing_nor_their_drivers():
    wrong = []
    for name, path in MODULES.items():
        if part_of(name) is None or role_of(name) != "idea" or name.count(".") < 2:
            continue
        for target in imports(path):
            if target == "kexue.experiments" or target.startswith(DRAWING) or (
                    target.startswith(f"kexue.{part_of(name)}.")
                    and role_of(target) != "idea"):
                wrong.append(f"{name} -> {target}")
    assert not wrong, "idea modules that reach up: " + ", ".join(sorted(wrong))


def registered_in_source() -> dict[str, str]:
    """``experiment("NAME", ...)`` calls anywhere in the package -> the module holding each."""
    found = {}
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "experiment"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found[node.args[0].value] = name
    return found


def test_every_experiment_in_the_source_is_found_by_the_registry():
    in_source = registered_in_source()
    assert in_source, "no experiment(...) registration found in the package"
    assert set(in_source) == set(experiments.names())
    misplaced = {exp: mod for exp, mod in in_source.items() if role_of(mod) != "experiments"}
    assert not misplaced, f"experiments registered outside a part's experiments module: {misplaced}"


def test_every_part_module_names_the_chapter_it_serves():
    chapters = {p.relative_to(ROOT).as_posix() for p in (ROOT / "chapters").rglob("*.ipynb")}
    missing = []
    for name, path in MODULES.items():
        if part_of(name) is None or path.name == "__init__.py":
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if not any(chapter in doc for chapter in chapters):
            missing.append(name)
    assert not missing, f"modules whose docstring names no chapter (chapters/...ipynb): {missing}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_imports(name):
    __import__(name)
