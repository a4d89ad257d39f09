"""The quality gate's rule (recognition/quality.py `QualityLimits.problem`) on measured faces: each
limit refuses on both sides it has, whatever the face's size."""

import pytest

from recognition.quality import FaceQuality, QualityLimits

pytestmark = pytest.mark.db_independent

LIMITS = QualityLimits(min_eye_distance=25.0, min_sharpness=16.0, max_yaw=0.6, pitch_range=(0.2, 0.9))


def face(eye_distance=60.0, sharpness=100.0, yaw=0.0, pitch=0.6) -> FaceQuality:
    return FaceQuality(eye_distance=eye_distance, sharpness=sharpness, yaw=yaw, pitch=pitch, roll=0.0)


def reason(quality: FaceQuality) -> str | None:
    problem = LIMITS.problem(quality)
    return problem and problem[0]


def test_a_frontal_sharp_face_of_any_size_passes():
    assert [reason(face(eye_distance=size)) for size in (25.0, 60.0, 400.0)] == [None, None, None]


@pytest.mark.parametrize("yaw", [0.7, -0.7])
def test_a_head_turned_either_way_is_turned_away(yaw):
    assert reason(face(yaw=yaw)) == "turned_away"
    assert reason(face(yaw=yaw / 2)) is None


@pytest.mark.parametrize("pitch", [0.1, 1.0])
def test_a_head_tilted_down_or_up_is_turned_away(pitch):
    problem = LIMITS.problem(face(pitch=pitch))
    assert problem[0] == "turned_away"
    assert "0.20 to 0.90" in problem[1]


@pytest.mark.parametrize("eye_distance", [30.0, 60.0, 150.0, 600.0])
def test_blur_is_refused_at_every_face_size(eye_distance):
    assert reason(face(eye_distance=eye_distance, sharpness=10.0)) == "too_blurred"
    assert reason(face(eye_distance=eye_distance, sharpness=20.0)) is None


def test_too_small_comes_first():
    assert reason(face(eye_distance=20.0, sharpness=1.0, yaw=2.0)) == "too_small"
