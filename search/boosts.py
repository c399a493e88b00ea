"""One score, in order: what the name and direction rules add to a result's text match, each a named part.

Why: name tiers and direction agreement used to be sort keys ranked before relevance, so the `score` shown
could rise down the list and a rule beat a clearly better match (three speech-to-text models, "modality:
audio -> text", above the one artifact that transcribes whale songs for "transcribe humpback whale songs").
Now the score is one sum, the list is sorted by it, and each rule is a bounded part of it, listed in `why`
with its size:

- a name the query types: exact +1.0 (the query is the artifact's name: it is the match, whatever the
  meaning of its words), one typo away +0.5, a run of whole words of the name +0.15; plus 0.05 x the tier's
  strength (the whole name or id over a last id segment, fewer typos);
- direction agreement (languages, modality; search/direction.py): +`direction_boost` when the artifact
  matches every direction the query states (half for a speech-to-speech translator asked for text). So it
  lifts an artifact only over candidates whose text match is within that size, never over a match that is
  better by more. An artifact that contradicts the query (reversed languages, another modality) is a wrong
  answer, not a weaker one: it loses twice that.
"""

from __future__ import annotations

from search.names import EXACT, TYPO, WORDS

NAME_BOOST = {EXACT: 1.0, TYPO: 0.5, WORDS: 0.15}
STRENGTH = 0.05
CONTRADICTION = 2.0  # a contradiction (reversed languages, another modality) costs twice what agreement adds


def parts(tier: tuple[int, float, str] | None, agreement: tuple[float, list[str]] | None,
          direction_boost: float) -> list[tuple[str, float]]:
    """The (name, size) parts a result's rules add to its score."""
    out: list[tuple[str, float]] = []
    if tier:
        out.append((f"name: {tier[2]}", NAME_BOOST.get(tier[0], 0.0) + STRENGTH * tier[1]))
    if agreement and agreement[0] and direction_boost:
        verdict, facets = agreement
        label = "; ".join(facets) if verdict > 0 and facets else "direction: contradicts the query"
        out.append((label, direction_boost * (verdict if verdict > 0 else -CONTRADICTION)))
    return out


def why(text_match: float, parts_: list[tuple[str, float]], learned: float) -> list[str]:
    """The `why` of a result: its text match, then each part with its size; together they add up to the score."""
    out = [f"text match {text_match:.3f}"] + [f"{name} {size:+.3f}" for name, size in parts_]
    if learned:
        out.append(f"learned {learned:+.3f}")
    return out
