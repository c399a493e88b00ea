"""Names first: exact, prefix and typo matching on artifact names and ids (Algolia's first criteria).

A user who types a name wants that artifact, whatever the embeddings think. Names and ids are compared
in a *compact* form (accents folded, case folded, every separator and punctuation mark dropped), so
"The Stack v2", "the-stack-v2" and "bigcode/the_stack_v2" are one key.

Two consumers:
- `Engine.search` asks `NameIndex.match(query)` for a name tier per artifact (exact > typo > word
  match) that ranks before textual relevance; relevance and learning only reorder within a tier.
- `GET /v1/suggest` asks `NameIndex.suggest(prefix)`: completions of names and of their words as the
  user types, typo tolerant, ordered by how exact the match is and then by adoption. No embedding, a
  binary search over sorted keys plus, when prefixes run short, one vectorised edit-distance pass
  (rapidfuzz, C++), so it answers in well under a millisecond on a catalog of thousands.
"""

from __future__ import annotations

import bisect
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

from graph.catalog import Artifact

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MIN_TYPO_CHARS = 4  # Algolia's default: 1 typo from 4 characters...
TWO_TYPOS_CHARS = 9  # ...2 typos from 8 (one more here: compact keys have no spaces to absorb a typo)
MAX_NAME_QUERY = 200  # longer queries are descriptions, not names: skip name matching

# tiers (higher ranks first)
EXACT = 3  # the whole name or id, or the id's last path segment
TYPO = 2  # within one typo (two for long names) of a name or id
WORDS = 1  # the query is a run of whole words of the name (prefix or suffix), 6+ compact characters


