"""Semantic search: a local sentence embedder, a persistent vector cache and a FAISS index."""
