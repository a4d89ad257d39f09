"""The stored face vectors, the source of truth every vector index is built from, and the change
log that lets every process keep its index in step with them."""

import numpy as np
from django.db import models
from django.db.models import F


class IndexState(models.Model):
    """One row per embedding model key.

    `generation` is bumped in the same transaction as every addition or removal of a vector, so a
    process that has applied everything up to generation G only needs the rows after G to catch up.
    `epoch` changes when the whole index is rebuilt; a process on an older epoch reloads.
    """

    model_key = models.CharField(max_length=200, primary_key=True)
    generation = models.BigIntegerField(default=0)
    next_vector_id = models.BigIntegerField(default=0)
    epoch = models.PositiveIntegerField(default=0)
    rebuilt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "index state"

    def __str__(self):
        return f"{self.model_key} (generation {self.generation})"

    @classmethod
    def allocate_vector(cls, model_key: str) -> tuple[int, int]:
        """Reserve a vector id and the generation of one addition. Call inside the saving transaction.

        The UPDATE takes the IndexState row lock until the transaction ends, so generations commit
        in order: a reader that has seen generation G has seen every row at or below G. Without the
        lock a transaction holding G-1 could commit after a reader moved its watermark to G and be
        missed.
        """
        cls.objects.get_or_create(model_key=model_key)
        cls.objects.filter(pk=model_key).update(next_vector_id=F("next_vector_id") + 1, generation=F("generation") + 1)
        state = cls.objects.values("next_vector_id", "generation").get(pk=model_key)
        return state["next_vector_id"] - 1, state["generation"]

    @classmethod
    def log_removals(cls, model_key: str, vector_ids) -> None:
        """Log vectors leaving the index at a new generation. Call inside the deleting transaction."""
        vector_ids = list(vector_ids)
        if not vector_ids:
            return
        cls.objects.get_or_create(model_key=model_key)
        cls.objects.filter(pk=model_key).update(generation=F("generation") + 1)
        generation = cls.objects.values_list("generation", flat=True).get(pk=model_key)
        RemovedVector.objects.bulk_create(
            RemovedVector(model_key=model_key, vector_id=v, generation=generation) for v in vector_ids
        )


class RemovedVector(models.Model):
    """A vector that left the index at `generation`; read by processes catching up."""

    model_key = models.CharField(max_length=200)
    vector_id = models.BigIntegerField()
    generation = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["model_key", "generation"])]


class FaceVectorManager(models.Manager):
    def store(self, model_key: str, owner_id, vector: np.ndarray, partition: str = "") -> "FaceVector":
        """Add a vector at a new generation. Call inside the transaction that saves what it belongs
        to, so the vector commits with it or not at all. A search limited to some partitions never
        returns a vector of another."""
        vector_id, generation = IndexState.allocate_vector(model_key)
        return self.create(
            model_key=model_key,
            vector_id=vector_id,
            owner_id=owner_id,
            partition=partition,
            generation=generation,
            embedding=np.asarray(vector, dtype=np.float32).tobytes(),
        )


class FaceVector(models.Model):
    """One face's embedding under one model key.

    `owner_id` is whoever the face belongs to (records' person id): searches rank distinct owners.
    `partition` is the group it belongs to (records' collection): a search can be kept within some.
    Deleting a row logs its removal (recognition/signals.py), so every index drops it.
    """

    model_key = models.CharField(max_length=200)
    vector_id = models.BigIntegerField()
    owner_id = models.UUIDField(db_index=True)
    # Whoever stores vectors groups them (records: a person's collection); a search can be limited
    # to some groups. Fixed for the vector's life.
    partition = models.CharField(max_length=64, blank=True, default="")
    generation = models.BigIntegerField()
    embedding = models.BinaryField()

    objects = FaceVectorManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model_key", "vector_id"], name="unique_vector_id_per_model")]
        indexes = [
            # Every process catching up asks for one model's rows after its generation. With an
            # index on each column alone SQLite scanned all of a model's rows: 180 ms per catch-up
            # at 100k photos, paid by every enrolment.
            models.Index(fields=["model_key", "generation"], name="face_vector_catch_up"),
        ]

    def __str__(self):
        return f"{self.model_key} #{self.vector_id}"

    @property
    def vector(self) -> np.ndarray:
        return np.frombuffer(bytes(self.embedding), dtype=np.float32)


class MilvusCollection(models.Model):
    """What one Milvus collection holds: the change log's epoch and generation applied to it.

    Its row is also the lock that lets one process at a time write to the collection
    (recognition/vectors/milvus_backend.py).
    """

    name = models.CharField(max_length=255, primary_key=True)
    model_key = models.CharField(max_length=200)
    epoch = models.IntegerField(default=-1)  # -1: never loaded
    generation = models.BigIntegerField(default=0)
    # Milvus's timestamp of the newest write that generation needed: a search asks Milvus to have
    # applied it (guarantee_timestamp). 0: not known (Milvus Lite, or a delete on Milvus 2.3, answer
    # none), and the search asks for everything written before it (Strong).
    read_timestamp = models.BigIntegerField(default=0)
    synced_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.name} (generation {self.generation})"
