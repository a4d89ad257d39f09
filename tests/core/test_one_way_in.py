"""No interface reaches a model's writes or the face pipeline and vector store except through a use
case (records/usecases/).

The interfaces: the API (records/api/), the pages (records/views.py, records/forms.py,
records/imports.py), the admin (records/admin.py), the management commands and the jobs
(records/jobs.py). The rule, read from their source:
- they import nothing of the pipeline or the vector store: recognition.service, .backends, .vectors,
  .imaging, .index (recognition.errors, .models' reads, .admin and .calibration's types may be used);
- they write no person, photo or face vector: no call of a write method (save, delete, create,
  update, bulk_create, ...) on an expression naming Person, FaceImage or FaceVector, or on a name
  bound in the same function to one (`person = self.get_object()`, `image = get_object_or_404(FaceImage, ...)`).
Reads (lists, counts, lookups to show) stay where they are: they change nothing.
"""

import ast
from pathlib import Path

import records

RECORDS = Path(records.__file__).parent
PIPELINE = ("recognition.service", "recognition.backends", "recognition.vectors", "recognition.imaging", "recognition.index")
MODELS = {"Person", "FaceImage", "FaceVector"}
WRITES = {
    "save", "delete", "create", "update", "bulk_create", "bulk_update", "get_or_create", "update_or_create",
    "apply_analysis", "apply_face", "replace_vector",
}
# Calls whose result is a person or photo row, to be written through a use case.
FETCHES = {"get_object", "get_image", "get_object_or_404", "record_or_404"}


def interfaces() -> list[Path]:
    return sorted(
        [
            *(RECORDS / "api").glob("*.py"),
            *(RECORDS / "management" / "commands").glob("*.py"),
            *(RECORDS / name for name in ("views.py", "forms.py", "imports.py", "admin.py", "jobs.py")),
        ]
    )


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
    sources = interfaces()
    assert len(sources) > 15  # the walk found the API, the pages, the admin and the commands
    assert [finding for source in sources for finding in violations(source)] == []


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
