"""What the test process holds open in the temporary folder: an export being streamed, say."""

import os
import tempfile


def open_temporary_files() -> set[str]:
    """Files of the temporary folder this process has open, named or already unlinked."""
    folder = os.path.realpath(tempfile.gettempdir())
    held = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(folder + "/"):
            held.add(target)
    return held
