"""Which address a request is taken to come from, with and without trusted proxies."""

import pytest
from django.test import RequestFactory

from access.client_address import client_ip


def request_from(peer: str, forwarded: str | None = None):
    headers = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **headers)


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(request_from("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("10.0.0.2", "198.51.100.7", "198.51.100.7"),  # one proxy
        ("10.0.0.2", "192.0.2.1, 198.51.100.7", "198.51.100.7"),  # the client forged an entry first
        ("10.0.0.2", "198.51.100.7, 10.0.0.3", "198.51.100.7"),  # two trusted proxies
        ("203.0.113.9", "198.51.100.7", "203.0.113.9"),  # not from a proxy: the header is not believed
        ("10.0.0.2", "not-an-address", "10.0.0.2"),  # garbled: the proxy's address stands
        ("10.0.0.2", "", "10.0.0.2"),
        ("::1", "2001:db8::5", "2001:db8::5"),
    ],
)
def test_the_header_is_believed_as_far_as_trusted_proxies_wrote_it(settings, peer, forwarded, client):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "::1"]
    assert client_ip(request_from(peer, forwarded)) == client


def test_no_peer_address():
    assert client_ip(request_from("")) is None
