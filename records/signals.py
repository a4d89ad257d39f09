"""Connect the models to the recognition service, whatever path saves or deletes them
(API, pages, admin, shell, import command)."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from recognition.gallery import allocate_vector, get_gallery, record_removals

from . import erasure
from .models import FaceImage, PendingErasure, Person


@receiver(pre_save, sender=FaceImage)
def embed_new_image(sender, instance: FaceImage, raw=False, **kwargs):
    if raw or not instance._state.adding:
        return
    if not instance.embedding:
        # Raises NoFaceDetected / InvalidImage before anything is written: no row, no file.
        instance.analyse_own_file()
    instance.vector_id, instance.generation = allocate_vector(instance.model_key)


@receiver(post_save, sender=FaceImage)
def index_new_image(sender, instance: FaceImage, created, raw=False, **kwargs):
    if created and not raw:
        model_key = instance.model_key
        transaction.on_commit(lambda: get_gallery(model_key).sync())


@receiver(post_delete, sender=FaceImage)
def forget_image(sender, instance: FaceImage, **kwargs):
    # Runs for single and bulk deletes alike: Django's collector sends post_delete for every row
    # (cascades from Person included) because this receiver exists. The file and the snapshot are
    # erased once the delete commits, and retried until done (records/erasure.py).
    record_removals(instance.model_key, [instance.vector_id])
    erasure.schedule(PendingErasure(file_name=instance.image.name, model_key=instance.model_key))
    erasure.scrub_admin_history(instance)


@receiver(post_delete, sender=Person)
def forget_person(sender, instance: Person, **kwargs):
    erasure.scrub_admin_history(instance)
    erasure.forget_kept_probes(instance.pk)
