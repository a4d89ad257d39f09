"""Whether this configuration serves others: DEBUG off and a host name other than loopback's in
ALLOWED_HOSTS. scripts/serve then runs `manage.py check --deploy` and stops on its warnings; the
embedded default (DEBUG off, loopback only) starts without it.

`python -m facesite.deployment` prints "others" or "loopback" (and fails, as every command does,
on a configuration that cannot load)."""

import os

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


def serves_others(settings) -> bool:
    return not settings.DEBUG and any(host not in LOOPBACK_HOSTS for host in settings.ALLOWED_HOSTS)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facesite.settings")
    from django.conf import settings

    print("others" if serves_others(settings) else "loopback")
