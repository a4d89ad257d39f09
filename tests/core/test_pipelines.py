"""The two offline pipelines: the default (SCRFD + ArcFace MobileFaceNet) and dlib's, on real photos."""

import numpy as np
import pytest

from django.core.management import call_command
from django.core.management.base import SystemCheckError

from recognition import service
from recognition.backends.base import AlignedFace, embed_aligned, l2_normalise
from recognition.backends.insightface_onnx import ARCFACE_LANDMARKS, detection_sizes, similarity_transform
from recognition.calibration import CALIBRATIONS
from recognition.imaging import decode_image
from recognition.policy import MatchPolicy
from recognition.service import FaceService
from records.usecases.enrolment import enrol
from records.usecases.matching import match


def test_similarity_transform_recovers_rotation_scale_and_shift():
    angle, scale, shift = np.deg2rad(17), 2.5, np.array([40.0, -12.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    photo_points = (ARCFACE_LANDMARKS - shift) @ np.linalg.inv(rotation).T  # crop -> photo
    matrix = similarity_transform(photo_points, ARCFACE_LANDMARKS)
    mapped = photo_points @ matrix[:, :2].T + matrix[:, 2]
    assert np.allclose(mapped, ARCFACE_LANDMARKS, atol=1e-3)


def test_a_face_is_embedded_from_its_aligned_crop_and_its_mirror_image(face_service, photo):
    pipeline = face_service.pipeline
    rgb = decode_image(photo("Tony_Blair", 0)).rgb
    boxes, _, landmarks = pipeline.detect(rgb)
    largest = int(np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
    aligned = pipeline.align(rgb, landmarks[largest])

    assert aligned.crop.shape == (112, 112, 3) and aligned.crop.dtype == np.uint8
    assert np.array_equal(aligned.landmarks, landmarks[largest])
    [vector] = pipeline.embed([aligned])
    assert np.allclose(l2_normalise(vector), pipeline.analyse(rgb)[0].embedding, atol=1e-5)
    assert np.array_equal(aligned.mirrored(), aligned.crop[:, ::-1])
    [both] = embed_aligned(pipeline._recognise, [aligned], mirror=True)
    assert np.allclose(both, vector + pipeline.embed([AlignedFace(aligned.mirrored(), aligned.landmarks)])[0], atol=1e-4)


@pytest.mark.parametrize(
    "longest_side, sizes",
    [(250, [320, 480, 640]), (320, [320, 480, 640]), (400, [480, 320, 640]), (1024, [640, 480, 320])],
)
def test_the_detection_square_is_the_smallest_holding_the_photo_then_the_nearest(longest_side, sizes):
    assert detection_sizes(longest_side) == sizes


@pytest.fixture
def sizes_tried(face_service, monkeypatch):
    """The SCRFD input squares the pipeline runs, in order."""
    pipeline, tried = face_service.pipeline, []
    detect_at = pipeline._detect_at

    def recording(rgb, size):
        tried.append(size)
        return detect_at(rgb, size)

    monkeypatch.setattr(pipeline, "_detect_at", recording)
    return tried


def test_an_lfw_portrait_is_detected_once_in_the_320_square(face_service, photo, sizes_tried):
    faces = face_service.pipeline.analyse(decode_image(photo("Tony_Blair", 0)).rgb)
    assert sizes_tried == [320] and faces and faces[0].box[2] > 60


def test_a_face_filling_a_large_photo_missed_at_640_is_found_by_the_retry(face_service, faces_dir, sizes_tried):
    """This LFW close-up scaled to 1,000 px: its face is too large for SCRFD's anchors at 640."""
    import cv2

    rgb = decode_image((faces_dir / "lfw/images/Emile_Lahoud/Emile_Lahoud_0001.jpg").read_bytes()).rgb
    large = cv2.resize(rgb, (1000, 1000), interpolation=cv2.INTER_CUBIC)
    faces = face_service.pipeline.analyse(large)
    assert sizes_tried[0] == 640 and len(sizes_tried) > 1
    assert len(faces) == 1 and faces[0].box[2] > 400


def test_a_landscape_photo_is_detected_without_padding_it_to_a_square(face_service, faces_dir, monkeypatch):
    """The detector's input is the photo's shape rounded up to SCRFD's largest stride; the face is
    found where the square letterbox finds it."""
    rgb = decode_image((faces_dir / "samples/face_recognition/examples/knn_examples/train/kit_harington/john1.jpeg").read_bytes()).rgb  # 1200 x 599
    pipeline = face_service.pipeline
    shapes = []
    run = pipeline._detector.run

    class Recording:
        def run(self, names, feeds):
            shapes.append(next(iter(feeds.values())).shape)
            return run(names, feeds)

    monkeypatch.setattr(pipeline, "_detector", Recording())
    boxes, _, _ = pipeline.detect(rgb)
    assert shapes == [(1, 3, 320, 640)] and len(boxes) == 1

    square = np.zeros((rgb.shape[1], rgb.shape[1], 3), dtype=np.uint8)
    square[: rgb.shape[0]] = rgb  # the letterbox of before, by hand: same scale, same coordinates
    squared, _, _ = pipeline.detect(square)
    assert shapes[-1] == (1, 3, 640, 640)
    assert np.abs(boxes - squared).max() < 0.02 * rgb.shape[1]


def test_the_default_embeds_the_aligned_crop_once(face_service, photo, monkeypatch):
    """No mirror image: one recogniser input per face, whose output is the face's embedding."""
    pipeline = face_service.pipeline
    batches = []
    run = pipeline._recogniser.run

    class Recording:
        def run(self, names, feeds):
            batches.append(len(next(iter(feeds.values()))))
            return run(names, feeds)

    monkeypatch.setattr(pipeline, "_recogniser", Recording())
    face_service.analyse(decode_image(photo("Tony_Blair", 0)))
    assert batches == [1] and not pipeline.mirror


def test_the_mirror_option_is_one_run_of_two_per_face_under_a_key_and_calibration_of_its_own(
    face_service, photo, monkeypatch
):
    """FACE_EMBED_MIRROR: the service's pipeline embeds each crop with its mirror image in one
    recogniser run (their sum: test_a_face_is_embedded_from_its_aligned_crop_and_its_mirror_image),
    under its own model key, whose policy is its own calibration."""
    mirror = FaceService("ArcFace-MBF", "scrfd", mirror=True)
    assert mirror.model_key == "ArcFace-MBF:scrfd:arcface112-flip-v3" != face_service.model_key
    policy = MatchPolicy.of(mirror.model_key)
    assert policy.calibration is CALIBRATIONS[mirror.model_key] is not MatchPolicy.of(face_service.model_key).calibration
    image = decode_image(photo("Tony_Blair", 0))
    batches = []
    run = mirror.pipeline._recogniser.run

    class Recording:
        def run(self, names, feeds):
            batches.append(next(iter(feeds.values())))
            return run(names, feeds)

    monkeypatch.setattr(mirror.pipeline, "_recogniser", Recording())
    mirrored = mirror.analyse(image).primary
    [batch] = batches
    assert len(batch) == 2 and np.array_equal(batch[1], batch[0][:, :, ::-1])  # NCHW: the width flipped
    alone = face_service.analyse(image).primary
    assert alone.box == mirrored.box and 0.9 < alone.embedding @ mirrored.embedding < 0.9999
    assert 1 - mirrored.embedding @ mirror.analyse(decode_image(photo("Tony_Blair", 5))).primary.embedding < policy.default_threshold - 0.1


def test_the_mirror_option_is_refused_at_start_up_by_a_pipeline_without_it(settings):
    settings.FACE_RECOGNITION_MODEL, settings.FACE_DETECTOR_BACKEND = "Dlib", "dlib"
    settings.FACE_EMBED_MIRROR = True
    with pytest.raises(SystemCheckError, match="FACE_EMBED_MIRROR is offered by ArcFace-MBF only"):
        call_command("check")


def test_only_the_largest_face_is_embedded_unless_all_are_asked_for(face_service, photo):
    """Tony Blair's first LFW photo has a second face behind him."""
    image = decode_image(photo("Tony_Blair", 0))
    largest = face_service.analyse(image)
    every = face_service.analyse(image, embed_all=True)
    assert len(largest.faces) == len(every.faces) >= 2
    assert [face.box for face in largest.faces] == [face.box for face in every.faces]
    assert [face.embedding is None for face in largest.faces] == [False] + [True] * (len(largest.faces) - 1)
    assert all(face.embedding is not None for face in every.faces)
    assert largest.primary.embedding @ every.primary.embedding > 0.9999


def test_the_default_pipeline_separates_people_by_a_wide_margin(face_service, photo):
    """Same person well inside the calibrated threshold, a different person well outside it."""
    def embed(name, number):
        return face_service.analyse(decode_image(photo(name, number))).primary.embedding

    blair = embed("Tony_Blair", 0)
    threshold = MatchPolicy.of(face_service.model_key).default_threshold
    assert 1 - blair @ embed("Tony_Blair", 5) < threshold - 0.1
    assert 1 - blair @ embed("Hugo_Chavez", 0) > threshold + 0.1


@pytest.mark.django_db
def test_dlib_stays_selectable_and_calibrated(settings, photo, monkeypatch):
    # Afterwards the process serves with the default's service again, the very object the
    # session's face_service fixture holds (tests that patch its pipeline would patch a stale one).
    monkeypatch.setattr(service, "_service", service.get_service())
    settings.FACE_RECOGNITION_MODEL = "Dlib"
    settings.FACE_DETECTOR_BACKEND = "dlib"
    blair = enrol("Tony_Blair", photo("Tony_Blair", 0)).image
    enrol("Colin_Powell", photo("Colin_Powell", 0))
    assert blair.model_key == "Dlib:dlib:chip5-flip-v1" and len(blair.vector) == 128
    known = match(photo("Tony_Blair", 3), top_k=2)
    assert known.model == "Dlib:dlib:chip5-flip-v1" and known.threshold == 0.06
    assert known.recognized and known.best_match.name == "Tony_Blair"
    assert not match(photo("Hugo_Chavez", 0), top_k=2).recognized


def test_the_faces_of_a_group_photo_are_embedded_in_one_batch(face_service, faces_dir, monkeypatch):
    image = decode_image((faces_dir / "samples/group/selfie-many-people.jpg").read_bytes())
    pipeline = face_service.pipeline
    batches = []
    embed = pipeline.embed

    def counted(crops):
        batches.append(len(crops))
        return embed(crops)

    monkeypatch.setattr(pipeline, "embed", counted)
    every = face_service.analyse(image, embed_all=True)
    largest = face_service.analyse(image)

    assert len(every.faces) == 6 and batches == [6, 1]
    assert all(face.embedding is not None for face in every.faces)
    assert [face.box for face in largest.faces] == [face.box for face in every.faces]
    assert np.allclose(largest.primary.embedding, every.primary.embedding, atol=1e-5)
