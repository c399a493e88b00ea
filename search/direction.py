"""Direction and modality: what goes in and what comes out, for artifacts and for queries.

"translate english to french" and "translate french to english" are one bag of words; so are "speech to
text" and "text to speech". Embeddings and BM25 barely tell them apart, so direction is derived as
structured facets instead:

- at ingest, per artifact, from its metadata (`derive`): task (translation, speech recognition, ...),
  input and output modalities (text, audio, image, video), source and target languages. Sources, most
  trusted first: explicit `signals.modalities` / `signals.languages`, language pairs in the id
  (`opus-mt-en-fr`, `textless_sm_ro_en`, `opus-mt-en-ROMANCE`), pipeline tags (`audio automatic speech
  recognition`, `text-to-speech`, `image-to-text`), and "from X to Y" phrases of the description;
- per query (`parse`): "X to Y", "from X into Y", "X-to-Y", "speech to text", "transcribe", language
  names and codes (codes only inside a pair, so "to" and "it" stay words);
- in ranking (`agreement`): +1 when an artifact matches every direction the query states (a many-to-many
  translation model matches any language pair), -1 when it contradicts one (reversed or other
  languages, other modalities), 0 when the artifact says nothing about it. The engine ranks matching
  before neutral before contradicting, after exact names and before textual relevance.
"""

from __future__ import annotations

import functools
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# ISO 639-1 codes (and a few common 3-letter / custom ones seen in model ids) with their English names.
LANGUAGES: dict[str, tuple[str, ...]] = {
    "af": ("afrikaans",), "ar": ("arabic",), "bg": ("bulgarian",), "bn": ("bengali", "bangla"),
    "ca": ("catalan",), "cs": ("czech",), "cy": ("welsh",), "da": ("danish",), "de": ("german",),
    "el": ("greek",), "en": ("english",), "eo": ("esperanto",), "es": ("spanish", "castilian"),
    "et": ("estonian",), "eu": ("basque",), "fa": ("persian", "farsi"), "fi": ("finnish",),
    "fr": ("french",), "ga": ("irish",), "gl": ("galician",), "gu": ("gujarati",), "he": ("hebrew",),
    "hi": ("hindi",), "hr": ("croatian",), "hu": ("hungarian",), "hy": ("armenian",), "id": ("indonesian",),
    "is": ("icelandic",), "it": ("italian",), "ja": ("japanese",), "ka": ("georgian",), "kk": ("kazakh",),
    "km": ("khmer",), "kn": ("kannada",), "ko": ("korean",), "la": ("latin",), "lt": ("lithuanian",),
    "lv": ("latvian",), "mk": ("macedonian",), "ml": ("malayalam",), "mr": ("marathi",), "ms": ("malay",),
    "mt": ("maltese",), "my": ("burmese",), "ne": ("nepali",), "nl": ("dutch", "flemish"),
    "no": ("norwegian",), "pa": ("punjabi",), "pl": ("polish",), "pt": ("portuguese",), "ro": ("romanian",),
    "ru": ("russian",), "sk": ("slovak",), "sl": ("slovenian", "slovene"), "sq": ("albanian",),
    "sr": ("serbian",), "sv": ("swedish",), "sw": ("swahili",), "ta": ("tamil",), "te": ("telugu",),
    "th": ("thai",), "tl": ("tagalog", "filipino"), "tr": ("turkish",), "uk": ("ukrainian",), "ur": ("urdu",),
    "uz": ("uzbek",), "vi": ("vietnamese",), "yo": ("yoruba",), "zh": ("chinese", "mandarin"),
    "zu": ("zulu",), "hk": ("hokkien",),
}
_THREE = {"eng": "en", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "spa": "es", "ita": "it",
          "por": "pt", "rus": "ru", "zho": "zh", "chi": "zh", "jpn": "ja", "kor": "ko", "ara": "ar",
          "nld": "nl", "swe": "sv", "fin": "fi", "ron": "ro", "tur": "tr", "hin": "hi", "pol": "pl"}
GROUPS: dict[str, frozenset[str]] = {
    "romance": frozenset({"fr", "es", "it", "pt", "ro", "ca", "gl", "la"}),
    "germanic": frozenset({"de", "nl", "sv", "da", "no", "is", "af", "en"}),
    "slavic": frozenset({"ru", "uk", "pl", "cs", "sk", "bg", "hr", "sr", "sl", "mk"}),
}
_NAME_TO_CODE = {name: code for code, names in LANGUAGES.items() for name in names}
_ANY = "*"  # any language (many-to-many, "all-en")

