"""A coverage-guided fuzz run of the decoding path (tests/fuzz/decode_target.py, atheris) over
mutated real photos in every accepted format, bounded in time: it must find no exception other
than the documented refusals (400 InvalidImage, 413 ImageTooLarge) and no hang."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import ExifTags, Image

# In seconds. scripts/test runs the suite twice (SQLite, PostgreSQL), each with a new random seed:
# about 50 s of fuzzing per CI run. FUZZ_SECONDS makes a longer one (e.g. overnight).
FUZZ_SECONDS = int(os.environ.get("FUZZ_SECONDS", "25"))
ROOT = Path(__file__).resolve().parents[2]


def seed_corpus(folder: Path, faces_dir: Path) -> list[Path]:
    """Real photos in each accepted format, small enough that mutations reach every chunk."""
    portrait = Image.open(faces_dir / "lfw/images/Colin_Powell/Colin_Powell_0001.jpg").resize((96, 96))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] = "N"
    seeds = {
        "lfw.jpg": (faces_dir / "lfw/images/Colin_Powell/Colin_Powell_0001.jpg").read_bytes(),
        "exif.jpg": _encode(portrait, "JPEG", quality=80, exif=exif),
        "progressive.jpg": _encode(portrait, "JPEG", quality=70, progressive=True),
        "photo.png": _encode(portrait, "PNG"),
        "palette.png": _encode(portrait.convert("P"), "PNG"),
        "lossy.webp": _encode(portrait, "WEBP", quality=70),
        "lossless.webp": _encode(portrait, "WEBP", lossless=True),
        "photo.bmp": _encode(portrait, "BMP"),
        "rle.bmp": _encode(portrait.convert("P"), "BMP"),
    }
    folder.mkdir()
    for name, data in seeds.items():
        (folder / name).write_bytes(data)
    return sorted(folder.iterdir())


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_mutated_photos_get_only_the_documented_answers(faces_dir, tmp_path):
    corpus = tmp_path / "corpus"
    seeds = seed_corpus(corpus, faces_dir)
    findings = tmp_path / "findings"
    findings.mkdir()

    run = subprocess.run(
        [
            sys.executable, "-m", "tests.fuzz.decode_target", str(corpus),
            f"-max_total_time={FUZZ_SECONDS}", "-timeout=10", "-rss_limit_mb=3072", "-max_len=65536",
            f"-artifact_prefix={findings}/",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "facesite.settings", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=FUZZ_SECONDS + 120,
    )

    # On a finding: the traceback, and the input that caused it (saved under `findings`).
    report = f"{run.stderr[-6000:]}\nInputs found: {sorted(findings.iterdir())}"
    assert run.returncode == 0, report
    assert list(findings.iterdir()) == [], report
    assert "Done" in run.stderr, report
    # It really ran: many mutations were tried, and inputs reaching new branches of the
    # instrumented parsers were kept (the corpus grew beyond the seeds).
    runs = int(run.stderr.rsplit("Done ", 1)[1].split(" runs", 1)[0])
    assert runs > 1000, report
    assert len(list(corpus.iterdir())) > len(seeds), report
