"""The vector index behind one interface (base.VectorGallery), with two implementations chosen by
VECTOR_BACKEND: `faiss` (faiss_gallery.py, in every process, the default) and `milvus`
(milvus_gallery.py, one shared Milvus collection per model key). recognition/gallery.py hands out
the configured one."""
