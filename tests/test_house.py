"""The house rules, checked on the source: no import cycle, the process boundary, short functions, light drivers."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "rayjob"
MAX_FUNCTION_LINES = 60


def modules() -> dict[str, Path]:
    found = {}
    for file in PACKAGE.rglob("*.py"):
        parts = file.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = file
    return found


def imports_of(file: Path, known: dict[str, Path]) -> set[str]:
    """Every rayjob module ``file`` imports, at module level or inside functions."""
    targets = set()
    for node in ast.walk(ast.parse(file.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name.startswith("rayjob.") or name == "rayjob":
                targets.add(name)
    return targets


def test_no_import_cycle_inside_the_package() -> None:
    known = modules()
    graph = {name: imports_of(file, known) - {name, "rayjob"} for name, file in known.items()}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = path[path.index(name) :] + [name]
            raise AssertionError("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        for target in sorted(graph.get(name, ())):
            visit(target, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


# Which process each part of the package runs in (docs/ARCHITECTURE.md draws it).
DRIVER = (
    "rayjob.sweep", "rayjob.outputs", "rayjob.ray_cluster", "rayjob.worker_output", "rayjob.cli",
    "rayjob.train", "rayjob.tune", "rayjob.lifecycle", "rayjob.export", "rayjob.predict", "rayjob.preflight",
    "rayjob.__main__",
)  # fmt: skip
WORKER = ("rayjob.training", "rayjob.model", "rayjob.data")  # trial and Ray Train worker processes


def side(name: str) -> str:
    for prefix, label in [*((p, "driver") for p in DRIVER), *((p, "worker") for p in WORKER)]:
        if name == prefix or name.startswith(prefix + "."):
            return label
    return "shared"


def folder(name: str) -> str:
    """``rayjob.sweep.tuner`` -> ``rayjob.sweep``; a module at the top is its own room."""
    parts = name.split(".")
    return ".".join(parts[:2])


def test_trial_and_worker_code_never_imports_driver_code_and_shared_code_imports_neither() -> None:
    known = modules()
    crossings = []
    for name, file in known.items():
        for target in imports_of(file, known) - {"rayjob"}:
            if (side(name), side(target)) in (("worker", "driver"), ("shared", "driver"), ("shared", "worker")):
                crossings.append(f"{name} ({side(name)}) imports {target} ({side(target)})")
    assert not crossings, crossings


def test_no_folder_imports_a_folder_that_imports_it_back() -> None:
    known = modules()
    edges = {(folder(name), folder(target)) for name, file in known.items() for target in imports_of(file, known)}
    edges = {(a, b) for a, b in edges if a != b and "rayjob" not in (a, b)}
    both_ways = sorted(f"{a} <-> {b}" for a, b in edges if (b, a) in edges and a < b)
    assert not both_ways, both_ways


def test_no_function_is_longer_than_60_lines() -> None:
    long = []
    for name, file in modules().items():
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {length} lines")
    assert not long, long


def test_drivers_import_neither_torch_nor_lightning(tmp_path: Path) -> None:
    """The processes that only coordinate (CLIs, sweep driver, launcher) stay light and fail fast."""
    code = (
        "import sys\n"
        "import rayjob.train, rayjob.tune, rayjob.export, rayjob.predict\n"
        "import rayjob.lifecycle, rayjob.sweep.tuner, rayjob.training.trial, rayjob.sweep.progress\n"
        "import rayjob.training.launch, rayjob.training.entry, rayjob.outputs.finish, rayjob.ray_cluster\n"
        "from rayjob.preflight import check_config_and_data\n"
        "from rayjob.config import Config\n"
        f"check_config_and_data(Config.from_dict({{'run': {{'storage_path': {str(tmp_path)!r}}}}}))\n"
        "heavy = sorted(m for m in ('torch', 'lightning', 'torchvision') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "", f"drivers imported {done.stdout.strip()}"


ARCHITECTURE = PACKAGE.parent / "docs" / "ARCHITECTURE.md"


def _rooms_tree() -> dict[str, set[str]]:
    """The file stems docs/ARCHITECTURE.md's Rooms tree lists, by folder (``""``: the package's top)."""
    text = ARCHITECTURE.read_text().split("## Rooms", 1)[1].split("```")[1]
    listed: dict[str, set[str]] = {}
    stack: list[tuple[int, str]] = []
    for line in text.splitlines()[2:]:  # after the "rayjob/" line
        indent = len(line) - len(line.lstrip())
        if not line.strip() or indent == 0:
            if indent == 0 and line.strip():
                break  # configs/, benchmarks/, ...: outside the package
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        entry = line.strip()
        names = [] if entry.endswith((" side", " ground")) else entry.split("  ")[0].split()  # a group's title
        folder = "/".join(name for _, name in stack)
        for name in names:
            if name.endswith("/"):
                stack.append((indent, name.rstrip("/")))
            elif name.endswith(".py"):
                listed.setdefault(folder, set()).add(name[:-3])
    return listed


def test_the_architecture_doc_lists_every_module_and_only_modules_that_exist() -> None:
    listed = _rooms_tree()
    actual: dict[str, set[str]] = {}
    for file in PACKAGE.rglob("*.py"):
        if file.stem != "__init__":
            actual.setdefault(file.parent.relative_to(PACKAGE).as_posix().replace(".", ""), set()).add(file.stem)
    missing = sorted(f"{folder}/{stem}" for folder, stems in actual.items()
                     for stem in stems - listed.get(folder, set()))  # fmt: skip
    assert not missing, f"modules docs/ARCHITECTURE.md's Rooms do not list: {missing}"
    unknown = sorted(f"{folder}/{stem}" for folder, stems in listed.items()
                     for stem in stems - actual.get(folder, set()))  # fmt: skip
    assert not unknown, f"docs/ARCHITECTURE.md lists modules that do not exist: {unknown}"


def _defines(file: Path, names: list[str]) -> bool:
    """Whether ``file`` defines ``names[0]`` at the top (and ``names[1]`` inside it, for a class)."""
    scope: list[ast.stmt] = ast.parse(file.read_text()).body
    for name in names:
        found = None
        for node in scope:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
                found = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    found = node
        if found is None:
            return False
        scope = found.body if isinstance(found, ast.ClassDef) else []
    return True


def test_every_rayjob_name_the_architecture_doc_cites_exists() -> None:
    known = modules()
    cited = set(re.findall(r"`([A-Za-z_][\w.]*\.[\w.]+)(?:\(\))?`", ARCHITECTURE.read_text()))
    absent = []
    for name in sorted(cited):
        if name.endswith((".py", ".md", ".yaml", ".json", ".jsonl", ".log", ".csv")):
            continue  # a file's name
        parts = name.split(".")
        module = next((".".join(["rayjob", *parts[:i]]) for i in range(len(parts), 0, -1)
                       if ".".join(["rayjob", *parts[:i]]) in known), None)  # fmt: skip
        if module is None:
            stems = [m for m in known if m.endswith("." + parts[0])]  # e.g. budget.over: rayjob.sweep.budget
            module = stems[0] if len(stems) == 1 else None
            rest = parts[1:]
        else:
            rest = parts[len(module.split(".")) - 1 :]
        if module is None:
            continue  # not rayjob's (Ray's, a file name)
        if rest and not _defines(known[module], rest[:2]):
            absent.append(name)
    assert not absent, f"docs/ARCHITECTURE.md cites names rayjob does not define: {absent}"