def fold(text: str) -> str:
    """Lower case without accents."""
    if text.isascii():  # NFKD leaves ASCII as it is, and it has no combining marks
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def compact(text: str) -> str:
    """The comparison key of a name: folded, letters and digits only."""
    return "".join(_WORD.findall(fold(text)))


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def adoption_signal(a: Artifact) -> float:
    """A cheap popularity number for ordering suggestions: log downloads + likes + stars (bad values = 0)."""
    total = 0.0
    for key in ("downloads", "likes", "stars", "monthly_downloads", "dependents"):
        value = a.signals.get(key) if isinstance(a.signals, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                v = float(value)
            except OverflowError:
                continue
            if math.isfinite(v) and v > 0:
                total += math.log1p(min(v, 1e15))
    return total


@dataclass(frozen=True)
class Suggestion:
    artifact_id: str
    name: str
    type: str
    match: str  # "exact", "prefix", "word" or "typo"
    rank_key: tuple


_MATCH_ORDER = {"exact": 0, "prefix": 1, "word": 2, "typo": 3}


class NameIndex:
    """Name and id keys of every artifact, for exact, prefix and typo lookups."""

    def __init__(self, artifacts: Iterable[Artifact]) -> None:
        self.names: dict[str, str] = {}
        self.types: dict[str, str] = {}
        self.adoption: dict[str, float] = {}
        self.exact: dict[str, dict[str, int]] = {}  # key -> artifact id -> strength (2 name/id, 1 last segment)
        self.alias_of: dict[str, str] = {}  # old id -> the artifact it now names
        starts: list[tuple[str, str, int]] = []  # (key from a word start, artifact id, 0 name start / 1 later word)
        self._words: dict[str, tuple[str, ...]] = {}  # words of the name and id, for multi-word suggestions
        for a in artifacts:
            self.names[a.id] = a.name
            self.types[a.id] = a.type
            self.adoption[a.id] = adoption_signal(a)
            last = a.id.rsplit("/", 1)[-1]
            for text, strength in ((a.name, 2), (a.id, 2), (last, 1)):
                key = compact(text)
                if key:
                    slot = self.exact.setdefault(key, {})
                    slot[a.id] = max(slot.get(a.id, 0), strength)
            self._words[a.id] = tuple(dict.fromkeys(words(a.name) + words(a.id)))
            for text in {a.name, a.id, last}:
                ws = words(text)
                for i in range(len(ws)):
                    starts.append(("".join(ws[i:]), a.id, 0 if i == 0 else 1))
            self._add_aliases(a, starts)
        starts.sort()
        self._start_keys = [s[0] for s in starts]
        self._starts = starts
        self._name_starts = [(k, a) for k, a, where in starts if where == 0]
        # suggestions tie-break on a static order (most adopted, shortest name, id): each artifact's rank
        # in it, and per word start `rank` (a name start) or `n + rank` (a later word), for _best_starts
        self._by_rank = sorted(self.names, key=lambda a: (-self.adoption[a], len(self.names[a]), a))
        self._static = {a: (-self.adoption[a], len(self.names[a]), a) for a in self._by_rank}
        self._n = max(1, len(self._by_rank))
        rank_of = {a: i for i, a in enumerate(self._by_rank)}
        self._start_order = np.fromiter((rank_of[a] + (self._n if where else 0) for _, a, where in starts),
                                        dtype=np.int64, count=len(starts))
        self._type_codes = {t: i for i, t in enumerate(sorted(set(self.types.values())))}
        self._type_of_rank = np.array([self._type_codes[self.types[a]] for a in self._by_rank], dtype=np.int32)
        # distinct full keys by length, for typo matching: a query is only compared with keys whose length
        # is within the typo budget of its own (a long question costs nothing)
        self._by_length: dict[int, tuple[list[str], list[dict[str, int]]]] = {}
        for k, owners in self.exact.items():
            keys, owner_list = self._by_length.setdefault(len(k), ([], []))
            keys.append(k)
            owner_list.append(owners)
        self._typo_lists: dict[int, tuple[list[str], list[list[str]], str]] = {}
        for length in range(MIN_TYPO_CHARS - 1, 17):  # what suggest needs for 4..15 typed characters
            self._truncated(length)

    def _add_aliases(self, a: Artifact, starts: list[tuple[str, str, int]]) -> None:
        """An old id of a merged record (graph/aliases.py) names the record: an exact key (weaker than its
        name) and a completion, never a second suggestion."""
        for alias in a.aliases:
            self.alias_of.setdefault(alias, a.id)
            for text in (alias, alias.rsplit("/", 1)[-1]):
                key = compact(text)
                if key:
                    slot = self.exact.setdefault(key, {})
                    slot[a.id] = max(slot.get(a.id, 0), 1)
                    starts.append((key, a.id, 1))

    def __len__(self) -> int:
        return len(self.names)

    # -- search ------------------------------------------------------------------------------------

    def match(self, query: str) -> dict[str, tuple[int, float, str]]:
        """Artifacts the query names: artifact id -> (tier, strength within the tier, how).

        Exact (name, id or last id segment) > within one typo (two from 9 characters) > a run of whole
        words at the start or end of the name (the query `whole-word-masking-finetuned-squad`)."""
        if len(query) > MAX_NAME_QUERY:
            return {}
        key = compact(query)
        if not key:
            return {}
        out: dict[str, tuple[int, float, str]] = {}
        for artifact_id, strength in self.exact.get(key, {}).items():
            out[artifact_id] = (EXACT, float(strength), "exact")
        if len(key) >= MIN_TYPO_CHARS:
            cutoff = 2 if len(key) >= TWO_TYPOS_CHARS else 1
            for length in range(len(key) - cutoff, len(key) + cutoff + 1):
                keys, owners = self._by_length.get(length, ((), ()))
                if not keys:
                    continue
                for _, dist, i in process.extract(key, keys, scorer=OSA.distance, score_cutoff=cutoff, limit=50):
                    if dist == 0:
                        continue
                    for artifact_id, strength in owners[i].items():
                        if artifact_id not in out or out[artifact_id][1] < strength - dist:
                            out[artifact_id] = (TYPO, strength - dist, "typo")
        if len(key) >= 6:
            qwords = words(query)
            # suffix runs: keys that start at a later word of a name and equal the query
            lo = bisect.bisect_left(self._start_keys, key)
            for j in range(lo, len(self._starts)):
                k, artifact_id, _ = self._starts[j]
                if k != key:
                    break
                out.setdefault(artifact_id, (WORDS, 0.0, "words"))
            # prefix runs: names that start with the query's words
            for _, artifact_id, where in self._prefixed(key, limit=200):
                if where == 0 and artifact_id not in out and self._word_prefix(artifact_id, qwords):
                    out[artifact_id] = (WORDS, -0.5, "words")
        return out

    def _word_prefix(self, artifact_id: str, qwords: list[str]) -> bool:
        for text in (self.names[artifact_id], artifact_id.rsplit("/", 1)[-1]):
            ws = words(text)
            if ws[:len(qwords)] == qwords:
                return True
        return False

    def _prefixed(self, key: str, limit: int) -> list[tuple[str, str, int]]:
        lo = bisect.bisect_left(self._start_keys, key)
        out = []
        for j in range(lo, min(len(self._starts), lo + limit)):
            if not self._start_keys[j].startswith(key):
                break
            out.append(self._starts[j])
        return out

    # -- suggest -----------------------------------------------------------------------------------

    def suggest(self, prefix: str, k: int = 8, types: Iterable[str] = ()) -> list[Suggestion]:
        """Name completions for what the user typed so far.

        Matches, best first: the whole name or id; the start of the name (or of the id's last segment);
        the start of a later word of the name, or several typed words each starting a word of the name
        ("roberta squad2"); within one typo of a name's start (from 4 characters, only when the first
        kinds leave room). Ties go to the more adopted artifact, then the shorter name."""
        key = compact(prefix)
        if not key:
            return []
        wanted = frozenset(types)
        best: dict[str, tuple] = {}

        def offer(artifact_id: str, how: str, distance: int = 0) -> None:
            if wanted and self.types[artifact_id] not in wanted:
                return
            rank = (_MATCH_ORDER[how], distance, *self._static[artifact_id])
            if artifact_id not in best or rank < best[artifact_id][1]:
                best[artifact_id] = (how, rank)

        for artifact_id in self.exact.get(key, {}):
            offer(artifact_id, "exact")
        lo = bisect.bisect_left(self._start_keys, key)
        hi = bisect.bisect_left(self._start_keys, key + "\U0010ffff")
        for artifact_id, how in self._best_starts(lo, hi, k + len(best), wanted):
            offer(artifact_id, how)
        typed = words(prefix)
        if len(typed) >= 2 and len(best) < k:
            # several words ("roberta squad2"): each one starts a word of the name or id, in any order
            lo = bisect.bisect_left(self._start_keys, typed[0])
            hi = bisect.bisect_left(self._start_keys, typed[0] + "\U0010ffff")
            for j in range(lo, min(hi, lo + 5000)):
                artifact_id = self._starts[j][1]
                if artifact_id not in best and all(any(w.startswith(t) for w in self._words[artifact_id])
                                                   for t in typed[1:]):
                    offer(artifact_id, "word")
        if len(best) < k and len(key) >= MIN_TYPO_CHARS:
            for artifact_id, distance in self._typo_prefix(key):
                if artifact_id not in best:
                    offer(artifact_id, "typo", distance)
        ranked = sorted(best.items(), key=lambda kv: kv[1][1])[:k]
        return [Suggestion(a, self.names[a], self.types[a], how, rank) for a, (how, rank) in ranked]

    def _best_starts(self, lo: int, hi: int, k: int, wanted: frozenset[str]) -> list[tuple[str, str]]:
        """The `k` best distinct artifacts among the word starts `lo:hi` (a name start before a later
        word, then the static order): vectorised, as a 2-letter prefix covers thousands of starts."""
        if hi - lo <= 32:
            return [(self._starts[j][1], "prefix" if self._starts[j][2] == 0 else "word") for j in range(lo, hi)]
        order = self._start_order[lo:hi]
        if wanted:
            order = order[np.isin(self._type_of_rank[order % self._n], [self._type_codes.get(t, -1)
                                                                        for t in wanted])]
        out: dict[str, str] = {}
        for value in np.unique(order).tolist():  # sorted: name starts first, each by static rank
            artifact_id = self._by_rank[value % self._n]
            if artifact_id not in out:
                out[artifact_id] = "prefix" if value < self._n else "word"
                if len(out) >= k:
                    break
        return list(out.items())

    def _typo_prefix(self, key: str) -> list[tuple[str, int]]:
        """Artifacts whose name (or id) starts within one typo of `key` (a wrong, dropped, extra or
        swapped letter): the key against name starts cut to len(key) - 1, len(key) and len(key) + 1.

        Each cut is a sorted list, so only the starts that share the key's first letter are scored
        (rapidfuzz); a typo in the first letter is found by exact lookups of the key's variants (that
        letter replaced by each first letter in use, dropped, added, or swapped with the second)."""
        n = len(key)
        found: set[int] = set()
        out: dict[str, int] = {}
        for length in (n, n + 1, n - 1):
            choices, owners, firsts = self._truncated(length)
            lo = bisect.bisect_left(choices, key[0])
            hi = bisect.bisect_left(choices, key[0] + "\U0010ffff")
            found.clear()
            if hi > lo:
                for _, _, i in process.extract_iter(key, choices[lo:hi], scorer=OSA.distance, score_cutoff=1):
                    found.add(lo + i)
            if length == n:  # the first letter replaced, or swapped with the second
                variants = [c + key[1:] for c in firsts if c != key[0]] + [key[1] + key[0] + key[2:]]
            elif length == n + 1:  # a letter missing before the key's first
                variants = [c + key for c in firsts]
            else:  # an extra first letter
                variants = [key[1:]]
            for v in variants:
                i = bisect.bisect_left(choices, v)
                if i < len(choices) and choices[i] == v:
                    found.add(i)
            for i in found:
                for artifact_id in owners[i]:
                    out[artifact_id] = 1
        return sorted(out.items())

    def _truncated(self, length: int) -> tuple[list[str], list[list[str]], str]:
        """Distinct name-start keys cut to `length` characters (sorted), with their artifacts and the
        first letters in use (cached per length; later words are left out of typo matching: they would
        multiply the keys for little gain)."""
        cached = self._typo_lists.get(length)
        if cached is None:
            owners: dict[str, list[str]] = {}
            for k, artifact_id in self._name_starts:  # sorted by key, so the cuts come out sorted
                if len(k) >= length:
                    owners.setdefault(k[:length], []).append(artifact_id)
            choices = list(owners)
            cached = (choices, list(owners.values()), "".join(sorted({c[0] for c in choices if c})))
            if len(self._typo_lists) > 64:
                self._typo_lists = {n: v for n, v in self._typo_lists.items() if n <= 16}
            self._typo_lists[length] = cached
        return cached  # type: ignore[return-value]

    def resolve(self, text: str) -> str | None:
        """The artifact a user means by an id or a name: the id itself, else the single best exact
        (compact) name or id match, else the only suggestion within one typo. None when unknown or
        ambiguous. Text longer than MAX_NAME_QUERY names nothing (no typo search over it: bounded work)."""
        if text in self.names:
            return text
        if len(text) > MAX_NAME_QUERY:
            return None
        lowered = text.strip().lower()
        if lowered in self.names:
            return lowered
        if lowered in self.alias_of:
            return self.alias_of[lowered]
        hits = self.exact.get(compact(text), {})
        if hits:
            top = max(hits.values())
            best = [a for a, s in hits.items() if s == top]
            if len(best) == 1:
                return best[0]
            return None
        typo = [s for s in self.suggest(text, k=2) if s.match == "typo" and s.rank_key[1] <= 1]
        if len(typo) == 1 and len(compact(text)) >= MIN_TYPO_CHARS:
            candidate = typo[0].artifact_id
            keys = {compact(self.names[candidate]), compact(candidate),
                    compact(candidate.rsplit("/", 1)[-1])}
            if any(OSA.distance(compact(text), k) <= 1 for k in keys):
                return candidate
        return None
