"""Catalog model, match graph, stores and scores. No ML imports live here."""

from graph.infra import forksafe as forksafe  # registers the after-fork lock resets (tqdm's too) on first import
