"""Selecting models: DeepFace's real loading code, missing weights and impossible pairs named at start-up."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

from recognition.backends.dlib_native import weights_dir
from recognition.imaging import decode_image
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
