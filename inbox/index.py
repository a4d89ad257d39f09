"""The inbox's vector index: every kept unknown face's vector under its own key,
`<model key>#unknown` (recognition.vectors.indexes.purpose_key), owned by its cluster and partitioned by
collection.

Why this index and not a scan: it is the recognition index's machinery (FAISS in each worker, or
the shared Milvus collection), kept in step with the database by the same change log, so every
worker and host sees a face the moment it is committed, and "the nearest kept face" is one k-NN
query of one partition whatever the inbox holds. Because the owner of a vector is its cluster, the
query answers "the nearest cluster" directly (the nearest distinct owners). A match never searches
it: matches search the people's key.
"""

from recognition.vectors.indexes import get_vector_index, purpose_key
from recognition.models import FaceVector

PURPOSE = "unknown"


def index_key(model_key: str) -> str:
    return purpose_key(model_key, PURPOSE)


def nearest_cluster(model_key: str, embedding, partition: str):
    """(cluster id, distance) of the nearest kept face of the partition, or None when it is empty."""
    [found] = get_vector_index(index_key(model_key)).search_many([embedding], 1, [partition])
    return (found[0].person_id, found[0].distance) if found else None


def store(model_key: str, cluster_id, embedding, partition: str) -> FaceVector:
    """Call inside the transaction that saves the face (recognition.models.FaceVectorManager.store)."""
    return FaceVector.objects.store(index_key(model_key), cluster_id, embedding, partition)
