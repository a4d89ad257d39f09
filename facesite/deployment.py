"""Whether this configuration serves others: DEBUG off, and a host name other than loopback's in
ALLOWED_HOSTS or gunicorn listening on an address other than loopback (HOST: the container's
0.0.0.0). scripts/serve then runs `manage.py check --deploy` and stops on its warnings; the
embedded default (DEBUG off, loopback only) starts without it.

`python -m facesite.deployment` prints "others" or "loopback" (and fails, as every command does,
on a configuration that cannot load)."""

import ipaddress
import os

from facesite import app_server

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


def listens_beyond_loopback(address: str) -> bool:
    try:
        return not ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return address not in LOOPBACK_HOSTS  # a host name: whatever it resolves to


def serves_others(settings) -> bool:
    named = any(host not in LOOPBACK_HOSTS for host in settings.ALLOWED_HOSTS)
    return not settings.DEBUG and (named or listens_beyond_loopback(app_server.HOST))


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facesite.settings")
    from django.conf import settings

    print("others" if serves_others(settings) else "loopback")
