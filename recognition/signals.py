"""Every index follows the stored vectors, whatever path adds or deletes them."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .vectors.indexes import get_vector_index
from .models import FaceVector, IndexState


@receiver(post_save, sender=FaceVector)
def index_new_vector(sender, instance: FaceVector, created, raw=False, **kwargs):
    if created and not raw:
        model_key = instance.model_key
        # robust: the index catches up from the change log at its next search anyway, so a sync
        # that fails now (Milvus down) is logged, never turned into an error of a save that committed.
        transaction.on_commit(lambda: get_vector_index(model_key).sync(), robust=True)


@receiver(post_delete, sender=FaceVector)
def log_removed_vector(sender, instance: FaceVector, **kwargs):
    # Runs for single and bulk deletes alike: Django's collector sends post_delete for every row
    # because this receiver exists. Whoever deletes calls the index's purge_removed() once the
    # delete commits (records/erasure.py, retried until it succeeds).
    IndexState.log_removals(instance.model_key, [instance.vector_id])
