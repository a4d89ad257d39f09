"""No interface reaches a model's writes or the face pipeline and vector store except through a use
case (records/usecases/, and the inbox's review, keeping and re-grouping).

The interfaces, found in every app (a folder with an apps.py; recognition, the layer they all go
through, aside), so an app added later is covered the moment it lands: its API (`api/`), pages
(`views.py`), admin (`admin.py`), management commands (`management/commands/`) and jobs (any module
defining a django-tasks `@task`), and records' page helpers (forms.py, imports.py). The rule, read
from their source:
- they import nothing of the pipeline or the vector store: recognition.service, .backends, .vectors,
  .imaging, .index (recognition.errors, .models' reads, .admin, .calibration's and .policy's types may be used);
- they write no person, photo or face vector: no call of a write method (save, delete, create,
  update, bulk_create, ...) on an expression naming Person, FaceImage or FaceVector, or on a name
  bound in the same function to one (`person = self.get_object()`, `image = get_object_or_404(FaceImage, ...)`).
Reads (lists, counts, lookups to show) stay where they are: they change nothing.
"""

import ast
from pathlib import Path

import pytest

import records

pytestmark = pytest.mark.db_independent  # reads source files only

ROOT = Path(records.__file__).parent.parent
# The model layer every interface goes through: not an interface itself.
NOT_INTERFACES = {"recognition"}
# Records' page helpers, which read uploads for its views.
PAGE_HELPERS = {"records": ("forms.py", "imports.py")}
PIPELINE = ("recognition.service", "recognition.backends", "recognition.vectors", "recognition.imaging", "recognition.index")
MODELS = {"Person", "FaceImage", "FaceVector"}
WRITES = {
    "save", "delete", "create", "update", "bulk_create", "bulk_update", "get_or_create", "update_or_create",
    "apply_analysis", "apply_face", "replace_vector",
}
# Calls whose result is a person or photo row, to be written through a use case.
FETCHES = {"get_object", "get_image", "get_object_or_404", "record_or_404"}


def apps(root: Path = ROOT) -> list[Path]:
    return sorted(path.parent for path in root.glob("*/apps.py") if path.parent.name not in NOT_INTERFACES)


def defines_a_job(source: Path) -> bool:
    """Whether the module defines a django-tasks task (a function decorated `@task` or `@task(...)`)."""
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                called = decorator.func if isinstance(decorator, ast.Call) else decorator
                if (called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")) == "task":
                    return True
    return False


def interfaces(root: Path = ROOT) -> list[Path]:
    found = set()
    for app in apps(root):
        found.update((app / "api").rglob("*.py"))
        found.update((app / "management" / "commands").glob("*.py"))
        found.update(app / name for name in ("views.py", "admin.py", *PAGE_HELPERS.get(app.name, ())) if (app / name).exists())
        found.update(source for source in app.glob("*.py") if defines_a_job(source))
    return sorted(found)


def _chain(node) -> list:
    """The receivers an expression is called or looked up on, outermost first:
    `FaceImage.objects.filter(x).first()` → [..., FaceImage]; arguments are not followed."""
    chain = [node]
    while isinstance(node, (ast.Call, ast.Attribute, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
        chain.append(node)
    return chain


def _is_record(value, rows: set[str]) -> bool:
    """Whether an expression is (or gives) a person, photo or vector row, or a query of them."""
    for node in _chain(value):
        if isinstance(node, ast.Name) and (node.id in MODELS or node.id in rows):
            return True
        if isinstance(node, ast.Call):
            func = node.func
            if (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) in FETCHES:
                return True
    return False


def violations(source: Path) -> list[str]:
    tree = ast.parse(source.read_text(), filename=str(source))
    found = []
    for node in ast.walk(tree):
        module = None
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            module = node.module or ""
        elif isinstance(node, ast.Import):
            module = " ".join(alias.name for alias in node.names)
        if module and any(part == p or part.startswith(p + ".") for part in module.split() for p in PIPELINE):
            found.append(f"{source.name}:{node.lineno} imports {module}")
    for function in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
        rows: set[str] = set()
        for node in sorted(
            (n for n in ast.walk(function) if isinstance(n, (ast.Assign, ast.Call))), key=lambda n: (n.lineno, n.col_offset)
        ):
            if isinstance(node, ast.Assign) and _is_record(node.value, rows):
                rows.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WRITES:
                if _is_record(node.func.value, rows):
                    found.append(f"{source.name}:{node.lineno} writes {ast.unparse(node.func)}")
    return found


def test_no_interface_writes_people_or_reaches_the_pipeline_but_through_a_use_case():
    sources = {str(source.relative_to(ROOT)) for source in interfaces()}
    # The walk found every app's API, pages, admin, commands and jobs.
    assert {
        "records/api/views.py", "records/views.py", "records/admin.py", "records/jobs.py", "records/forms.py",
        "records/management/commands/import_faces.py", "inbox/api/views.py", "inbox/views.py", "inbox/admin.py",
        "inbox/regrouping.py", "inbox/management/commands/regroup_unknown_faces.py", "events/api/views.py",
        "events/delivery.py", "events/management/commands/db_worker.py", "access/admin.py", "audit/admin.py",
        "audit/management/commands/purge_expired.py",
    } <= sources
    assert not any(source.startswith("recognition/") for source in sources)
    assert [finding for source in interfaces() for finding in violations(source)] == []


def test_the_check_finds_a_write_or_an_import_planted_in_an_interface(tmp_path):
    source = tmp_path / "views.py"
    source.write_text(
        "from recognition.vectors.indexes import get_vector_index\n"
        "import recognition.service\n"
        "def destroy(self, request, pk=None):\n"
        "    person = self.get_object()\n"
        "    person.delete()\n"
        "def remove(request, pk):\n"
        "    image = get_object_or_404(FaceImage, pk=pk)\n"
        "    image.delete()\n"
        "    FaceImage.objects.filter(person_id=pk).update(faces_detected=0)\n"
        "def enrol(name):\n"
        "    Person.objects.create(name=name)\n"
        "def harmless(body):\n"
        "    body.update(detail='x')\n"
    )
    assert violations(source) == [
        "views.py:1 imports recognition.vectors.indexes",
        "views.py:2 imports recognition.service",
        "views.py:5 writes person.delete",
        "views.py:8 writes image.delete",
        "views.py:9 writes FaceImage.objects.filter(person_id=pk).update",
        "views.py:11 writes Person.objects.create",
    ]


def test_an_app_added_later_is_checked_the_moment_it_lands(tmp_path):
    """A new app's API, page, admin, command and job are found without naming it anywhere."""
    planted = "from recognition.service import get_service\n"
    for path in ("live/api/views.py", "live/views.py", "live/admin.py", "live/management/commands/watch.py", "live/streams.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(planted)
    (tmp_path / "live/streams.py").write_text(planted + "@task()\ndef follow(stream_id):\n    pass\n")
    (tmp_path / "live/helpers.py").write_text(planted)  # neither an interface nor a job
    (tmp_path / "live/apps.py").write_text("")
    (tmp_path / "recognition").mkdir()
    (tmp_path / "recognition/apps.py").write_text("")
    (tmp_path / "recognition/admin.py").write_text(planted)

    found = [str(source.relative_to(tmp_path)) for source in interfaces(tmp_path)]
    assert found == [
        "live/admin.py", "live/api/views.py", "live/management/commands/watch.py", "live/streams.py", "live/views.py",
    ]
    assert all(violations(source) == [f"{source.name}:1 imports recognition.service"] for source in interfaces(tmp_path))
