"""Migrations that move data, run on a database that has rows."""

import uuid

import numpy as np
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from recognition.gallery import get_gallery

FACE_VECTOR = [("records", "0006_face_vector"), ("recognition", "0002_face_vector")]
MODEL_KEY = "ArcFace-MBF:scrfd:arcface112-flip-v1"


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def before(migrations):
    """The state just before these migrations: their parents, less the migrations themselves."""
    graph = MigrationExecutor(connection).loader.graph
    parents = {parent.key for node in migrations for parent in graph.node_map[node].parents}
    return sorted(parents - set(migrations))


def latest():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def unit_vectors(count, seed=0):
    vectors = np.random.default_rng(seed).normal(size=(count, 512)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


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
    return FaceImage.objects.order_by("vector_id").values_list(
        "pk", "person_id", "model_key", "vector_id", "generation", "embedding"
    )


@pytest.mark.django_db(transaction=True)
def test_face_vectors_move_to_recognition_and_back():
    vectors = unit_vectors(6)
    before = [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in
              enrol_before(migrate(before(FACE_VECTOR)), vectors)]
    try:
        apps = migrate(latest())
        FaceImage, FaceVector = apps.get_model("records", "FaceImage"), apps.get_model("recognition", "FaceVector")
        after = [
            (image.pk, image.person_id, image.face_vector.model_key, image.face_vector.vector_id,
             image.face_vector.generation, bytes(image.face_vector.embedding))
            for image in FaceImage.objects.select_related("face_vector").order_by("face_vector__vector_id")
        ]
        assert after == before
        assert sorted(FaceVector.objects.values_list("owner_id", flat=True)) == sorted(row[1] for row in before)

        # The index built from the moved rows finds each photo's owner.
        found = get_gallery(MODEL_KEY).search(vectors[3], top_k=1)
        assert [(n.person_id, n.vector_id) for n in found] == [(before[3][1], 3)]

        old_apps = migrate(before(FACE_VECTOR))  # and back: the vectors return to the photos
        restored = old_apps.get_model("records", "FaceImage").objects.order_by("vector_id").values_list(
            "pk", "person_id", "model_key", "vector_id", "generation", "embedding"
        )
        assert [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in restored] == before
    finally:
        migrate(latest())
