"""A consistent backup of one deployment, and its restore onto an empty host (docs/deploy.md, Backup).

A backup is a folder:

- `database.sqlite3` (SQLite's online backup API) or `database.pgdump` (pg_dump's custom format):
  every person, photo row, face vector, audit event, API key, job and user, as of one instant;
- `media/`: the stored photos (and thumbnails, kept probes, staged imports) the database names;
- `secret_key`: DATA_DIR's key file, when the key lives there (not when SECRET_KEY comes from the
  environment: that one is the operator's to keep, and the manifest says so);
- `manifest.json`: when, from which database engine, the model keys whose vectors are stored and
  the one in use, and where the secret key lives.

The vector index (FAISS snapshots, a Milvus collection) is not backed up: it is a copy of the face
vectors in the database, and the restore rebuilds it from them.

Consistency: the database is copied first, as of one instant (SQLite's backup copies one read
transaction; pg_dump reads the snapshot a REPEATABLE READ transaction exported, the one the photo
names are read from too). Photos are then copied from the store: a photo is stored before its row
commits and erased only after its row's delete commits, so every photo the copied database names
is still in the store unless it was deleted after that instant. Such a photo fails the backup (run
it again) rather than leave a row without its photo; photos enrolled after that instant (files
without a row in the copy) are left out.
"""

import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from recognition.models import FaceVector, IndexState
from recognition.service import get_service
from recognition.vectors.indexes import rebuild

from .maintenance import FACES_FOLDER, _stored_files

FORMAT = 1
MANIFEST = "manifest.json"
MEDIA = "media"
SECRET_KEY_FILE = "secret_key"
# The database's rows that name a stored file.
COUNTED = ("records_person", "records_faceimage", "audit_auditevent")
FILE_NAMES_SQL = (
    "SELECT image FROM records_faceimage UNION SELECT probe FROM audit_auditevent WHERE probe <> ''"
)


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class BackupSummary:
    folder: Path
    files: int
    people: int
    photos: int
    audit_events: int

    def told(self, done: str, where: str) -> str:
        return (f"{done} {self.people} people, {self.photos} photos, {self.audit_events} audit events "
                f"and {self.files} stored files {where} {self.folder}")


def _engine() -> str:
    return "sqlite" if connection.vendor == "sqlite" else "postgresql"


def _pg_command(program: str, *args: str) -> tuple[list[str], dict]:
    """A PostgreSQL client program's command line for Django's database, and its environment
    (the password through PGPASSWORD, never on the command line)."""
    db = connection.settings_dict
    command = [program, "--dbname", db["NAME"], "--no-password"]
    for option, value in (("--host", db["HOST"]), ("--port", db["PORT"]), ("--username", db["USER"])):
        if value:
            command += [option, str(value)]
    environment = dict(os.environ)
    if db["PASSWORD"]:
        environment["PGPASSWORD"] = db["PASSWORD"]
    return [*command, *args], environment


def _run(command: list[str], environment: dict) -> None:
    try:
        done = subprocess.run(command, env=environment, capture_output=True, text=True)
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed (Debian: apt-get install postgresql-client).")
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")


