import hashlib
import json
import multiprocessing
import shutil

import numpy as np
import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from recognition.models import FaceVector
from records.models import Collection, FaceImage, Person
from records.usecases.enrolment import enrol
from tests.images import blurred, faceless_photo, tiled

pytestmark = pytest.mark.django_db


@pytest.fixture
def people_folder(tmp_path, lfw_people):
    """Two photos each of three people, plus a photo with no face and an unreadable file."""
    root = tmp_path / "import"
    for name in ("Tony_Blair", "Colin_Powell", "Hugo_Chavez"):
        (root / name).mkdir(parents=True)
        for photo in lfw_people[name][:2]:
            shutil.copy(photo, root / name / photo.name)
    (root / "Hugo_Chavez" / "landscape.jpg").write_bytes(faceless_photo())
    (root / "Hugo_Chavez" / "broken.jpg").write_bytes(b"not a jpeg at all")
    return root


def test_import_then_reimport_adds_nothing(people_folder, capsys):
    call_command("import_faces", str(people_folder), workers=1)
    out = capsys.readouterr().out
    assert "people added: 3; images enrolled: 6; already stored: 0; no face: 1; unreadable: 1" in out
    assert Person.objects.count() == 3 and FaceImage.objects.count() == 6

    call_command("import_faces", str(people_folder), workers=1)
    assert "people added: 0; images enrolled: 0; already stored: 6" in capsys.readouterr().out
    assert FaceImage.objects.count() == 6


def test_a_batch_import_stores_the_embeddings_of_one_by_one_analysis(people_folder, capsys):
    """Eight photos in one batch (one without a face, one unreadable): each stored vector is the
    one the photo gets analysed alone, as enrolment analyses it."""
    from records.usecases.analysis import analyse_photo

    call_command("import_faces", str(people_folder), workers=1)
    assert "images enrolled: 6; already stored: 0; no face: 1; unreadable: 1" in capsys.readouterr().out
    alone = [analyse_photo(path.read_bytes(), to_store=True) for path in people_folder.glob("*/*_0*.jpg")]
    by_hash = {analysis.image.sha256: analysis.primary for analysis in alone}
    assert FaceImage.objects.count() == len(by_hash) == 6
    for image in FaceImage.objects.all():
        assert image.face_box == list(by_hash[image.sha256].box)
        assert np.allclose(image.vector, by_hash[image.sha256].embedding, atol=1e-5)


