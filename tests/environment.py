"""Loaded with `-p tests.environment` (pytest.ini) before pytest-django imports the settings,
which read the environment once: each test run gets a data folder, and so a SQLite test
database, of its own, and needs no SECRET_KEY."""

import os
import tempfile

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="facesite-tests-"))
