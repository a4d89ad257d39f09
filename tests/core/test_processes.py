"""Two processes over one database: each keeps its own index, and both answer as the database says."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from bench.serving import database_url
from records.models import Person
from records.usecases.enrolment import enrol
from records.usecases.matching import match

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def other_process(settings, *args) -> str:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DEBUG": "1",
        "LOG_LEVEL": "WARNING",
    }
    # Its own snapshot folder: it must catch up from the database, not from this process's files.
    env["DATA_DIR"] = str(Path(settings.MEDIA_ROOT).parent / "other-process")
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_changes_in_either_process_reach_the_other(settings, lfw_people, photo):
    blair = enrol("Tony_Blair", photo("Tony_Blair", 0)).person
    probe = str(lfw_people["Tony_Blair"][5])

    seen = json.loads(other_process(settings, "identify", probe))
    assert seen["best_match"]["id"] == str(blair.pk)

    # Warm this process's index, then change the database from the other process.
    assert match(photo("Tony_Blair", 5), top_k=1).recognized
    other_process(settings, "shell", "-c", f"from records.models import Person; Person.objects.get(pk='{blair.pk}').delete()")
    assert not Person.objects.exists()
    assert match(photo("Tony_Blair", 5), top_k=5).top_matches == ()

    other_process(
        settings, "shell", "-c",
        f"from pathlib import Path; from records.usecases.enrolment import enrol; enrol('Colin_Powell', Path('{lfw_people['Colin_Powell'][0]}').read_bytes())",
    )
    assert match(photo("Colin_Powell", 1), top_k=1).best_match.name == "Colin_Powell"
