"""Catalog model, match graph, stores and scores. No ML imports live here."""
