"""VECTOR_BACKEND=milvus: the vectors of each model key live in one Milvus collection that every
process shares (MILVUS_URI: a `milvus-lite server`, Milvus Standalone or Distributed), so a
worker's memory does not grow with the gallery.

Milvus is only ever written from the database's change log, one writer at a time: the process that
finds it behind takes a database lock (the collection's `MilvusCollection` row), applies the
additions and removals logged since the generation that row records, and records the new one in
the same transaction. A search first makes sure Milvus holds at least the generation the database
had when the search began, then asks Milvus to have applied the writes that generation needed, so a
worker finds what another worker has just acknowledged (read-your-writes), and never a vector whose
removal committed.

Which writes: the writer records, beside the generation, Milvus's timestamp of its last write (an
upsert's answer carries it), and a search passes it as `guarantee_timestamp`. Milvus then waits only
while its query node is behind that write: right after one, for at most one time tick (200 ms).
Strong consistency asks for everything written before the search instead, which waits for the next
time tick on every search (HTTP match p50 631 ms on Milvus 2.3.5 at 100k faces, bench/RESULTS.md).
Where Milvus answers no timestamp (Milvus Lite; a delete on Milvus 2.3) the search stays Strong
until a later write brings one.
"""

import hashlib
import json
import logging
import re
import threading
import time
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import FaceVector, MilvusCollection
from .base import VectorIndex, Watermark, database_watermark
from .milvus_index_build import IndexBuild, described_index, index_build_of
from .types import Neighbour

logger = logging.getLogger(__name__)

STRONG = "Strong"
CUSTOMIZED = "Customized"  # a guarantee_timestamp of the caller's
PARTITION_LENGTH = 64  # FaceVector.partition's max_length
OWNER_LENGTH = 36  # a UUID's text
QUERY_BATCH = 10_000
INDEX_PARAMS = {"HNSW": {"M": 16, "efConstruction": 200}}
# ef 512 on LFW's real faces among face-like filler at 100k (bench/hnsw_real_faces.py --fill
# clustered): the right person first for 99.1% of probes (a flat scan: 99.2%; ef 256: 98.5%), recall@10
# against a flat scan 0.917 (ef 256: 0.822) in 9.2 ms (5.4 ms). Random filler, far from every face,
# had shown 0.979 at ef 256.
HNSW_MIN_EF = 512
MAX_SEARCH_LIMIT = 16_384  # Milvus's largest topk
FIELDS = {"vector_id", "owner", "partition", "embedding"}
COLLECTION_NOT_LOADED = 101  # Milvus's error code for a search of a released collection
LOADING_SUFFIX = "__loading"  # the collection a load fills before it takes the collection's name

_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def milvus_client():
    """One client per process (and URI): pymilvus's gRPC channel is safe to share across threads."""
    from pymilvus import MilvusClient  # a service dependency, imported only when Milvus is chosen

    key = (settings.MILVUS_URI, settings.MILVUS_TOKEN)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = MilvusClient(uri=settings.MILVUS_URI, token=settings.MILVUS_TOKEN or "",
                                         timeout=settings.MILVUS_TIMEOUT)
        return _clients[key]


def index_type_for(vectors: int) -> str:
    """FLAT (exact) up to MILVUS_HNSW_ABOVE vectors, HNSW (approximate: its recall is measured in
    bench/RESULTS.md) above; MILVUS_INDEX_TYPE=HNSW at any size."""
    above = settings.MILVUS_HNSW_ABOVE
    return "HNSW" if settings.MILVUS_INDEX_TYPE == "HNSW" or (above and vectors > above) else "FLAT"


def collection_name(model_key: str) -> str:
    """Milvus names allow letters, digits and underscores; the hash keeps two model keys that
    differ only in punctuation apart."""
    readable = re.sub(r"[^0-9A-Za-z_]", "_", model_key)[:120]
    digest = hashlib.sha256(model_key.encode()).hexdigest()[:10]
    return f"{settings.MILVUS_COLLECTION_PREFIX}_{readable}_{digest}"


def hit_id(hit) -> int:
    """A search hit's primary key: under the field's name from servers that name it (Milvus Lite
    3.x, Milvus 2.4 and later), as `id` from Milvus 2.3, which does not."""
    return hit["vector_id"] if "vector_id" in hit else hit["id"]


