"""How capability hits and BM25 scores become one artifact ranking."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from graph.catalog import Capability


def group_hits(hits: Iterable[tuple[str, float]], capabilities: Mapping[str, Capability]
               ) -> dict[str, list[tuple[str, float]]]:
    """Capability hits grouped by their artifact (from the capability table), best first (the match decision's
    probes; a search groups its hits by int id: `group_numbered`). A capability the table does not hold is
    skipped."""
    caps_get = capabilities.get
    return _grouped(((cid, cap.artifact_id) if (cap := caps_get(cid)) is not None else None, score)
                    for cid, score in hits)


def group_numbered(nums: Sequence[int], scores: Sequence[float], owners: Mapping[int, tuple[str, str]]
                   ) -> dict[str, list[tuple[str, float]]]:
    """`group_hits` over the index's int ids (`VectorIndex.search_numbered`), each named through `owners`
    (int id -> (capability id, artifact id): search/catalogview.py `hit_owners`): the same groups, in the same
    order, with one lookup per hit. An id `owners` does not hold (-1: fewer hits than asked) is skipped, as
    `group_hits` skips a capability the table does not hold."""
    return _grouped(zip(map(owners.get, nums), scores, strict=True))


def _grouped(owned: Iterable[tuple[tuple[str, str] | None, float]]) -> dict[str, list[tuple[str, float]]]:
    """(capability id, artifact id) or None, and score, per hit -> capability hits per artifact, best first.

    One pass in hit order: the index returns hits best first, so each artifact's list comes out sorted and
    is sorted again (stably, so ties keep hit order) only when the hits were not."""
    grouped: dict[str, list[tuple[str, float]]] = {}
    last, ordered = float("inf"), True
    for owner, score in owned:
        if owner is not None:
            group = grouped.get(owner[1])
            if group is None:
                grouped[owner[1]] = [(owner[0], score)]
            else:
                group.append((owner[0], score))
            if score > last:
                ordered = False
            last = score
    if not ordered:
        for caps in grouped.values():
            caps.sort(key=lambda c: -c[1])
    return grouped


def dense_score(sims: list[float], credit: float) -> float:
    """Best capability match, plus a little credit for each further matching capability.

    The credit uses only what the further capabilities add above half the best match, so an
    artifact with many weak capabilities does not outrank one strong match.
    """
    if not sims:
        return 0.0
    best = sims[0]
    extra = sum(max(0.0, s - best / 2) for s in sims[1:4])
    return best + credit * extra


def fuse(dense: Mapping[str, float], lexical: Mapping[str, float], lexical_weight: float) -> dict[str, float]:
    """Dense similarity plus BM25 normalised by the query's best BM25 score.

    BM25 is scaled per query so its contribution stays comparable across queries; an artifact
    the query names outright gets the full lexical weight.
    """
    top = max(lexical.values(), default=0.0)
    out = dict(dense)
    if top > 0:
        for artifact_id, score in lexical.items():
            out[artifact_id] = out.get(artifact_id, 0.0) + lexical_weight * score / top
    return out
