"""Vector indexes: each model key's face vectors, searched for the nearest people. One interface
(base.VectorIndex) with two backends chosen by VECTOR_BACKEND: `faiss` (faiss_backend.py, in every
process, keeping an in-memory FAISS index, faiss_index.py; the default) and `milvus`
(milvus_backend.py, one shared Milvus collection per model key). indexes.py hands out the
configured one and starts rebuilds; types.py holds what every backend shares."""
