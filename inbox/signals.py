"""What the inbox announces, sent inside the transaction of what happened, as records/signals.py's
are, so a receiver that writes (the events app's outbox) commits or rolls back with it."""

from django.dispatch import Signal

# A face kept for review. Arguments: `face` (the UnknownFace, saved), `joined` (True: into a
# suggested person it already had; False: a new one), `how` ("unnamed": a match left it so;
# "not_them": a reviewer said the name was wrong; "stream": a stream saw nobody enrolled).
face_kept = Signal()
# A suggested person decided on. Arguments: `cluster_id`, `collection`, `action` ("named": made a
# person; "added": its faces added to a person; "dismissed": erased), `person` (named or added to,
# else None) and `faces` (how many left the inbox).
cluster_reviewed = Signal()
