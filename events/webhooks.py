"""Sending one event to one webhook as the Standard Webhooks specification says, signed with its
reference library (`standardwebhooks.Webhook`), so receivers can verify with any of its libraries.

Outgoing requests go only to public addresses unless WEBHOOK_ALLOWED_NETWORKS allows others
(loopback, private, link-local, ... are refused: a webhook must not reach the host's own services
or the cloud metadata endpoint). The name is resolved once and the connection made to that checked
address (TLS still checks the certificate against the name), so a name that resolves elsewhere on
the second look (DNS rebinding) changes nothing. No redirect is followed; WEBHOOK_TIMEOUT bounds
connecting and waiting for the answer."""

import base64
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings
from standardwebhooks import Webhook as Signer

from access.outgoing import AddressRefused, allowed_address

from .models import Event, Webhook


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def checked_address(url: str) -> tuple[str, int, str]:
    """(the address to connect to, port, scheme) of `url`; AddressRefused for a URL that is not
    http(s), a host that does not resolve, or any of its addresses not public nor allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused("Only http:// and https:// URLs with a host are accepted.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise AddressRefused(f"{parts.hostname} does not resolve: {error}") from None
    address = allowed_address(parts.hostname, port, settings.WEBHOOK_ALLOWED_NETWORKS, "WEBHOOK_ALLOWED_NETWORKS")
    return address, port, parts.scheme


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status_code: int | None
    error: str
    duration_ms: float


def body_of(event: Event) -> bytes:
    return json.dumps(event.payload(), separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(webhook: Webhook, event: Event, body: bytes, now: datetime) -> dict:
    """webhook-id (the event's id: the same on every retry, for the receiver to drop repeats),
    webhook-timestamp and webhook-signature (v1, HMAC-SHA256 of id.timestamp.body)."""
    message_id = f"msg_{event.pk.hex}"
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Signer(webhook.secret).sign(message_id, now, body),
        "content-type": "application/json",
        "user-agent": "facesite-webhooks/1",
    }


def send(webhook: Webhook, event: Event, now: datetime) -> Outcome:
    started = time.perf_counter()
    try:
        address, port, scheme = checked_address(webhook.url)
        parts = urlsplit(webhook.url)
        body = body_of(event)
        headers = {"host": parts.netloc.rpartition("@")[2], **signed_headers(webhook, event, body, now)}
        timeout = urllib3.Timeout(connect=settings.WEBHOOK_TIMEOUT, read=settings.WEBHOOK_TIMEOUT)
        if scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address, port, timeout=timeout, retries=False, server_hostname=parts.hostname,
                assert_hostname=parts.hostname, cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(),
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False)
        with pool:
            path = parts.path or "/"
            response = pool.urlopen(
                "POST", path + (f"?{parts.query}" if parts.query else ""), body=body, headers=headers,
                redirect=False, retries=False, preload_content=False,
            )
            response.read(64 * 1024, decode_content=False)  # some of it: a huge answer is not our business
            response.release_conn()
    except (AddressRefused, urllib3.exceptions.HTTPError, OSError) as error:
        return Outcome(False, None, f"{type(error).__name__}: {error}"[:1000], _since(started))
    delivered = 200 <= response.status < 300
    error = "" if delivered else f"HTTP {response.status}" + (" (redirects are not followed)" if 300 <= response.status < 400 else "")
    return Outcome(delivered, response.status, error, _since(started))


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
