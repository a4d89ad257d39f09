"""Selecting models: DeepFace's real loading code, missing weights and impossible pairs named at start-up."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

from recognition.backends.dlib_native import weights_dir
from recognition.calibration import calibration_for
from recognition.imaging import decode_image
from recognition.policy import MatchPolicy
from recognition.service import FaceService


def test_missing_arcface_weights_stop_start_up_with_the_command_to_fix_it(settings, tmp_path):
    settings.DEEPFACE_HOME = tmp_path
    settings.FACE_RECOGNITION_MODEL = "ArcFace"
    settings.FACE_DETECTOR_BACKEND = "retinaface"
    with pytest.raises(SystemCheckError) as failure:
        call_command("check")
    message = str(failure.value)
    assert "arcface_weights.h5" in message and "retinaface.h5" in message
    assert "install_weights" in message


def test_default_pipeline_passes_the_check():
    call_command("check")


def test_install_weights_refuses_unknown_files(settings, tmp_path):
    settings.DEEPFACE_HOME = tmp_path
    stray = tmp_path / "holiday.jpg"
    stray.write_bytes(b"x")
    with pytest.raises(CommandError, match="not a weight file"):
        call_command("install_weights", str(stray))


@pytest.mark.slow
def test_a_deepface_model_installed_from_a_file_loads_and_embeds(settings, tmp_path, photo, capsys):
    """DeepFace's own Dlib model (its loading code, tensorflow engine) from a file installed
    with install_weights, then a real embedding through DeepFace.represent."""
    settings.DEEPFACE_HOME = tmp_path
    call_command("install_weights", str(weights_dir() / "dlib_face_recognition_resnet_model_v1.dat"))
    assert "Dlib loads" in capsys.readouterr().out
    service = FaceService("Dlib", "opencv")
    assert service.model_key == "Dlib:opencv:deepface-align-v1"
    analysis = service.analyse(decode_image(photo("Tony_Blair", 0)))
    assert len(analysis.faces) == 1
    other = service.analyse(decode_image(photo("Tony_Blair", 1))).faces[0].embedding
    stranger = service.analyse(decode_image(photo("Hugo_Chavez", 0))).faces[0].embedding
    same_distance = 1 - analysis.faces[0].embedding @ other
    assert same_distance < 1 - analysis.faces[0].embedding @ stranger


def test_the_default_model_refuses_a_detector_it_cannot_run_with(settings):
    settings.FACE_DETECTOR_BACKEND = "retinaface"
    with pytest.raises(SystemCheckError, match="ArcFace-MBF runs only with FACE_DETECTOR_BACKEND=scrfd"):
        call_command("check")


@pytest.mark.db_independent
def test_the_match_policy_is_its_model_keys_calibration_unless_a_setting_overrides_it(settings):
    settings.RECOGNITION_THRESHOLD = settings.MATCH_MAX_THRESHOLD = settings.RECOGNITION_MAX_RATIO = None
    for model_key in ("ArcFace-MBF:scrfd:arcface112-v3", "Dlib:dlib:chip5-flip-v1"):
        calibration = calibration_for(model_key)
        policy = MatchPolicy.of(model_key)
        assert (policy.model_key, policy.calibration) == (model_key, calibration)
        assert (policy.default_threshold, policy.match_max_threshold, policy.default_max_ratio, policy.verification_threshold) == (
            calibration.threshold, calibration.match_max_threshold, calibration.max_ratio, calibration.verification_threshold
        )
    assert MatchPolicy.of("Dlib:dlib:chip5-flip-v1").default_threshold != MatchPolicy.of("ArcFace-MBF:scrfd:arcface112-v3").default_threshold

    settings.RECOGNITION_THRESHOLD, settings.MATCH_MAX_THRESHOLD, settings.RECOGNITION_MAX_RATIO = 0.5, 0.55, 0.9
    policy = MatchPolicy.of("ArcFace-MBF:scrfd:arcface112-v3")
    assert (policy.default_threshold, policy.match_max_threshold, policy.default_max_ratio) == (0.5, 0.55, 0.9)
    assert policy.verification_threshold == calibration_for("ArcFace-MBF:scrfd:arcface112-v3").verification_threshold