# modalities and the words that name them
MODALITIES: dict[str, tuple[str, ...]] = {
    "text": ("text", "texts", "written", "transcript", "transcripts", "transcription"),
    "audio": ("speech", "audio", "voice", "spoken", "sound", "sounds", "music", "waveform"),
    "image": ("image", "images", "picture", "pictures", "photo", "photos", "photograph", "drawing"),
    "video": ("video", "videos", "clip", "clips", "footage"),
}
_MODALITY_WORD = {w: m for m, ws in MODALITIES.items() for w in ws}
# pipeline categories (Hugging Face tasks) -> (task, inputs, outputs)
PIPELINES: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {
    "automatic speech recognition": ("speech-recognition", frozenset({"audio"}), frozenset({"text"})),
    "speech recognition": ("speech-recognition", frozenset({"audio"}), frozenset({"text"})),
    "speech-to-text": ("speech-recognition", frozenset({"audio"}), frozenset({"text"})),
    "speech to text": ("speech-recognition", frozenset({"audio"}), frozenset({"text"})),
    "text-to-speech": ("speech-synthesis", frozenset({"text"}), frozenset({"audio"})),
    "text to speech": ("speech-synthesis", frozenset({"text"}), frozenset({"audio"})),
    "audio-to-audio": ("audio-to-audio", frozenset({"audio"}), frozenset({"audio"})),
    "speech-to-speech": ("audio-to-audio", frozenset({"audio"}), frozenset({"audio"})),
    "audio classification": ("audio-classification", frozenset({"audio"}), frozenset()),
    "voice activity detection": ("audio-classification", frozenset({"audio"}), frozenset()),
    "image-to-text": ("image-to-text", frozenset({"image"}), frozenset({"text"})),
    "image captioning": ("image-to-text", frozenset({"image"}), frozenset({"text"})),
    "visual question answering": ("visual-question-answering", frozenset({"image", "text"}), frozenset({"text"})),
    "document question answer": ("document-question-answering", frozenset({"image", "text"}),
                                 frozenset({"text"})),
    "text-to-image": ("text-to-image", frozenset({"text"}), frozenset({"image"})),
    "text-to-video": ("text-to-video", frozenset({"text"}), frozenset({"video"})),
    "image-to-image": ("image-to-image", frozenset({"image"}), frozenset({"image"})),
    "unconditional image generation": ("image-generation", frozenset(), frozenset({"image"})),
    "video classification": ("video-classification", frozenset({"video"}), frozenset()),
    "image classification": ("image-classification", frozenset({"image"}), frozenset()),
    "object detection": ("object-detection", frozenset({"image"}), frozenset()),
    "image segmentation": ("image-segmentation", frozenset({"image"}), frozenset()),
    "depth estimation": ("depth-estimation", frozenset({"image"}), frozenset({"image"})),
    "translation": ("translation", frozenset({"text"}), frozenset({"text"})),
    "summarization": ("summarization", frozenset({"text"}), frozenset({"text"})),
}


@dataclass(frozen=True)
class Direction:
    """Structured facets of one artifact (derived) or one query (parsed)."""

    task: str = ""
    inputs: frozenset[str] = frozenset()
    outputs: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()  # language codes, "*" = any
    targets: frozenset[str] = frozenset()
    tasks: frozenset[str] = field(default_factory=frozenset)

    def __bool__(self) -> bool:
        return bool(self.task or self.inputs or self.outputs or self.sources or self.targets)

    def to_dict(self) -> dict:
        out: dict = {}
        if self.task:
            out["task"] = self.task
        for name in ("inputs", "outputs", "sources", "targets"):
            value = getattr(self, name)
            if value:
                out[name] = sorted(value)
        return out


def _code(token: str) -> frozenset[str] | None:
    t = token.lower()
    if t in GROUPS:
        return GROUPS[t]
    if t in ("all", "mul", "multi", "many"):
        return frozenset({_ANY})
    if t in LANGUAGES:
        return frozenset({t})
    if t in _THREE:
        return frozenset({_THREE[t]})
    if t in _NAME_TO_CODE:
        return frozenset({_NAME_TO_CODE[t]})
    return None


_ID_PAIR = re.compile(r"(?:^|[-_/.])([a-z]{2,8})[-_]([a-z]{2,8})(?:[-_.]?v?\d+)?$", re.I)
_LANG_NAMES = "|".join(sorted((re.escape(n) for n in _NAME_TO_CODE), key=len, reverse=True))
_PHRASE_PAIR = re.compile(rf"\b(?:from\s+)?({_LANG_NAMES})(?:\s+(?:text|speech|audio|language))?\s+(?:to|into|->|→)\s+"
                          rf"({_LANG_NAMES})\b", re.I)
