"""Run by tests/core/test_migrations.py in a process of its own, on a scratch database (the
DATABASE_URL it is given): photos written under the schema before recognition.FaceVector, then
migrated forward and back. Prints what each state holds as JSON.

A process of its own, because migrating the test database back and forth in the test process
leaves Django's caches (content types) pointing at rows a later test's flush removes."""

import json
import uuid

import django
import numpy as np

FACE_VECTOR = [("records", "0007_face_vector"), ("recognition", "0002_face_vector")]
MODEL_KEY = "ArcFace-MBF:scrfd:arcface112-flip-v1"
COLUMNS = ("pk", "person_id", "model_key", "vector_id", "generation", "embedding")


def migrate(targets):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def graph():
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    return MigrationLoader(connection).graph


def state_before(migrations):
    """Their parents, less the migrations themselves."""
    parents = {parent.key for node in migrations for parent in graph().node_map[node].parents}
    return sorted(parents - set(migrations))


def rows(values):
    return [[str(v) if isinstance(v, uuid.UUID) else bytes(v).hex() if isinstance(v, (bytes, memoryview)) else v
             for v in row] for row in values]


def enrol_before(apps, vectors):
    """Photos as the schema before recognition.FaceVector stored them: the vector on the row."""
    Person, FaceImage = apps.get_model("records", "Person"), apps.get_model("records", "FaceImage")
    apps.get_model("recognition", "IndexState").objects.create(
        model_key=MODEL_KEY, generation=len(vectors), next_vector_id=len(vectors)
    )
    people = [Person.objects.create(name=f"person {n}") for n in range(len(vectors) // 2)]
    for number, vector in enumerate(vectors):
        FaceImage.objects.create(
            id=uuid.uuid4(), person=people[number // 2], image=f"faces/{number}.jpg", sha256="0" * 64,
            width=250, height=250, face_box=[1, 2, 3, 4], landmarks={}, detection_score=0.9,
            embedding=vector.tobytes(), model_key=MODEL_KEY, vector_id=number, generation=number + 1,
        )
    return rows(FaceImage.objects.order_by("vector_id").values_list(*COLUMNS))


def main():
    django.setup()
    vectors = np.random.default_rng(0).normal(size=(6, 512)).astype(np.float32)
    before = enrol_before(migrate(state_before(FACE_VECTOR)), vectors)

    apps = migrate(graph().leaf_nodes())
    FaceImage = apps.get_model("records", "FaceImage")
    after = rows(FaceImage.objects.order_by("face_vector__vector_id").values_list(
        "pk", "person_id", "face_vector__model_key", "face_vector__vector_id", "face_vector__generation",
        "face_vector__embedding",
    ))
    owners = rows(FaceImage.objects.order_by("face_vector__vector_id").values_list("face_vector__owner_id"))
    # records 0010: everyone into `default`, their vectors into its partition, every index reloads.
    default = apps.get_model("records", "Collection").objects.get(name="default")
    collections = sorted(set(apps.get_model("records", "Person").objects.values_list("collection__name", flat=True)))
    partitions = sorted(set(apps.get_model("recognition", "FaceVector").objects.values_list("partition", flat=True)))
    epoch = apps.get_model("recognition", "IndexState").objects.get(model_key=MODEL_KEY).epoch

    restored = migrate(state_before(FACE_VECTOR)).get_model("records", "FaceImage")
    back = rows(restored.objects.order_by("vector_id").values_list(*COLUMNS))
    print(json.dumps({
        "before": before, "after": after, "owners": owners, "back": back,
        "collections": collections, "partitions": partitions, "default_partition": str(default.pk), "epoch": epoch,
    }))


if __name__ == "__main__":
    main()