def _database_copied(folder: Path) -> tuple[str, set[str], list[int]]:
    """Copy the database into `folder` as of one instant; returns the copy's file name, the stored
    files it names and its counts of people, photos and audit events."""
    if _engine() == "sqlite":
        target = folder / "database.sqlite3"
        source = sqlite3.connect(connection.settings_dict["NAME"], timeout=30)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)  # starts again by itself if another process writes meanwhile
            return target.name, {row[0] for row in copy.execute(FILE_NAMES_SQL)}, _counts(copy)
        finally:
            copy.close()
            source.close()
    with transaction.atomic(), connection.cursor() as cursor:
        # pg_dump reads the snapshot this transaction exports, so the names and counts read here
        # are the dumped rows'; the transaction stays open until pg_dump has ended.
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        cursor.execute(FILE_NAMES_SQL)
        names = {row[0] for row in cursor.fetchall()}
        counts = _counts(cursor)
        target = folder / "database.pgdump"
        _run(*_pg_command("pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                          f"--snapshot={snapshot}", f"--file={target}"))
    return target.name, names, counts


def _counts(cursor) -> list[int]:
    """People, photos and audit events, through a DB-API cursor or connection."""
    return [cursor.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in COUNTED]


def _secret_key_file() -> Path | None:
    """DATA_DIR's key file when that is where the key in use comes from (settings._secret_key)."""
    if os.environ.get("SECRET_KEY"):
        return None
    key_file = Path(settings.DATA_DIR) / SECRET_KEY_FILE
    return key_file if key_file.exists() else None


def backup(destination: Path) -> BackupSummary:
    destination = Path(destination)
    if destination.exists() and any(destination.iterdir()):
        raise BackupError(f"{destination} is not empty: give a new folder for each backup.")
    # Photos of faces and everything else the service knows: readable by its owner only.
    destination.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(destination, 0o700)
    database_file, named, counts = _database_copied(destination)
    copied = set()
    for name in sorted(_stored_files("")):
        # A photo enrolled after the database's instant: its row is not in the copy.
        if PurePosixPath(name).parts[0] == FACES_FOLDER and name not in named:
            continue
        target = destination / MEDIA / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with default_storage.open(name, "rb") as source, target.open("wb") as handle:
                shutil.copyfileobj(source, handle)
        except FileNotFoundError:  # erased since it was listed; checked below if the copy names it
            target.unlink(missing_ok=True)
            continue
        copied.add(name)
    missing = named - copied
    if missing:
        raise BackupError(
            f"{len(missing)} stored files the database copy names were erased while the backup ran "
            f"(their rows deleted after it began), e.g. {sorted(missing)[0]}: run the backup again "
            "into a new folder."
        )
    key_file = _secret_key_file()
    if key_file:
        shutil.copy2(key_file, destination / SECRET_KEY_FILE)
        os.chmod(destination / SECRET_KEY_FILE, 0o600)
    manifest = {
        "format": FORMAT,
        "created_at": timezone.now().isoformat(),
        "database": {"engine": _engine(), "file": database_file},
        "media": MEDIA,
        "files": len(copied),
        # Where the key that signs sessions and CSRF tokens lives; a restore needs the same one.
        "secret_key": f"{SECRET_KEY_FILE} (DATA_DIR's key file)" if key_file else "the SECRET_KEY environment variable (not in this backup)",
        "model_keys": {
            "active": get_service().model_key,
            "stored_vectors": dict(
                FaceVector.objects.order_by("model_key").values_list("model_key").annotate(Count("id"))
            ),
        },
        "vector_index": "not backed up: rebuilt from the database's face vectors at restore",
    }
    (destination / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return BackupSummary(destination, len(copied), *counts)


def read_manifest(folder: Path) -> dict:
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise BackupError(f"{folder} is not a backup of this service ({MANIFEST}: {error}).")
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{folder} is a backup of format {manifest.get('format')!r}; this version reads {FORMAT}.")
    return manifest


def restore(folder: Path) -> BackupSummary:
    """Restore a backup onto an empty host: an empty database (no tables) and an empty photo store."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    engine = manifest["database"]["engine"]
    if engine != _engine():
        raise BackupError(f"This backup is of a {engine} database; DATABASE_URL names a {_engine()} one.")
    tables = connection.introspection.table_names()
    if tables:
        raise BackupError(
            f"The database already has {len(tables)} tables: restore needs an empty one (a new "
            "database, or a new DATA_DIR for SQLite), so that nothing of it is mixed with the backup's."
        )
    media = folder / manifest["media"]
    names = sorted(str(path.relative_to(media).as_posix()) for path in media.rglob("*") if path.is_file())
    present = [name for name in names if default_storage.exists(name)]
    if present:
        raise BackupError(f"The photo store already holds {present[0]} (and {len(present) - 1} more): restore needs an empty one.")
    _restore_database(folder / manifest["database"]["file"])
    for name in names:
        with (media / name).open("rb") as handle:
            saved = default_storage.save(name, File(handle))
        if saved != name:  # the store renamed it: the row naming it would not find it
            raise BackupError(f"The photo store saved {name} as {saved}.")
    key_file = Path(settings.DATA_DIR) / SECRET_KEY_FILE
    if (folder / SECRET_KEY_FILE).exists() and not key_file.exists():
        shutil.copy2(folder / SECRET_KEY_FILE, key_file)
        os.chmod(key_file, 0o600)
    # A backup of an earlier version: its tables brought up to this one's.
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    # Every index (this host's FAISS snapshots, or the collection in MILVUS_URI) loaded again from
    # the restored vectors.
    for model_key in IndexState.objects.values_list("model_key", flat=True):
        rebuild(model_key)
    with connection.cursor() as cursor:
        return BackupSummary(folder, len(names), *_counts(cursor))


def _restore_database(dump: Path) -> None:
    if _engine() == "sqlite":
        connection.close()
        source = sqlite3.connect(dump)
        target = sqlite3.connect(connection.settings_dict["NAME"], timeout=30)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return
    connection.close()
    _run(*_pg_command("pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", str(dump)))