_BETWEEN = re.compile(rf"\bbetween\s+({_LANG_NAMES})(?:\s*\([a-z]{{2}}\))?\s+and\s+({_LANG_NAMES})\b", re.I)
_DASH_PAIR = re.compile(rf"\b({_LANG_NAMES})\s*[-–—/]\s*({_LANG_NAMES})\b", re.I)  # "English-French translation"
_MANY = re.compile(r"many[- ]to[- ]many|between any pair|any pair of|multilingual (?:machine )?translation|"
                   r"\b(?:m2m|nllb|madlad|seamless)", re.I)
_TRANSLATE = re.compile(r"\btranslat", re.I)


def derive(artifact) -> Direction:
    """Direction facets of an artifact from its metadata (see the module docstring)."""
    # pipeline categories appear in tags and in capability titles ("Automatic Speech Recognition: ...")
    tags = " | ".join([t.lower() for t in artifact.tags] + [c.title.split(":")[0].lower()
                                                            for c in artifact.capabilities[:4] if c.title])
    text = f"{artifact.description} " + " ".join(c.text for c in artifact.capabilities[:3])
    tasks: set[str] = set()
    inputs: set[str] = set()
    outputs: set[str] = set()
    for phrase, (task, ins, outs) in PIPELINES.items():
        if phrase in tags:
            tasks.add(task)
            inputs |= ins
            outputs |= outs
    signals = artifact.signals if isinstance(artifact.signals, dict) else {}
    mods = signals.get("modalities")
    if isinstance(mods, dict):
        ins = {_MODALITY_WORD.get(str(m).lower(), str(m).lower()) for m in mods.get("input", []) or []}
        outs = {_MODALITY_WORD.get(str(m).lower(), str(m).lower()) for m in mods.get("output", []) or []}
        if ins or outs:
            inputs, outputs = ins & set(MODALITIES) or inputs, outs & set(MODALITIES) or outputs
    translation = "translation" in tasks or bool(_TRANSLATE.search(tags)) or bool(
        _TRANSLATE.search(artifact.id + " " + artifact.name))
    sources: frozenset[str] = frozenset()
    targets: frozenset[str] = frozenset()
    if translation or _TRANSLATE.search(text[:400]):
        m = _ID_PAIR.search(artifact.id.rsplit("/", 1)[-1])
        pair = (_code(m.group(1)), _code(m.group(2))) if m else (None, None)
        if pair[0] and pair[1] and pair[0] != pair[1]:
            sources, targets = pair
            translation = True
        elif _MANY.search(f"{artifact.id} {tags} {text[:600]}"):
            sources = targets = frozenset({_ANY})
            translation = True
        elif translation:
            p = _PHRASE_PAIR.search(text[:600]) or _BETWEEN.search(text[:600])
            if p and _code(p.group(1)) != _code(p.group(2)):
                sources, targets = _code(p.group(1)) or frozenset(), _code(p.group(2)) or frozenset()
            else:  # "supports English-French and English-German translation": every such pair
                pairs = [(_code(a), _code(b)) for a, b in _DASH_PAIR.findall(text[:800])]
                pairs = [(a, b) for a, b in pairs if a and b and a != b]
                if pairs:
                    sources = frozenset().union(*(a for a, _ in pairs))
                    targets = frozenset().union(*(b for _, b in pairs))
    if translation and (sources or targets or "translation" in tasks):
        tasks.add("translation")
        if "audio-to-audio" in tasks or "speech-to-speech" in tags:
            inputs, outputs = {"audio"}, {"audio"}
        elif not inputs:
            inputs, outputs = {"text"}, {"text"}
    task = "translation" if "translation" in tasks else (sorted(tasks)[0] if tasks else "")
    return Direction(task, frozenset(inputs), frozenset(outputs), sources, targets, frozenset(tasks))


_QUERY_PAIR = re.compile(r"\b(?:from\s+)?([a-z]+)\s*(?:\s(?:to|into|2)\s|->|→|-to-)\s*([a-z]+)\b", re.I)
_QUERY_CODE_PAIR = re.compile(r"\b([a-z]{2,3})\s*(?:-|_|→|->|>)\s*([a-z]{2,3})\b", re.I)
_TRANSCRIBE = re.compile(r"\b(transcrib\w*|speech recognition|asr|dictation|speech-to-text|stt)\b", re.I)
_SYNTH = re.compile(r"\b(text-to-speech|tts|speech synthesis|read aloud|voice over|voiceover)\b", re.I)
_CAPTION = re.compile(r"\b(caption\w*)\b", re.I)


