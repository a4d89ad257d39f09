"""The address of the client a request comes from, for the audit log, throttles, login lockouts
and API keys limited to networks.

Behind a reverse proxy the socket's peer is the proxy, and the client is in `X-Forwarded-For`,
which anyone can also send. So the header is believed only as far as trusted proxies wrote it:
starting from the socket's peer, while the address at hand is a trusted proxy, step one entry
left in `X-Forwarded-For` (each proxy appends the address it saw). The first address that is not
a trusted proxy is the client. Without TRUSTED_PROXIES the header is ignored.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _parse(address: str):
    try:
        return ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The client's address as text, or None when the socket gives none (a test client may not)."""
    peer = _parse(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    trusted = _networks(tuple(settings.TRUSTED_PROXIES))
    forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    address = peer
    while forwarded and any(address in network for network in trusted):
        hop = _parse(forwarded.pop())
        if hop is None:  # a garbled entry: stop at the last address a trusted proxy vouched for
            break
        address = hop
    return str(address)
