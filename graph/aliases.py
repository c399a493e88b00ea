"""Old ids that resolve to a canonical artifact (the `aliases` of catalog records).

Why: entity resolution merges records (`model/us.anthropic.claude-opus-4-7` is `anthropic/claude-opus-4-7`);
links, API clients and the match log still hold the old ids. An alias answers reads with the canonical
artifact, refuses writes (409 naming the canonical id), is a searchable name, and everything recorded
under it (Times Matched, match edges, feedback, learned intents) counts for the canonical artifact: a
rebuild from the event log maps the ids (`map_event`), and reads fold the counts still kept under an old
id (`fold`). Rules in docs/catalog.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from graph.events import FeedbackEvent, SearchEvent, Served


class AliasMap:
    """old id -> canonical id, built from the catalog's records."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping: dict[str, str] = dict(mapping)
        self._of: dict[str, list[str]] = {}
        for old, new in self.mapping.items():
            self._of.setdefault(new, []).append(old)

    @classmethod
    def from_artifacts(cls, artifacts: Iterable[Any]) -> AliasMap:
        """Every record's `aliases`; an alias that is itself a live id is not one (the live record wins)."""
        artifacts = list(artifacts)
        live = {a.id for a in artifacts}
        mapping: dict[str, str] = {}
        for a in artifacts:
            for old in getattr(a, "aliases", ()):
                if old not in live and old not in mapping:
                    mapping[old] = a.id
        return cls(mapping)

    def __len__(self) -> int:
        return len(self.mapping)

    def __contains__(self, artifact_id: object) -> bool:
        return artifact_id in self.mapping

    def canonical(self, artifact_id: str) -> str:
        """The canonical id of an id (itself when it is no alias)."""
        return self.mapping.get(artifact_id, artifact_id)

    def aliases_of(self, artifact_id: str) -> list[str]:
        return self._of.get(artifact_id, [])

    def expand(self, artifact_ids: Iterable[str]) -> list[str]:
        """The ids and every alias of them (to read counts still kept under old ids)."""
        out: list[str] = []
        for a in artifact_ids:
            out.append(a)
            out += self._of.get(a, [])
        return out

    def fold(self, counts: Mapping[str, int], artifact_ids: Iterable[str]) -> dict[str, int]:
        """Per requested id, its count plus the counts under its aliases."""
        return {a: counts.get(a, 0) + sum(counts.get(o, 0) for o in self._of.get(a, [])) for a in artifact_ids}

    def capability(self, capability_id: str) -> str:
        """A capability id (`<artifact id>#<digest>`) under its artifact's canonical id."""
        artifact_id, sep, digest = capability_id.rpartition("#")
        return f"{self.canonical(artifact_id)}{sep}{digest}" if sep and artifact_id in self.mapping else capability_id

    def map_event(self, event: SearchEvent | FeedbackEvent) -> SearchEvent | FeedbackEvent:
        """The event with every artifact (and capability) id under its canonical id; a search that served
        an alias and its canonical record counts the artifact once (the better rank)."""
        if not self.mapping:
            return event
        if isinstance(event, FeedbackEvent):
            new = self.canonical(event.artifact_id)
            return event if new == event.artifact_id else replace(event, artifact_id=new)
        if not any(s.artifact_id in self.mapping for s in event.served):
            return event
        served: list[Served] = []
        seen: set[str] = set()
        for s in event.served:
            new = self.canonical(s.artifact_id)
            if new in seen:
                continue
            seen.add(new)
            served.append(replace(s, artifact_id=new,
                                  capabilities=tuple((self.capability(c), v) for c, v in s.capabilities)))
        return replace(event, served=tuple(served))
