"""Bookkeeping that lets every process keep its in-memory index in step with the database."""

from django.db import models


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


class RemovedVector(models.Model):
    """A vector that left the index at `generation`; read by processes catching up."""

    model_key = models.CharField(max_length=200)
    vector_id = models.BigIntegerField()
    generation = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["model_key", "generation"])]