def test_the_default_import_analyses_in_worker_processes(tmp_path, lfw_people, monkeypatch, capsys):
    """import_faces without --workers: a process per core (two here, whatever the machine), each
    analysing batches of photos. Every photo is stored under its own person with the vector it
    gets analysed alone, and no worker process outlives the command."""
    from records.management.commands import import_faces
    from records.usecases.analysis import analyse_photo

    root, files = tmp_path / "import", {}
    for name in ("Ariel_Sharon", "Hugo_Chavez", "Junichiro_Koizumi", "Jean_Chretien", "John_Ashcroft"):
        (root / name).mkdir(parents=True)
        for photo in lfw_people[name][:10]:  # 50 photos: 4 batches, enough for 2 workers
            files[hashlib.sha256(photo.read_bytes()).hexdigest()] = (name, photo)
            shutil.copy(photo, root / name / photo.name)
    pools = []

    class Pool(import_faces.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            pools.append(self)

    monkeypatch.setattr(import_faces, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(import_faces.os, "cpu_count", lambda: 2)

    call_command("import_faces", str(root))

    assert "people added: 5; images enrolled: 50; already stored: 0; no face: 0" in capsys.readouterr().out
    assert [pool._max_workers for pool in pools] == [2]
    assert multiprocessing.active_children() == []
    images = FaceImage.objects.select_related("person", "face_vector")
    assert sorted(image.sha256 for image in images) == sorted(files)
    for image in images:
        name, photo = files[image.sha256]
        assert image.person.name == name
        assert np.allclose(image.vector, analyse_photo(photo.read_bytes(), to_store=True).primary.embedding, atol=1e-5)


def test_an_import_enrols_through_enrolment_into_its_collection(tmp_path, lfw_people, capsys):
    """--collection; each photo checked as enrolment checks it, a blurred one refused and a face
    like someone of the collection reported, by id; one audit event per person. A name enrolled in
    another collection is someone else."""
    site = Collection.objects.create(name="site-a")
    elsewhere = enrol("Colin_Powell", lfw_people["Colin_Powell"][0].read_bytes()).person  # in `default`
    blair = enrol("Tony_Blair", lfw_people["Tony_Blair"][0].read_bytes(), collection=site).person
    root = tmp_path / "import"
    for name in ("Colin_Powell", "Tony_Again"):
        (root / name).mkdir(parents=True)
    for photo in lfw_people["Colin_Powell"][1:3]:
        shutil.copy(photo, root / "Colin_Powell" / photo.name)
    poor = root / "Colin_Powell" / "poor.jpg"
    poor.write_bytes(blurred(lfw_people["Colin_Powell"][3].read_bytes()))
    again = root / "Tony_Again" / "blair.jpg"
    shutil.copy(lfw_people["Tony_Blair"][1], again)

    call_command("import_faces", str(root), workers=1, collection="site-a")

    out = capsys.readouterr().out
    assert "people added: 2; images enrolled: 3; already stored: 0; no face: 0; unreadable: 0; poor quality: 1" in out
    assert f"{poor}: not enrolled: " in out and "possible duplicates: 1" in out
    assert f"{again}: enrolled; it looks like other records too: {blair.pk}" in out
    powell = Person.objects.get(collection=site, name="Colin_Powell")
    assert powell != elsewhere and powell.images.count() == 2 and elsewhere.images.count() == 1
    assert Person.objects.get(name="Tony_Again").collection == site
    events = AuditEvent.objects.filter(action=AuditEvent.Action.IMPORT)
    assert sorted((event.target, event.status, event.detail["photos"], event.detail["refused"]) for event in events) == sorted(
        [(str(powell.pk), 201, 2, 1), (str(Person.objects.get(name="Tony_Again").pk), 201, 1, 0)]
    )


def test_an_import_into_a_collection_that_does_not_exist_is_refused(people_folder):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No collection named 'nowhere'"):
        call_command("import_faces", str(people_folder), workers=1, collection="nowhere")
    assert not Person.objects.exists()


def test_import_from_a_manifest(tmp_path, faces_dir, capsys):
    manifest = tmp_path / "manifest.csv"
    lines = (faces_dir / "samples" / "manifest.csv").read_text().splitlines()
    manifest.write_text("path,identity\n" + "\n".join(
        f"{faces_dir / 'samples' / line.split(',')[0]},{line.split(',')[1]}" for line in lines[1:5]
    ))
    call_command("import_faces", manifest=str(manifest), workers=1)
    assert "images enrolled: 4" in capsys.readouterr().out


def test_identify_prints_a_line_per_image_in_order(people_folder, lfw_people, tmp_path, capsys):
    call_command("import_faces", str(people_folder), workers=1)
    capsys.readouterr()
    stranger = lfw_people["Vladimir_Putin"][0]
    images = [lfw_people["Tony_Blair"][4], stranger, people_folder / "Hugo_Chavez" / "landscape.jpg",
              people_folder / "Hugo_Chavez" / "broken.jpg", tmp_path / "missing.jpg"]
    call_command("identify", *map(str, images))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["image"] for line in lines] == list(map(str, images))
    assert lines[0]["recognized"] and lines[0]["best_match"]["name"] == "Tony_Blair"
    assert lines[1]["recognized"] is False and lines[1]["face_detected"] is True
    assert lines[2]["face_detected"] is False and "No face" in lines[2]["error"]
    assert "not an image" in lines[3]["error"]
    assert "cannot read" in lines[4]["error"]


def test_identify_all_faces_names_everyone_in_each_photo(people_folder, lfw_people, tmp_path, capsys):
    call_command("import_faces", str(people_folder), workers=1)
    capsys.readouterr()
    group = tmp_path / "group.jpg"
    group.write_bytes(tiled([lfw_people[name][4].read_bytes() for name in ("Colin_Powell", "Tony_Blair")]))
    images = [group, people_folder / "Hugo_Chavez" / "landscape.jpg"]
    call_command("identify", *map(str, images), all_faces=True)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    named = [face["best_match"]["name"] for face in lines[0]["results"]]
    assert sorted(named) == ["Colin_Powell", "Tony_Blair"] and lines[0]["faces_truncated"] is False
    assert lines[1]["face_detected"] is False and lines[1]["results"] == [] and "No face" in lines[1]["error"]


def test_rebuild_and_integrity_commands(people_folder, capsys):
    call_command("import_faces", str(people_folder), workers=1)
    call_command("rebuild_index")
    assert "6 vectors" in capsys.readouterr().out
    call_command("check_integrity")
    assert "everything agrees" in capsys.readouterr().out


def test_reembed_recomputes_vectors_from_stored_photos(people_folder, lfw_people, capsys):
    call_command("import_faces", str(people_folder), workers=1)
    FaceVector.objects.update(embedding=bytes(512))  # as if stored by another model
    call_command("rebuild_index", reembed=True)
    assert "6 vectors" in capsys.readouterr().out
    call_command("identify", str(lfw_people["Colin_Powell"][3]))
    assert json.loads(capsys.readouterr().out)["best_match"]["name"] == "Colin_Powell"
    assert len(set(FaceImage.objects.values_list("face_vector__vector_id", flat=True))) == 6
