from django.utils.html import escape
from pytest_django.asserts import assertContains

# LFW people whose photos the tests use (250x250, one face each).
ALICE = "Colin_Powell"
BOB = "Tony_Blair"
STRANGER = "Serena_Williams"


def assert_shows(response, text: str, status_code: int = 200):
    """The page shows this text, HTML-escaped as the templates escape it."""
    assertContains(response, escape(text), status_code=status_code)
