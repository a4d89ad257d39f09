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


@lru_cache(maxsize=256)  # TRUSTED_PROXIES and the networks of the keys in use
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


def parse_network(text: str) -> str:
    """'10.1.2.0/24' or one address -> its canonical CIDR text; ValueError with a reason otherwise.
    Host bits set ('10.1.2.5/24') are refused rather than silently widened or narrowed."""
    text = text.strip()
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"'{text}' is not an address or a network such as 10.0.0.0/8.") from None
        raise ValueError(
            f"'{text}' has host bits set: did you mean {loose} or {text.split('/')[0]}/{loose.max_prefixlen}?"
        ) from None


def address_in(address: str | None, networks: list[str]) -> bool:
    """Whether `address` (as client_ip gives it) lies in one of `networks` (CIDR texts)."""
    parsed = _parse(address or "")
    return parsed is not None and any(parsed in network for network in _networks(tuple(networks)))
