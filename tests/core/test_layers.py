"""Layers point one way. The apps by concern: `records` (people, photos) may use `jobs`, `audit`,
`access` and `recognition`; `events` and `inbox` may use all of these (events hears what records
and the inbox announce; the inbox keeps what matches leave unnamed and names it through records' use
cases), and `events` the inbox;
`live` (the camera page) may use `records` and `recognition`; `streams` (video streams) may use
`records`, `inbox` and those below them, never `events` (what it reports reaches events through records' signals);
`jobs` may use `audit` and `access`; `audit` may use `access`; every app may use `recognition`,
which uses none of them. `facesite` is wiring (settings, URLs, the middleware list): no app imports
it. Every app is found (a folder with an apps.py), so one added later is held to no cycle and no
import of facesite the moment it lands, and no app listed below may import it until it is listed."""

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import recognition

ROOT = Path(recognition.__file__).parent.parent
APPS = tuple(sorted(path.parent.name for path in ROOT.glob("*/apps.py") if path.parent.name != "facesite"))
# What each app may import of the others.
ALLOWED = {
    "recognition": set(),
    "access": {"recognition"},
    "audit": {"access", "recognition"},
    "jobs": {"access", "audit", "recognition"},
    "records": {"access", "audit", "jobs", "recognition"},
    # Events out: told by records' and the inbox's signals what happened, it writes and delivers
    # the outbox.
    "events": {"access", "audit", "inbox", "jobs", "records", "recognition"},
    # The review inbox: matches' unnamed faces kept, reviewed and named through records' use cases.
    "inbox": {"access", "audit", "jobs", "records", "recognition"},
    # The live camera page: an interface of records' use cases.
    "live": {"records", "recognition"},
    # Video streams in: a runner that reports what it sees through records' use cases, and keeps
    # the appearances of nobody enrolled through the inbox's.
    "streams": {"access", "audit", "inbox", "jobs", "records", "recognition"},
}
FORBIDDEN = ("records", "facesite")


def imported_modules(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(), filename=str(source))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in (
            "import_module", "__import__"
        ):
            names.update(arg.value for arg in node.args[:1] if isinstance(arg, ast.Constant))
    return names


def test_recognition_imports_nothing_from_records_or_facesite():
    sources = sorted(Path(recognition.__file__).parent.rglob("*.py"))
    assert len(sources) > 10  # the walk found the package
    offending = {
        str(source.relative_to(Path(recognition.__file__).parent.parent)): sorted(
            name for name in imported_modules(source) if name.split(".")[0] in FORBIDDEN
        )
        for source in sources
    }
    assert {path: names for path, names in offending.items() if names} == {}


def app_imports() -> dict[str, dict[str, set[str]]]:
    """app -> the other apps and facesite it imports -> the files of it that do."""
    arrows = {}
    for app in APPS:
        sources = sorted((ROOT / app).rglob("*.py"))
        assert len(sources) > 3, app  # the walk found the package
        arrows[app] = {}
        for source in sources:
            for name in imported_modules(source):
                top = name.split(".")[0]
                if top != app and top in (*APPS, "facesite"):
                    arrows[app].setdefault(top, set()).add(str(source.relative_to(ROOT)))
    return arrows


def test_each_app_imports_only_the_apps_below_it():
    assert set(APPS) >= set(ALLOWED)  # the walk found every app listed
    unexpected = {
        app: {other: sorted(files) for other, files in imported.items() if other not in ALLOWED[app]}
        for app, imported in app_imports().items()
        if app in ALLOWED  # an app not listed yet imports what it likes, but nothing listed imports it
    }
    assert {app: others for app, others in unexpected.items() if others} == {}


def test_no_cycle_between_apps_and_nothing_imports_facesite():
    arrows = app_imports()
    assert not [app for app, imported in arrows.items() if "facesite" in imported]
    try:  # whatever ALLOWED says: the imports themselves form no cycle
        list(TopologicalSorter({app: set(imported) - {"facesite"} for app, imported in arrows.items()}).static_order())
    except CycleError as cycle:
        raise AssertionError(f"apps import each other: {cycle.args[1]}")
    assert arrows["records"].keys() >= {"access", "audit", "jobs"}  # the walk sees the arrows there are


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    source = tmp_path / "module.py"
    source.write_text("def f():\n    from records.models import FaceImage\n    import facesite.admin\n")
    assert imported_modules(source) == {"records.models", "facesite.admin"}


def _local_imports(source: Path, package_root: Path) -> set[Path]:
    """The files of the package that `source` imports, absolute or relative."""
    parts = list(source.relative_to(package_root.parent).with_suffix("").parts)
    tree = ast.parse(source.read_text(), filename=str(source))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level] if node.level else []
            module = base + (node.module.split(".") if node.module else [])
            modules.add(tuple(module))
            modules.update(tuple(module + [alias.name]) for alias in node.names)
        elif isinstance(node, ast.Import):
            modules.update(tuple(alias.name.split(".")) for alias in node.names)
    files = set()
    for module in modules:
        if module and module[0] == package_root.name:
            path = package_root.parent.joinpath(*module)
            files.update(p for p in (path.with_suffix(".py"), path / "__init__.py") if p.exists())
    return files


def test_the_milvus_backend_does_not_import_faiss():
    # A process using VECTOR_BACKEND=milvus need not load FAISS: the types the backends share
    # live in recognition/vectors/types.py, not in the FAISS index module.
    root = Path(recognition.__file__).parent
    seen, todo = set(), [root / "vectors" / "milvus_backend.py"]
    while todo:
        source = todo.pop()
        if source not in seen:
            seen.add(source)
            todo.extend(_local_imports(source, root))
    assert root / "vectors" / "types.py" in seen  # the walk follows relative imports
    reached = {name for source in seen for name in imported_modules(source)}
    assert "faiss" not in reached
    assert root / "vectors" / "faiss_index.py" not in seen