@functools.lru_cache(maxsize=1024)
def parse(query: str) -> Direction:
    """Direction facets a query states: language pair, input and output modality, translation task (cached:
    a pure function of the text, and popular searches repeat)."""
    q = query[:1000]
    sources: frozenset[str] = frozenset()
    targets: frozenset[str] = frozenset()
    inputs: set[str] = set()
    outputs: set[str] = set()
    task = ""
    for m in _QUERY_PAIR.finditer(q):
        a, b = m.group(1).lower(), m.group(2).lower()
        la, lb = _NAME_TO_CODE.get(a), _NAME_TO_CODE.get(b)
        if la and lb and la != lb and not sources:
            sources, targets = frozenset({la}), frozenset({lb})
            continue
        ma, mb = _MODALITY_WORD.get(a), _MODALITY_WORD.get(b)
        if ma and mb and ma != mb and not inputs:
            inputs, outputs = {ma}, {mb}
    if not sources:
        m = _QUERY_CODE_PAIR.search(q)
        if m and m.group(1).lower() in LANGUAGES and m.group(2).lower() in LANGUAGES \
                and m.group(1).lower() != m.group(2).lower() and _TRANSLATE.search(q):
            sources, targets = frozenset({m.group(1).lower()}), frozenset({m.group(2).lower()})
    if sources or _TRANSLATE.search(q):
        task = "translation"
    if not inputs:
        if _TRANSCRIBE.search(q):
            inputs, outputs = {"audio"}, {"text"}
        elif _SYNTH.search(q):
            inputs, outputs = {"text"}, {"audio"}
        elif _CAPTION.search(q) and re.search(r"\b(image|photo|picture)s?\b", q, re.I):
            inputs, outputs = {"image"}, {"text"}
    return Direction(task, frozenset(inputs), frozenset(outputs), sources, targets,
                     frozenset({task}) if task else frozenset())


def _langs_match(wanted: frozenset[str], offered: frozenset[str]) -> bool:
    return _ANY in offered or bool(wanted & offered)


def agreement(query: Direction, artifact: Direction) -> tuple[float, list[str]]:
    """1 when the artifact matches every direction the query states, -1 when it contradicts one, 0 when
    it says nothing about them; and the facets that matched (for the response's `why`).

    A translation query that names no modality means text: a speech-to-speech model of the right
    languages matches at 0.5, below text translators and above everything else."""
    if not query or not artifact:
        return 0, []
    matched: list[str] = []
    score = 1.0
    if query.sources and query.targets:
        if not (artifact.sources and artifact.targets):
            return 0, []  # says nothing about languages: neutral
        if not (_langs_match(query.sources, artifact.sources) and _langs_match(query.targets, artifact.targets)):
            return -1, []
        if _ANY in artifact.sources or _ANY in artifact.targets:
            matched.append("languages: many-to-many")
        else:
            matched.append(f"languages: {'/'.join(sorted(query.sources))} → {'/'.join(sorted(query.targets))}")
        if not (query.inputs or query.outputs) and artifact.inputs and "text" not in artifact.inputs:
            score = 0.5
    if query.inputs or query.outputs:
        if not (artifact.inputs or artifact.outputs):
            return (score, matched) if matched else (0, [])
        sides = ((query.inputs, artifact.inputs), (query.outputs, artifact.outputs))
        if any(want and have and not want & have for want, have in sides):
            return -1, []
        if any(want and not have for want, have in sides):
            return (score, matched) if matched else (0, [])
        matched.append(f"modality: {'/'.join(sorted(query.inputs)) or 'any'} → "
                       f"{'/'.join(sorted(query.outputs)) or 'any'}")
    return (score, matched) if matched else (0, [])


# per catalog view: a query direction -> (agreement per artifact, the member lists of the agreeing directions)
_AGREEING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
AGREEING_PER_VIEW = 256  # distinct query directions kept per view (queries state few: a pair, a modality)


def agreeing(view, asked: Direction) -> tuple[Mapping[str, tuple[float, list[str]]], tuple[list[str], ...]]:
    """`agreement` of `asked` with every artifact of a catalog view that has a direction (`view.by_direction`:
    artifacts by distinct direction), read only, and the artifact lists of the directions that match it
    (> 0, in the view's order; empty when none does). Computed once per (view, direction): the catalog does
    not change under a view, and a translation query otherwise rebuilt a map over every translator per
    request."""
    per_view = _AGREEING.get(view)
    if per_view is None:
        per_view = _AGREEING.setdefault(view, {})
    found = per_view.get(asked)
    if found is None:
        agree: dict[str, tuple[float, list[str]]] = {}
        matching: list[list[str]] = []
        for d, members in view.by_direction.items():
            verdict = agreement(asked, d)
            if verdict[0]:
                agree.update(dict.fromkeys(members, verdict))
                if verdict[0] > 0 and members:
                    matching.append(members)
        found = (MappingProxyType(agree), tuple(matching))
        if len(per_view) >= AGREEING_PER_VIEW:
            per_view.clear()
        per_view[asked] = found
    return found
