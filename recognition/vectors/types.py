"""Types every vector backend shares, in a module of their own so that using one backend does not
import another's library (the Milvus backend never loads FAISS)."""

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Neighbour:
    person_id: uuid.UUID
    vector_id: int
    distance: float
