"""What the audit log keeps of a probe photo (AUDIT_KEEP_PROBES), for comparing with the upload."""

from recognition.imaging import decode_image, encode_for_storage


def as_kept(probe: bytes) -> bytes:
    """The probe re-encoded as stored photos are, without the upload's metadata (audit/log.py)."""
    return encode_for_storage(decode_image(probe)).data
