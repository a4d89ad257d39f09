"""libFuzzer target (atheris) of the photo decoding path: `python -m tests.fuzz.decode_target
CORPUS_DIR [libFuzzer flags]`. tests/core/test_decode_fuzz.py runs it for a bounded time.

Pillow's Python code and recognition.imaging are instrumented, so the mutations that reach new
branches of the JPEG, PNG, WebP, BMP, MPO and EXIF parsers are kept and mutated further; Pillow's
C decoders run but are not instrumented (their coverage would need a sanitizer build of Pillow).
Anything other than the two documented refusals is a crash: libFuzzer stops, prints the traceback
and saves the input.
"""

import sys

import atheris

with atheris.instrument_imports(include=["PIL", "recognition.imaging"]):
    from PIL import (  # noqa: F401  the parsers an upload can reach, imported to be instrumented
        BmpImagePlugin, ImageOps, JpegImagePlugin, MpoImagePlugin, PngImagePlugin, TiffImagePlugin,
        WebPImagePlugin,
    )

    from recognition.errors import ImageTooLarge, InvalidImage
    from recognition.imaging import decode_image, for_storage


def check_one_input(data: bytes) -> None:
    try:
        image = decode_image(data)
    except (InvalidImage, ImageTooLarge):  # the documented 400 and 413
        return
    # Whatever is accepted is a usable upright RGB picture, and stores as one of the same size.
    assert image.rgb.ndim == 3 and image.rgb.shape[2] == 3 and image.rgb.dtype.name == "uint8"
    stored = for_storage(image)
    assert stored.rgb.shape == image.rgb.shape
    assert decode_image(stored.stored.data).rgb.shape == image.rgb.shape


def main() -> None:
    # decode_image reads its limits from the Django settings (DJANGO_SETTINGS_MODULE); nothing
    # else of Django is needed.
    atheris.Setup(sys.argv, check_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