class MilvusVectorIndex(VectorIndex):
    backend = "milvus"

    def __init__(self, model_key: str):
        super().__init__(model_key)
        self.name = collection_name(model_key)
        self._lock = threading.Lock()
        self._checked_collection = False
        # Per thread: `timestamp`, what its next read asks Milvus to have applied (the one its last
        # sync saw, or its own last write's); `written`, its last write's in a catch-up.
        self._seen = threading.local()

    @property
    def client(self):
        return milvus_client()

    # --- the index ------------------------------------------------------------------------------
    def add(self, vector_ids, vectors, owner_ids, partitions=None) -> None:
        if not len(vector_ids):
            return
        loading_into = getattr(self._seen, "loading_into", None)
        target = loading_into or self.name
        self._create_collection(target, vectors.shape[1])
        # Upsert: a change replayed after a writer died before recording it replaces, not doubles.
        # Into the collection a load fills (`_load`), insert: Milvus 2.3 writes an upsert as a
        # delete and an insert of each row, so every segment a large load fills carries a delete
        # of each of its own rows and is compacted, and indexed again, as soon as it is sealed
        # (milvus-io/milvus#30121). A load is never replayed into the same collection: one that
        # dies is started again in a new one, and one put in place by a writer that died before
        # recording it has the changes since applied over it, by upsert.
        partitions = [""] * len(vector_ids) if partitions is None else partitions
        write = self._writes().insert_rows if loading_into else self._writes().upsert_rows
        result = write(target, [
            {"vector_id": int(vector_id), "owner": str(owner), "partition": partition, "embedding": vector}
            for vector_id, vector, owner, partition in zip(vector_ids, vectors, owner_ids, partitions)
        ], timeout=settings.MILVUS_TIMEOUT)
        self._wrote(result.timestamp)

    def remove(self, vector_ids) -> int:
        vector_ids = [int(v) for v in vector_ids]
        if not vector_ids or not self.client.has_collection(self.name):
            return 0
        result = self._writes().delete(self.name, f"vector_id in {vector_ids}", timeout=settings.MILVUS_TIMEOUT)
        self._wrote(result.timestamp)
        # Milvus 2.3 counts the ids asked for, present or not; only FAISS's count is used (snapshots).
        return result.delete_count or len(vector_ids)

    def _writes(self):
        """The client's connection, whose upsert and delete answer the write's timestamp (a
        MutationResult); MilvusClient's own methods answer only counts."""
        return self.client._get_connection()

    def _wrote(self, timestamp: int) -> None:
        """After each write: the thread reads its own writes. Milvus hands timestamps out in order,
        so the last write's covers every earlier one; 0 (none answered) reads with Strong."""
        self._seen.timestamp = self._seen.written = int(timestamp)

    def _consistency(self) -> dict:
        timestamp = getattr(self._seen, "timestamp", 0)
        if timestamp:
            return {"consistency_level": CUSTOMIZED, "guarantee_timestamp": timestamp}
        return {"consistency_level": STRONG}

    def nearest_owners(self, vector, top_k: int, partitions=None) -> list[Neighbour]:
        if top_k < 1 or not self._searchable():
            return []
        # Not Milvus's group_by_field: Milvus Lite 3.2 returned one owner where one owner's photos
        # filled the candidates (tests/core/test_vector_backends.py). Widened as the FAISS index
        # does instead, until top_k owners are seen or the collection has no more.
        limit = top_k * 4
        # A boolean filter Milvus applies while searching: the nearest of those partitions, not a
        # post-filter of the nearest overall. json.dumps quotes the names as Milvus expects.
        where = "" if partitions is None else f"partition in {json.dumps([str(p) for p in partitions])}"
        while True:
            # ef is read by HNSW (which needs it >= limit) and ignored by FLAT; always sent, as
            # another process may have loaded the collection again with the other (rebuild_index).
            hits = self._loaded(
                self.client.search, self.name, data=[vector.astype("float32")], limit=limit,
                output_fields=["owner"], search_params={"params": {"ef": max(HNSW_MIN_EF, limit)}},
                filter=where, **self._consistency(),
            )[0]
            best: dict[uuid.UUID, Neighbour] = {}
            for hit in hits:
                owner = uuid.UUID(hit["entity"]["owner"])
                if owner not in best:
                    best[owner] = Neighbour(owner, int(hit_id(hit)), max(0.0, 1.0 - hit["distance"]))
            if len(best) >= top_k or len(hits) < limit or limit >= MAX_SEARCH_LIMIT:
                return list(best.values())[:top_k]
            limit = min(MAX_SEARCH_LIMIT, limit * 4)

    def count(self) -> int:
        if not self.client.has_collection(self.name):
            return 0
        rows = self._loaded(self.client.query, self.name, filter="", output_fields=["count(*)"],
                            **self._consistency())
        return int(rows[0]["count(*)"])

    def index_build(self) -> IndexBuild | None:
        if not self.client.has_collection(self.name):
            return None
        return index_build_of(self.client, self.name)

    def vector_ids(self) -> set[int]:
        if not self.client.has_collection(self.name):
            return set()
        ids = set()
        batches = self._loaded(
            self.client.query_iterator, self.name, batch_size=QUERY_BATCH, filter="vector_id >= 0",
            output_fields=["vector_id"],
        )
        while batch := batches.next():
            ids.update(row["vector_id"] for row in batch)
        batches.close()
        return ids

    def _loaded(self, read, *args, **kwargs):
        """`read(*args, **kwargs)`, loading the collection first if Milvus has it released (Milvus
        Lite forgets what was loaded when it restarts)."""
        from pymilvus import MilvusException

        try:
            return read(*args, **kwargs)
        except MilvusException as exc:
            if exc.code != COLLECTION_NOT_LOADED:
                raise
        logger.warning("Milvus had %s released: loading it", self.name)
        self.client.load_collection(self.name)
        return read(*args, **kwargs)

    @property
    def applied(self) -> Watermark | None:
        return self._recorded()[0]

    def _recorded(self) -> tuple[Watermark | None, int]:
        """The watermark this collection's row records and the read timestamp that goes with it."""
        row = MilvusCollection.objects.filter(pk=self.name).values("epoch", "generation", "read_timestamp").first()
        if not row or row["epoch"] < 0:
            return None, 0
        return Watermark(row["epoch"], row["generation"]), row["read_timestamp"]

    # --- keeping in step ------------------------------------------------------------------------
    def sync(self) -> None:
        wanted = database_watermark(self.model_key)
        applied, self._seen.timestamp = self._recorded()
        if self._checked_collection and applied == wanted:
            return  # two small queries: nothing to write
        with self._lock:
            self._catch_up()

    def _searchable(self) -> bool:
        """Whether Milvus has the collection to search. One missing while the database has vectors
        for it was lost under a process that had checked it (Milvus restarted without its data,
        say), which would answer nobody for everyone until its next change: it is caught up now as
        at a first use, by a load under the lock. A search in the moment a load swaps collections
        (`_load`) finds none too: its catch-up waits for that load's lock and finds it back."""
        if self.client.has_collection(self.name):
            return True
        if self._stored() == 0:
            return False
        with self._lock:
            self._catch_up()
        return self.client.has_collection(self.name)

    def reload(self) -> None:
        with self._lock:
            self._catch_up(force_reload=True)

    def purge_removed(self) -> bool:
        # The delete is applied now; Milvus drops the deleted rows' data at its next compaction.
        self.sync()
        return True

    def _catch_up(self, force_reload: bool = False) -> None:
        if not self._checked_collection:
            self._check_collection()
        with transaction.atomic():
            MilvusCollection.objects.get_or_create(name=self.name, defaults={"model_key": self.model_key})
            # The UPDATE is the lock: a row lock on PostgreSQL, the write lock on SQLite (taken at
            # BEGIN already). Milvus Lite needs its writers serialised, and so does the order of the
            # changes: two processes applying the log at once could re-add a vector the other had
            # just removed.
            MilvusCollection.objects.filter(pk=self.name).update(synced_at=timezone.now())
            row = MilvusCollection.objects.get(pk=self.name)
            state = database_watermark(self.model_key)  # read under the lock
            have = Watermark(row.epoch, row.generation)
            # No collection (a new or emptied Milvus, a first use, one lost): the whole gallery is
            # loaded into a new one, by insert, rather than every change since generation 0 upserted.
            missing = not self.client.has_collection(self.name)
            started = time.perf_counter()
            self._seen.written = None
            if force_reload or missing or have.epoch != state.epoch or have.generation > state.generation:
                self._load(state.generation)
                logger.info("Loaded %s into Milvus (%s) in %.0f ms", self.model_key, self.name,
                            (time.perf_counter() - started) * 1000)
            elif have.generation < state.generation:
                self.apply_changes(have.generation, state.generation)
            row.epoch, row.generation = state.epoch, state.generation
            if self._seen.written is not None:
                row.read_timestamp = self._seen.written
            row.save(update_fields=["epoch", "generation", "read_timestamp"])
        self._checked_collection = True
        self._seen.timestamp = row.read_timestamp

    def _load(self, generation: int) -> None:
        """The gallery up to `generation`, inserted into a collection of its own that takes the
        collection's name only once whole. Milvus's writes are not part of the database transaction
        that records the load: a process killed while loading in place would leave part of the
        gallery under the name, and the next process would take it for the whole whenever the
        recorded watermark was already the database's (a new or emptied Milvus after a recorded
        load), never to find the people not yet inserted. Killed here, it leaves the old collection
        (or none) and its loading collection, which the next load drops first."""
        loading = self.name + LOADING_SUFFIX
        self.client.drop_collection(loading)
        self._seen.loading_into = loading
        try:
            loaded = self.load_all(generation)
        finally:
            self._seen.loading_into = None
        if not loaded:
            self.client.drop_collection(self.name)  # an emptied gallery: nothing to search
            return
        # Sealed segments: Milvus Lite searched 20k unflushed vectors in ~680 ms, flushed in ~14 ms.
        self.client.flush(loading)
        # Milvus renames onto no existing collection: the old one is dropped first, and a search in
        # that moment finds no collection and answers nobody (rather than part of the gallery for
        # as long as a load in place took).
        self.client.drop_collection(self.name)
        self.client.rename_collection(loading, self.name)
        # Milvus Lite 3.2 leaves a renamed collection released (Milvus 2.3 keeps it loaded).
        self.client.load_collection(self.name)

    def _check_collection(self) -> None:
        """At a process's first use. A collection made before a field existed is loaded again from
        the database: its epoch -1 is committed first, so that every process waits for the load on
        the lock instead of searching a collection being replaced. One whose index is not the one
        the settings ask for at its size is only reported: the index changes when the collection is
        loaded (`rebuild_index`), never under running searches, as loading a large gallery inside a
        request would outlast gunicorn's timeout."""
        if not self.client.has_collection(self.name):
            return
        fields = {field["name"] for field in self.client.describe_collection(self.name)["fields"]}
        if fields != FIELDS:
            logger.warning("Reloading %s into Milvus (%s) from the database: its fields are %s, not %s",
                           self.model_key, self.name, ", ".join(sorted(fields)), ", ".join(sorted(FIELDS)))
            MilvusCollection.objects.filter(pk=self.name).update(epoch=-1)
            return
        have, wanted = self._index_type(), index_type_for(self._stored())
        if have != wanted:
            logger.warning("Milvus collection %s has a %s index, the settings ask for %s at its size: "
                           "`manage.py rebuild_index` loads it again with that one", self.name, have, wanted)

    def _index_type(self) -> str:
        return described_index(self.client, self.name)["index_type"]

    def _stored(self) -> int:
        return FaceVector.objects.filter(model_key=self.model_key).count()

    def _create_collection(self, name: str, dimension: int) -> None:
        if self.client.has_collection(name):
            return
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("vector_id", DataType.INT64, is_primary=True)
        schema.add_field("owner", DataType.VARCHAR, max_length=OWNER_LENGTH)
        schema.add_field("partition", DataType.VARCHAR, max_length=PARTITION_LENGTH)
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=int(dimension))
        index = self.client.prepare_index_params()
        index_type = index_type_for(self._stored())
        # Inner product of L2-normalised vectors is their cosine similarity.
        index.add_index(field_name="embedding", index_type=index_type, metric_type="IP",
                        params=INDEX_PARAMS.get(index_type, {}))
        self.client.create_collection(name, schema=schema, index_params=index, consistency_level=STRONG)
