"""Where the service itself may connect (webhooks, video streams): an SSRF guard. A host is
reached only when every address it resolves to is public, or within the networks the operator
allowed for that use (a setting such as WEBHOOK_ALLOWED_NETWORKS): loopback, private, link-local
(the cloud metadata endpoint), multicast and reserved addresses are refused otherwise, so a URL
given through the API cannot make the service call its own host's services or its LAN."""

import ipaddress
import socket


class AddressRefused(ValueError):
    """The host is not one the service may connect to."""


def allowed_address(hostname: str, port: int, allowed_networks: list[str], setting: str) -> str:
    """The first address `hostname` resolves to; AddressRefused when it does not resolve or any
    of its addresses is neither public nor in `allowed_networks` (`setting`: the setting that
    lists them, named in the refusal)."""
    try:
        found = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as error:
        raise AddressRefused(f"{hostname} does not resolve: {error}") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in found]
    allowed = [ipaddress.ip_network(net, strict=False) for net in allowed_networks]
    for address in addresses:
        permitted = any(address in network for network in allowed)
        if not permitted and (not address.is_global or address.is_multicast):
            raise AddressRefused(
                f"{hostname} resolves to {address}, which is not a public address: allow its "
                f"network with {setting} to connect there."
            )
    return str(addresses[0])
