"""Each photo's vector moves to recognition.FaceVector (ids, generations and bytes unchanged, so
index snapshots on disk stay valid); the photo points to it."""

import django.db.models.deletion
from django.db import migrations, models

BATCH = 2000


def _batches(rows):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def move_vectors_to_recognition(apps, schema_editor):
    FaceImage = apps.get_model("records", "FaceImage")
    FaceVector = apps.get_model("recognition", "FaceVector")
    # In the photos' order, so the new vector rows' ids keep the tie-break of FaceImage's ordering.
    images = FaceImage.objects.order_by("created_at", "vector_id").only(
        "id", "person_id", "model_key", "vector_id", "generation", "embedding"
    )
    for batch in _batches(images.iterator(chunk_size=BATCH)):
        vectors = FaceVector.objects.bulk_create(
            FaceVector(
                model_key=image.model_key,
                vector_id=image.vector_id,
                owner_id=image.person_id,
                generation=image.generation,
                embedding=image.embedding,
            )
            for image in batch
        )
        for image, vector in zip(batch, vectors):
            image.face_vector_id = vector.pk
        FaceImage.objects.bulk_update(batch, ["face_vector"])


def move_vectors_back(apps, schema_editor):
    FaceImage = apps.get_model("records", "FaceImage")
    images = FaceImage.objects.select_related("face_vector").order_by("pk")
    for batch in _batches(images.iterator(chunk_size=BATCH)):
        for image in batch:
            vector = image.face_vector
            image.model_key, image.vector_id = vector.model_key, vector.vector_id
            image.generation, image.embedding = vector.generation, vector.embedding
        FaceImage.objects.bulk_update(batch, ["model_key", "vector_id", "generation", "embedding"])


class Migration(migrations.Migration):

    dependencies = [
        ('recognition', '0002_face_vector'),
        ('records', '0006_scopedapikey'),
    ]

    operations = [
        migrations.AddField(
            model_name='faceimage',
            name='face_vector',
            field=models.OneToOneField(
                editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+',
                to='recognition.facevector',
            ),
        ),
        # Nullable before the data moves, so that migrating backwards can add them again empty
        # and fill them before they turn NOT NULL.
        migrations.AlterField(model_name='faceimage', name='embedding', field=models.BinaryField(editable=False, null=True)),
        migrations.AlterField(model_name='faceimage', name='model_key', field=models.CharField(editable=False, max_length=200, null=True)),
        migrations.AlterField(model_name='faceimage', name='vector_id', field=models.BigIntegerField(editable=False, null=True)),
        migrations.AlterField(model_name='faceimage', name='generation', field=models.BigIntegerField(editable=False, null=True)),
        migrations.RunPython(move_vectors_to_recognition, move_vectors_back, elidable=False),
        migrations.AlterField(
            model_name='faceimage',
            name='face_vector',
            field=models.OneToOneField(
                editable=False, on_delete=django.db.models.deletion.PROTECT, related_name='+',
                to='recognition.facevector',
            ),
        ),
        migrations.RemoveConstraint(model_name='faceimage', name='unique_vector_per_model'),
        migrations.RemoveIndex(model_name='faceimage', name='face_image_catch_up'),
        migrations.RemoveField(model_name='faceimage', name='embedding'),
        migrations.RemoveField(model_name='faceimage', name='model_key'),
        migrations.RemoveField(model_name='faceimage', name='vector_id'),
        migrations.RemoveField(model_name='faceimage', name='generation'),
        migrations.AlterModelOptions(name='faceimage', options={'ordering': ['created_at', 'face_vector_id']}),
    ]
