"""How far Milvus's index, built in the background, covers a collection: read by the Milvus
backend (GET /health) and by the benchmarks that wait for it, with no Django in the way."""

from dataclasses import dataclass


@dataclass(frozen=True)
class IndexBuild:
    """How far Milvus's index, built in the background on sealed segments, covers a collection.

    `unindexed_rows`: sealed rows no finished index covers yet; searches still find them, through
    Milvus's interim index (IVF, approximate) or a scan, until it is built. `reindexing_rows`: rows
    of segments Milvus made by compacting indexed ones, whose index it is building again while the
    indexed segments they came from are searched (Milvus 2.3 counts those as indexed). Compaction
    goes on after large loads, and after every upsert (Milvus 2.3 writes each as a delete and an
    insert, and compacts the segments the deletes fall in: milvus-io/milvus#30121): those rows come
    and go for many minutes while searches are unaffected."""

    unindexed_rows: int
    reindexing_rows: int


def described_index(client, name: str) -> dict:
    """Milvus's description of a collection's vector index: its type, rows, build state."""
    return client.describe_index(name, index_name=client.list_indexes(name, field_name="embedding")[0])


def index_build_of(client, name: str) -> IndexBuild | None:
    """The collection's IndexBuild; None from a server that does not say."""
    index = described_index(client, name)
    if "pending_index_rows" not in index:
        return None
    unindexed = max(0, int(index["total_rows"]) - int(index["indexed_rows"]))
    return IndexBuild(unindexed, max(0, int(index["pending_index_rows"]) - unindexed))
