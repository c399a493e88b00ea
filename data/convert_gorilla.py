#!/usr/bin/env python3
"""Convert the Gorilla APIBench data (Apache-2.0) into matchgraph catalog files and development sets.

Usage: python data/convert_gorilla.py [--src ../shared/data/gorilla] [--out data] [--devsets bench/devsets]

Source: ShishirPatil/gorilla at commit 6ea57973c7a6097fd7c5915698c54c17c5b1b6c8 (data/api, data/apibench),
license Apache-2.0 (data/LICENSE.gorilla); every converted record names its source file and lines in
signals.source. See data/NOTICE.md.

Identity: one artifact per distinct model (see `model_key`); rows with the same key are merged. The output
is sorted by id and written with stable text, so re-running gives byte-identical files.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
for _path in (str(REPO_ROOT), str(REPO_ROOT / "data")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from convert_common import norm as _norm  # noqa: E402
from convert_common import shorten as _common_shorten  # noqa: E402
from convert_common import slug as _common_slug  # noqa: E402

from graph.catalog import Artifact, CatalogError  # noqa: E402

DEFAULT_SRC = REPO_ROOT.parent / "shared" / "data" / "gorilla"
DEFAULT_OUT = REPO_ROOT / "data"
DEFAULT_DEVSETS = REPO_ROOT / "bench" / "devsets"
DEFAULT_SEED = REPO_ROOT / "data" / "seed.jsonl"

ATTRIBUTION = "Gorilla APIBench (ShishirPatil/gorilla, Apache-2.0)"

# (provider, source file, output file)
SOURCES = (
    ("huggingface", "huggingface_api.jsonl", "huggingface.jsonl"),
    ("tfhub", "tensorflowhub_api.jsonl", "tensorflowhub.jsonl"),
    ("torchhub", "torchhub_api.jsonl", "torchhub.jsonl"),
)
# (source file, output file, instruction format)
DEVSETS = (
    ("huggingface_eval.json", "huggingface_eval.jsonl", "markdown"),
    ("torchhub_train.json", "torchhub_train.jsonl", "dict"),
)

MAX_CAPABILITIES = 8
KIND_QUOTA = {"task": 3, "benchmark": 3}
KIND_ORDER = {"task": 0, "benchmark": 1}
CARD_TEXT_MAX = 320
MAX_TAGS = 12
TITLE_MAX = 79
NEAR_DUPLICATE = 0.8


# --------------------------------------------------------------------------- identity

_QUOTED = re.compile(r"""['"]([^'"]+)['"]""")
_TFHUB_URL = re.compile(r"""https?://tfhub\.dev/[^\s'"(),\]]+""")
_HUB_REPO = re.compile(r"""['"]([A-Za-z0-9][\w.-]*/[\w.-]+)['"]""")


def _hf_name(row: dict[str, Any]) -> str:
    """The model name of a Hugging Face row: api_name, or the quoted id when api_name is a call."""
    name = str(row.get("api_name") or "").strip()
    if "(" in name:
        quoted = _QUOTED.search(name)
        if quoted:
            name = quoted.group(1).strip()
    if not name:
        quoted = _QUOTED.search(str(row.get("api_call") or ""))
        name = quoted.group(1).strip() if quoted else ""
    return name


def _tfhub_url(row: dict[str, Any]) -> str:
    """The tfhub.dev URL of a TF Hub row: from api_call, else from example_code."""
    for fld in ("api_call", "example_code"):
        text = row.get(fld)
        if not isinstance(text, str):
            text = json.dumps(text) if text else ""
        found = _TFHUB_URL.search(text)
        if found:
            url = found.group(0).split("?")[0].rstrip("/.")
            return "https://" + url.split("://", 1)[1]
    return ""


def _torchhub_parts(api_call: str) -> tuple[str, str]:
    """(repo, model) of a `torch.hub.load(...)` call; the repo loses its `:branch` suffix."""
    start = api_call.find("torch.hub.load(")
    args = api_call[start + len("torch.hub.load("):] if start >= 0 else api_call
    repo_kw = re.search(r"""\brepo_or_dir\s*=\s*['"]([^'"]+)['"]""", args)
    model_kw = re.search(r"""(?<![\w.])model\s*=\s*['"]([^'"]+)['"]""", args)
    positional = re.findall(r"""(?:^|,)\s*['"]([^'"]*)['"]""", args)
    repo = repo_kw.group(1) if repo_kw else (positional.pop(0) if positional else "")
    if repo_kw and positional and positional[0] == repo:
        positional.pop(0)
    model = model_kw.group(1) if model_kw else (positional[0] if positional else "")
    return repo.split(":", 1)[0].strip(), model.strip()


def provider_of(row: dict[str, Any]) -> str:
    """huggingface, tfhub or torchhub, from the api_call (and framework) of a row."""
    call = str(row.get("api_call") or "")
    if "torch.hub.load" in call:
        return "torchhub"
    if "tfhub.dev" in call or str(row.get("framework") or "").strip().lower() == "tensorflow hub":
        return "tfhub"
    return "huggingface"


def model_key(row: dict[str, Any]) -> tuple[str, str]:
    """The identity of the model a row describes: (provider, key); rows with equal keys are one artifact.

    Hugging Face: the api_name (29 rows share the api_call `joblib.load('model.joblib')`, so the call is
    no identity). TF Hub: the tfhub.dev URL in the api_call (api_name is often `model_id` or shared by
    many models). PyTorch Hub: repo_or_dir + model of the call (api_name is often `torch.hub.load`).
    Keys are lowercase so that case variants of one name are one model.
    """
    provider = provider_of(row)
    if provider == "tfhub":
        url = _tfhub_url(row)
        key = url.split("://", 1)[1] if url else str(row.get("api_name") or "")
    elif provider == "torchhub":
        repo, model = _torchhub_parts(str(row.get("api_call") or ""))
        key = f"{repo}/{model}" if model else repo
    else:
        key = _hf_name(row)
    return provider, key.strip().lower()


def _slug(text: str, allow_slash: bool) -> str:
    text = text.lower()
    if not allow_slash:
        text = text.replace("/", "-")
    segments = [seg for seg in (_common_slug(part, max_len=200) for part in text.split("/")) if seg]
    if len(segments) > 2:
        segments = [segments[0], "-".join(segments[1:])]
    return "/".join(segments)


def artifact_id(key: tuple[str, str]) -> str:
    """Stable slug id for a model key; TF Hub and PyTorch Hub ids carry a prefix so they never clash."""
    provider, name = key
    if provider == "tfhub":
        return "tfhub/" + _slug(name.removeprefix("tfhub.dev/"), allow_slash=False)
    if provider == "torchhub":
        return "torchhub/" + _slug(name, allow_slash=False)
    return _slug(name, allow_slash=True)


# --------------------------------------------------------------------------- text helpers

_STOP = frozenset(
    "a an the of for and or to in on with from into by using use load loading pre trained pretrained "
    "model models based run running data".split()
)
_NOT_A_TASK = frozenset(
    s.lower() for s in (
        "Transformers", "Hugging Face Transformers", "Diffusers", "Asteroid", "Sentence Transformers",
        "Joblib", "skops", "wav2vec2", "Inference API", "Inference", "baseline-trainer",
        "vision-encoder-decoder", "audio", "Loading", "Embedding", "Pre-trained model", "Fairseq", "ESPnet",
        "SpeechBrain", "Keras", "deep-reinforcement-learning", "Transformers library",
    )
)
_HF_AREAS = ("Natural Language Processing", "Computer Vision", "Reinforcement Learning", "Multimodal",
             "Audio", "Tabular")
_INPUTS = (
    ("text-to-image", "text prompts"), ("text-to-video", "text prompts"), ("image-to-text", "images"),
    ("document question", "document images and questions"), ("visual question", "images and questions"),
    ("table question", "tables and questions"), ("text-to-speech", "text"), ("speech", "audio"),
    ("video", "video"), ("image", "images"), ("vision", "images"), ("audio", "audio"),
    ("tabular", "tabular data"), ("graph", "graphs"), ("reinforcement", "environment observations"),
    ("text", "text"), ("natural language", "text"), ("translation", "text"), ("classification", ""),
)
_PLACEHOLDER = frozenset({
    "", "-", "?", "n/a", "na", "none", "null", "unknown", "various", "varies", "tbd", "to do", "not provided",
    "not specified", "not mentioned", "not available", "not applicable", "to be provided",
    "more information needed", "[more information needed]",
})
_NOT_A_RESULT = re.compile(
    r"\b(see|refer|table|tables|paper|gb|gpu|hours?|dimensions|resolution|subwords|trained on|images)\b", re.I
)
_SKIP_METRIC_KEYS = frozenset({"model", "name", "language", "model_structure", "resolution", "parameters",
                               "description", "speakers"})
_JUNK_TAGS = frozenset({"loading", "inference", "n/a"})
_FINETUNED = re.compile(r"fine[\s_-]?tuned", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def _stem(token: str) -> str:
    if len(token) > 5 and token.endswith("ing"):
        token = token[:-3]
    return token.rstrip("s") if len(token) > 3 else token


def _tokens(text: str) -> set[str]:
    return {_stem(t) for t in re.findall(r"[a-z0-9]+", text.lower())}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def _sentence_case(text: str) -> str:
    """`Question Answering` -> `Question answering`; words with other capitals (IBN-Net, RoBERTa) stay."""
    words = text.strip().split()
    out = []
    for i, word in enumerate(words):
        if i == 0:
            out.append(word[:1].upper() + word[1:])
        elif re.fullmatch(r"[A-Z][a-z]+(-[A-Z]?[a-z]+)*[,;:.]?", word):
            out.append(word.lower())
        else:
            out.append(word)
    return " ".join(out)


def _phrase(text: str) -> str:
    """A phrase to follow other words: `Named Entity Recognition` -> `named entity recognition`."""
    text = _sentence_case(text)
    first = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if re.fullmatch(r"[A-Z][a-z]+(-[a-z]+)*,?", first) else text


def _shorten(text: str, limit: int = TITLE_MAX) -> str:
    return _common_shorten(text, limit)


def _functionality(row: dict[str, Any]) -> str:
    func = row.get("functionality")
    if isinstance(func, str) and func.strip().startswith("["):
        try:
            func = ast.literal_eval(func.strip())
        except (ValueError, SyntaxError):
            pass
    if isinstance(func, list):
        func = ", ".join(str(f).strip() for f in func if str(f).strip())
    return " ".join(str(func or "").split())


_TRAINED_BASE = re.compile(
    r"\b(?:bert|roberta|distilbert|distilroberta|albert|electra|deberta|xlm-roberta|t5|bart|gpt-?2|xlnet|"
    r"longformer|mpnet|minilm)[\s-](?:base|large|small|tiny|mini|medium)\b[^.,]{0,30}?(?<![\w-])trained "
    r"(?:to do|on|for)\b", re.I)


def _is_finetune(name: str, description: str) -> bool:
    """The name or description says the model is a fine-tune ("can be fine-tuned" does not count), or the
    description says a named base checkpoint was trained on a task or dataset ("Roberta Base trained to do
    the SQuAD Task", "bart-large after being trained on MNLI"; "pre-trained on" does not count)."""
    if _FINETUNED.search(name) or _TRAINED_BASE.search(description):
        return True
    for found in _FINETUNED.finditer(description):
        before = re.split(r"[.!?;]", description[max(0, found.start() - 40):found.start()])[-1]
        if not re.search(r"\b(be|can|could|may|might|should)\b", before, re.I):
            return True
    return False


# --------------------------------------------------------------------------- frameworks

_FRAMEWORKS = (
    (r"sentence[-_ ]transformers", "sentence-transformers"),
    (r"(?<![\w-])transformers\b|huggingface[_ ]transformers|pytorch transformers", "transformers"),
    (r"\bdiffusers\b", "diffusers"),
    (r"\baccelerate\b", "accelerate"),
    (r"\bpytorch\b|(?<![\w.])torch\b", "pytorch"),
    (r"\btorchvision\b", "torchvision"),
    (r"\btorchaudio\b", "torchaudio"),
    (r"\bpytorchvideo\b", "pytorchvideo"),
    (r"\bpytorch[-_ ]lightning\b", "pytorch-lightning"),
    (r"\btimm\b", "timm"),
    (r"\btensorflow\b(?![-_ ]hub)|\btensorflow[-_ ]hub\b", "tensorflow"),
    (r"\btensorflow[-_ ]hub\b", "tensorflow-hub"),
    (r"\bkeras\b", "keras"),
    (r"\bjax\b", "jax"),
    (r"\bflax\b", "flax"),
    (r"\bonnx\b", "onnx"),
    (r"\bonnxruntime\b|optimum\.onnxruntime", "onnxruntime"),
    (r"\bfairseq\b", "fairseq"),
    (r"\bespnet", "espnet"),
    (r"\bspeechbrain\b", "speechbrain"),
    (r"\bpyannote[.-]audio\b", "pyannote.audio"),
    (r"\basteroid\b", "asteroid"),
    (r"\bflair\b", "flair"),
    (r"\bscikit[-_ ]learn\b|\bsklearn\b", "scikit-learn"),
    (r"\bjoblib\b", "joblib"),
    (r"\bskops\b", "skops"),
    (r"stable[-_ ]baselines3|\bsb3\b|\brl[_ ]zoo", "stable-baselines3"),
    (r"ml[-_ ]agents", "ml-agents"),
    (r"\bultralytics(plus)?\b|\byolov5\b", "ultralytics"),
    (r"\bctranslate2\b|faster_whisper", "ctranslate2"),
    (r"\bmodelscope\b", "modelscope"),
    (r"\bopen_clip", "open_clip"),
    (r"\bhuggingface_hub\b", "huggingface-hub"),
)


def _flat_text(value: Any) -> str:
    if isinstance(value, dict):
        return " ; ".join(f"{k} {_flat_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return " ; ".join(_flat_text(v) for v in value)
    return "" if value is None else str(value)


def frameworks_of(row: dict[str, Any]) -> list[str]:
    """Frameworks named by `framework` and `python_environment_requirements`, normalised."""
    text = f"{row.get('framework') or ''} ; {_flat_text(row.get('python_environment_requirements'))}"
    return [name for pattern, name in _FRAMEWORKS if re.search(pattern, text, re.I)]


# --------------------------------------------------------------------------- benchmark results

def _fmt_number(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.4g}"


def _result_value(value: Any) -> str:
    """A reported value as text, or '' when it is no result (placeholder, prose, a citation...)."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (int, float)):
        return _fmt_number(value)
    if not isinstance(value, str):
        return ""
    text = " ".join(value.split())
    if (not text or text.lower().strip(".") in _PLACEHOLDER or not re.search(r"\d", text) or len(text) > 80
            or _NOT_A_RESULT.search(text)):
        return ""
    return text


def _metrics(obj: Any, prefix: str = "", scalar_name: str = "accuracy") -> list[tuple[str, str]]:
    """Flatten a metrics structure into (metric, value) pairs."""
    if isinstance(obj, dict):
        out: list[tuple[str, str]] = []
        for key, val in obj.items():
            key = str(key).strip()
            if key.lower() in _SKIP_METRIC_KEYS:
                continue
            sub = prefix if key.lower() == "accuracy" else f"{prefix} {key}".strip()
            out += _metrics(val, sub, scalar_name=sub or "accuracy")
        return out
    if isinstance(obj, list):
        out = []
        for item in obj:
            if isinstance(item, dict):
                out += _metrics(item, prefix)
        return out
    value = _result_value(obj)
    if not value:
        return []
    if prefix:
        return [(prefix, value)]
    numeric = re.fullmatch(r"[~+\-<>=]*\s*\d[\d.,]*\s*%?", value)
    return [(scalar_name, value)] if numeric else [("", value)]


def _dataset_name(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    text = " ".join(value.split())
    return "" if text.lower() in _PLACEHOLDER else text


def benchmark_results(perf: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    """(dataset, [(metric, value)]) pairs reported by a row's `performance`; empty when there are none."""
    if isinstance(perf, list):
        return [res for item in perf for res in benchmark_results(item)]
    if not isinstance(perf, dict):
        return []
    out: list[tuple[str, list[tuple[str, str]]]] = []
    if "dataset" not in perf and "accuracy" not in perf:
        for key, val in perf.items():
            if key == "description":
                continue
            if isinstance(val, dict):
                metrics = _metrics(val)
                if metrics:
                    out.append((str(key), metrics))
        return out
    ds, acc = perf.get("dataset"), perf.get("accuracy")
    extras = {k: v for k, v in perf.items() if k not in ("dataset", "accuracy", "description")}
    if isinstance(ds, list) and ds and all(isinstance(d, str) for d in ds):
        if isinstance(acc, list) and len(acc) == len(ds):
            for name, val in zip(ds, acc, strict=True):
                metrics = _metrics(val)
                if metrics:
                    out.append((_dataset_name(name), metrics))
            return out
        ds = ", ".join(ds[:3]) + (f" and {len(ds) - 3} more" if len(ds) > 3 else "")
    if isinstance(ds, list):
        for item in ds:
            if isinstance(item, dict):
                metrics = _metrics(item.get("accuracy"))
                if metrics:
                    out.append((_dataset_name(item.get("name") or item.get("language")), metrics))
        return out
    if isinstance(ds, dict):
        if "name" in ds or "accuracy" in ds:
            metrics = _metrics(ds.get("accuracy"))
            return [(_dataset_name(ds.get("name")), metrics)] if metrics else []
        scalars: list[tuple[str, str]] = []
        for key, val in ds.items():
            if isinstance(val, dict):
                metrics = _metrics(val)
                if metrics:
                    out.append((str(key), metrics))
            else:
                scalars += _metrics({key: val})
        if scalars:
            out.append(("", scalars))
        return out
    metrics = _metrics(acc) + _metrics(extras)
    return [(_dataset_name(ds), metrics)] if metrics else []


_METRIC_NAMES = {"f1": "F1", "exact_match": "exact match", "exact": "exact match", "em": "exact match",
                 "acc": "accuracy", "top1": "top-1 accuracy", "top-1": "top-1 accuracy", "top5": "top-5 accuracy",
                 "top-5": "top-5 accuracy", "map": "mAP", "miou": "mIoU", "mean iou": "mean IoU", "bleu": "BLEU",
                 "wer": "WER", "cer": "CER", "mae": "MAE", "mse": "MSE", "rmse": "RMSE", "r2": "R2"}
# Metrics where higher is better and the published value is a fraction (0..1) or a percentage (0..100):
# these become structured benchmarks (`signals.benchmarks`, score 0..100). Error rates, losses, FID and
# the like stay text on the model (no 0..100 quality score can be read from them).
_SCORED_METRIC = re.compile(
    r"^(accuracy|acc|f1|exact|exact[_ ]match|em|precision|recall|top[-_ ]?[15]( accuracy)?|top_\d+|map|mean iou|miou"
    r"|iou|bleu|rouge[-_ ]?(1|2|l|lsum)|rouge [12l]|chr-f|auc|roc[-_ ]auc|global pixelwise accuracy|off-by-1"
    r"|matthews?_corr.*|pearson|spearman)$", re.I)
GORILLA_DATE = "2026-03-23"  # date of the Gorilla commit 6ea57973 (per ../shared/data/bfcl/SOURCE.md)
CLAIM_SOURCE = "Gorilla (model card claim)"
BENCHMARKS_MAX = 100


_NOT_A_DATASET = re.compile(r"^(validation|test|eval(uation)?|train(ing)?)( metrics?| set| split| data)?$", re.I)


def _metric_name(metric: str) -> str:
    low = metric.lower().strip()
    top = re.fullmatch(r"top[-_ ]?(\d+)", low)
    return f"top-{top.group(1)} accuracy" if top else _METRIC_NAMES.get(low, metric)


def _metric_text(metric: str, value: str) -> str:
    return f"{_metric_name(metric)} {value}".strip()


def _score(metric: str, value: str) -> tuple[float, float] | None:
    """(published number, score 0..100) of a result whose metric has a 0..100 reading; None otherwise."""
    if not _SCORED_METRIC.match(metric.strip()):
        return None
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*", value)
    if not found:
        return None
    number = float(found.group(1))
    if found.group(2) or number > 1:
        score = number
    else:
        score = number * 100
    if not 0 <= score <= 100:
        return None
    return number, round(score, 4)


def structured_benchmarks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`signals.benchmarks` items from the rows' `performance` fields: model-card claims, not measurements."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        for ds, metrics in benchmark_results(row.get("performance")):
            if not ds or len(ds) > 200 or _NOT_A_DATASET.match(ds.strip()):
                continue
            for metric, value in metrics:
                scored = _score(metric, value)
                key = (ds.lower(), metric.lower())
                if scored is None or key in seen:
                    continue
                seen.add(key)
                name = re.sub(r"[^a-z0-9@]+", "_", _metric_name(metric).lower()).strip("_")
                out.append({"name": ds, "score": scored[1], "metric": name[:60], "value": scored[0],
                            "source": CLAIM_SOURCE, "date": GORILLA_DATE, "measured": False})
    return out[:BENCHMARKS_MAX]


def _joined(values: list[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def benchmark_capabilities(row: dict[str, Any]) -> list[dict[str, str]]:
    """One capability per dataset a row's `performance` names: "Evaluated on SQuAD: F1 93.15 (model card)";
    a prose claim without numbers becomes "Reported performance"."""
    perf = row.get("performance")
    results = benchmark_results(perf)
    if not results:
        claim = perf.get("description") if isinstance(perf, dict) else None
        if isinstance(claim, str) and claim.strip():
            ds = _dataset_name(perf.get("dataset"))
            title = "Reported performance" + (f" on {ds}" if ds else "")
            return [{"title": _shorten(title), "description": "Model card claim: " + " ".join(claim.split())}]
        return []
    caps = []
    for ds, metrics in results[:KIND_QUOTA["benchmark"]]:
        values = [_metric_text(m, v) for m, v in metrics[:12]]
        if len(metrics) > 12:
            values.append(f"{len(metrics) - 12} more results")
        head = f"Evaluated on {ds}: " if ds and not _NOT_A_DATASET.match(ds) else "Reported results: "
        title = head + values[0] + " (model card)"
        if len(title) > TITLE_MAX:
            title = _shorten(head.rstrip(": "), TITLE_MAX - len(" (model card)")) + " (model card)"
        where = f" on {ds}" if ds and not _NOT_A_DATASET.match(ds) else (" on its validation data" if ds else "")
        caps.append({"title": title,
                     "description": f"The model card reports {_joined(values)}{where} (a claim by its authors, "
                                    f"as listed by Gorilla APIBench, not an independent measurement)."})
    return caps


# --------------------------------------------------------------------------- capabilities

def _task_parts(row: dict[str, Any]) -> tuple[str, str]:
    """(area, task) of a row's domain: `Natural Language Processing Question Answering` ->
    (`Natural Language Processing`, `Question Answering`); TF Hub and PyTorch domains have no area."""
    domain = " ".join(str(row.get("domain") or "").split())
    for area in _HF_AREAS:
        if domain.startswith(area):
            return area, domain[len(area):].strip()
    return "", domain


def _informative(func: str, task: str) -> bool:
    if not func or func.lower() in _NOT_A_TASK:
        return False
    own = _tokens(func) - _tokens(" ".join(_STOP))
    return bool(own) and not own <= _tokens(task)


def _inputs(text: str) -> str:
    low = text.lower()
    for needle, inputs in _INPUTS:
        if needle in low:
            return inputs
    return ""


def modality(row: dict[str, Any]) -> str:
    """What a row's model works on (text, images, audio...), from its domain and functionality."""
    area, _ = _task_parts(row)
    return _inputs(f"{row.get('domain') or ''} {_functionality(row)} {area}")


def consistent_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of a merged group that agree with its majority modality (Gorilla has a few rows whose
    api_call names a text model while the row describes audio classification, for example)."""
    if len(rows) < 3:
        return rows
    counts = Counter(m for m in map(modality, rows) if m)
    if not counts:
        return rows
    top = max(counts.values())
    majority = next(modality(r) for r in rows if counts.get(modality(r)) == top)
    return [r for r in rows if modality(r) in ("", majority)]


def _whole_sentences(text: str, limit: int) -> str:
    """As many whole sentences of `text` as fit in `limit` characters (never a sentence cut in two);
    the first sentence alone when even it is longer."""
    out = ""
    for sentence in _SENTENCE_END.split(" ".join(text.split())):
        if out and len(out) + 1 + len(sentence) > limit:
            break
        out = f"{out} {sentence}".strip()
    return out


def task_capability(row: dict[str, Any]) -> dict[str, str]:
    """What the model does: its task (domain and functionality), what it works on, the framework it is
    loaded with, then what its model card says (whole sentences). The task line alone would be the same
    on hundreds of models; the card's own sentences make it this model's."""
    area, task = _task_parts(row)
    func = _functionality(row)
    if not task:
        task, func = (area, func) if area else (func or "Model", "")
    informative = _informative(func, task)
    title = _sentence_case(task)
    if informative:
        title = _shorten(f"{title}: {_phrase(func)}")
    sentence = _sentence_case(task)
    if informative:
        sentence += f" ({_phrase(func)})"
    inputs = modality(row) or _inputs(str(row.get("description") or ""))
    if inputs:
        sentence += f" on {inputs}"
    framework = " ".join(str(row.get("framework") or "").split())
    if framework and framework.lower() not in ("n/a", "none", "unknown"):
        sentence += f", with {framework}"
    card = _whole_sentences(str(row.get("description") or ""), CARD_TEXT_MAX)
    return {"title": title, "description": sentence + "." + (f" Gorilla APIBench describes it: {card}" if card else "")}


def _cap_text(cap: dict[str, str]) -> str:
    return f"{cap.get('title', '')} {cap.get('description', '')}"


def select_capabilities(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Capabilities of a group of rows: deduplicated, at most 8, the most distinct ones (deterministic).

    The first row's capabilities come first; the rest are chosen greedily, each time the candidate least
    similar (token Jaccard) to those already kept, within a quota per kind; near-duplicates are dropped.
    """
    candidates: list[tuple[str, dict[str, str]]] = []
    from_first_row = 0
    seen: set[str] = set()
    for number, row in enumerate(rows):
        row_caps = [("task", task_capability(row))]
        row_caps += [("benchmark", c) for c in benchmark_capabilities(row)]
        for kind, cap in row_caps:
            key = _norm(_cap_text(cap))
            if key and key not in seen:
                seen.add(key)
                candidates.append((kind, cap))
                from_first_row += number == 0
    if len(candidates) <= MAX_CAPABILITIES:
        order = sorted(range(len(candidates)), key=lambda i: (KIND_ORDER[candidates[i][0]], i))
        return [candidates[i][1] for i in order]
    tokens = [_tokens(_cap_text(cap)) for _, cap in candidates]
    chosen = list(range(min(from_first_row, MAX_CAPABILITIES)))
    counts = Counter(candidates[i][0] for i in chosen)
    while len(chosen) < MAX_CAPABILITIES:
        best, best_sim = -1, 2.0
        for i, (kind, _) in enumerate(candidates):
            if i in chosen or counts[kind] >= KIND_QUOTA[kind]:
                continue
            sim = max(_jaccard(tokens[i], tokens[j]) for j in chosen)
            if sim < best_sim:
                best, best_sim = i, sim
        if best < 0 or best_sim >= NEAR_DUPLICATE:
            break
        chosen.append(best)
        counts[candidates[best][0]] += 1
    chosen.sort(key=lambda i: (KIND_ORDER[candidates[i][0]], i))
    return [candidates[i][1] for i in chosen]


# --------------------------------------------------------------------------- artifacts

@dataclass
class Group:
    key: tuple[str, str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)


def merge_ownerless(groups: dict[tuple[str, str], Group], log=print) -> dict[str, str]:
    """A Hugging Face name without its owner (`ddpm-cifar10-32`) is the one `owner/name` of the same name
    (`google/ddpm-cifar10-32`) when there is exactly one: its rows join that group and its id becomes an
    alias. Returns {old id: canonical id} (the dev sets map their golds with it)."""
    owners: dict[str, list[tuple[str, str]]] = {}
    for key in groups:
        if "/" in key[1]:
            owners.setdefault(key[1].split("/", 1)[1], []).append(key)
    moved: dict[str, str] = {}
    for key in list(groups):
        targets = owners.get(key[1], []) if "/" not in key[1] and not _HF_ROOT.match(key[1]) else []
        if len(targets) != 1:
            continue
        target = groups[targets[0]]
        target.rows += groups[key].rows
        target.lines += groups[key].lines
        target.aliases.append(artifact_id(key))
        moved[artifact_id(key)] = artifact_id(target.key)
        log(f"  {key[1]} (lines {groups[key].lines}) is {target.key[1]}: merged, its id kept as an alias")
        del groups[key]
    return moved


# Models the Hugging Face hub kept at its root before owners were required; their links still resolve.
_HF_ROOT = re.compile(r"(?:albert|bert|camembert|ctrl|distilbert|distilgpt2|distilroberta|gpt2|openai-gpt|roberta|"
                      r"t5|xlm|xlnet)(?:-|$)", re.I)


def _hf_url(row: dict[str, Any], name: str) -> str:
    """The model card: api_name, or the `org/name` hub id of the call when api_name lacks the org; '' for
    a name without an owner that is not one of the hub's root models (such a link does not resolve)."""
    repo = name
    if "/" not in name:
        for cand in _HUB_REPO.findall(str(row.get("api_call") or "")):
            if cand.split("/", 1)[1].lower() == name.lower():
                repo = cand
                break
    if "/" not in repo and not _HF_ROOT.match(repo):
        return ""
    return "https://huggingface.co/" + repo.replace(" ", "%20")


def _row_tags(row: dict[str, Any]) -> list[str]:
    values = [row.get("domain"), row.get("framework")]
    func = _functionality(row)
    parts = [p.strip() for p in func.split(",")] if "," in func else [func]
    values += parts if all(len(p) <= 60 for p in parts) else [func]
    tags = []
    for value in values:
        tag = " ".join(str(value or "").split()).lower()[:100]
        if tag and tag not in _JUNK_TAGS and tag not in tags:
            tags.append(tag)
    return tags


def _tags(rows: list[dict[str, Any]]) -> list[str]:
    """domain, framework and functionality of the first row; for merged groups, then the other rows'
    tags by frequency when they add words (TF Hub rows phrase one functionality in dozens of ways)."""
    tags = _row_tags(rows[0])
    covered = set().union(*(_tokens(t) for t in tags)) if tags else set()
    counts: Counter[str] = Counter(t for row in rows[1:] for t in _row_tags(row))
    stop = _tokens(" ".join(_STOP))
    for tag, _ in counts.most_common():
        if len(tags) >= MAX_TAGS:
            break
        words = _tokens(tag) - stop
        if tag in tags or words <= covered:
            continue
        tags.append(tag)
        covered |= words
    return tags


def _source(file_name: str, lines: list[int]) -> str:
    if len(lines) == 1:
        return f"{ATTRIBUTION}: {file_name} line {lines[0]}"
    shown = ", ".join(str(n) for n in lines[:10])
    more = f" and {len(lines) - 10} more" if len(lines) > 10 else ""
    return f"{ATTRIBUTION}: {file_name} lines {shown}{more}"


def build_record(group: Group, file_name: str) -> dict[str, Any]:
    provider, key = group.key
    rows = consistent_rows(group.rows)
    first = rows[0]
    description = str(first.get("description") or "")
    if provider == "tfhub":
        url = _tfhub_url(first)
        name = url.split("tfhub.dev/", 1)[1] if url else str(first.get("api_name") or key)
    elif provider == "torchhub":
        repo, model = _torchhub_parts(str(first.get("api_call") or ""))
        name = f"{repo}/{model}" if model else repo
        url = f"https://github.com/{repo}"
    else:
        name = _hf_name(first)
        url = _hf_url(first, name)
    frameworks: list[str] = []
    for row in rows:
        frameworks += [f for f in frameworks_of(row) if f not in frameworks]
    signals: dict[str, Any] = {}
    if frameworks:
        signals["frameworks"] = sorted(frameworks)
    benchmarks = structured_benchmarks(rows)
    if benchmarks:
        signals["benchmarks"] = benchmarks
    signals["source"] = _source(file_name, group.lines)
    return {
        "id": artifact_id(group.key),
        "name": name,
        "type": "fine-tune" if _is_finetune(name, description) else "model",
        "pricing": "open-weights",
        "description": description,
        **({"url": url} if url else {}),
        "tags": _tags(rows),
        "signals": signals,
        "capabilities": select_capabilities(rows),
        **({"aliases": sorted(group.aliases)} if group.aliases else {}),
    }


def read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                rows.append((number, json.loads(line)))
    return rows


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    path.write_text(text, encoding="utf-8", newline="\n")


def load_seed_ids(seed: Path) -> set[str]:
    if not seed.is_file():
        return set()
    return {rec["id"] for _, rec in read_jsonl(seed)}


def convert(src: Path, out: Path, seed_ids: set[str], log=print, moved: dict[str, str] | None = None) -> dict[str, str]:
    """Write one catalog file per source; returns {artifact id: output file name} of what was written
    (`moved` collects {old id: canonical id} of merged names)."""
    written: dict[str, str] = {}
    moved = {} if moved is None else moved
    for provider, src_name, out_name in SOURCES:
        rows = read_jsonl(src / src_name)
        groups: dict[tuple[str, str], Group] = {}
        for number, row in rows:
            key = model_key(row)
            if key[0] != provider:
                raise SystemExit(f"{src_name}:{number}: row looks like {key[0]}, expected {provider}")
            if not key[1]:
                raise SystemExit(f"{src_name}:{number}: no model identity found")
            group = groups.setdefault(key, Group(key))
            group.rows.append(row)
            group.lines.append(number)
        moved.update(merge_ownerless(groups, log))
        records = []
        for group in groups.values():
            record = build_record(group, src_name)
            if record["id"] in seed_ids:
                log(f"  {src_name}: {record['id']} (lines {group.lines}) is merged into the seed record "
                    "data/seed.jsonl; the converted row is dropped")
                continue
            try:
                Artifact.from_record(record, source=out_name)
            except CatalogError as err:
                raise SystemExit(f"invalid record built from {src_name} lines {group.lines}: {err}") from err
            if record["id"] in written:
                raise SystemExit(f"id clash: {record['id']} in {out_name} and {written[record['id']]}")
            written[record["id"]] = out_name
            records.append(record)
        records.sort(key=lambda r: r["id"])
        write_jsonl(out / out_name, records)
        merged = [g for g in groups.values() if len(g.rows) > 1]
        off_topic = sum(len(g.rows) - len(consistent_rows(g.rows)) for g in merged)
        log(f"{src_name}: {len(rows)} rows -> {len(records)} artifacts in {out_name} "
            f"({len(merged)} merged groups covering {sum(len(g.rows) for g in merged)} rows; "
            f"{off_topic} merged rows describe another modality than their group and are not used "
            "for its text)")
    return written


# --------------------------------------------------------------------------- development sets

def instruction_text(code: str, fmt: str) -> str:
    """The user instruction of a devset row, without the expected output."""
    if fmt == "markdown":
        text = re.sub(r"^\s*#+\s*Instruction\s*:\s*", "", code)
        text = re.split(r"\n?\s*#+\s*(?:Output|Input)\s*:", text, maxsplit=1)[0]
    else:
        found = re.match(r"\s*\{\s*'Instruction'\s*:\s*(.*?),\s*'Output'\s*:", code, re.S)
        text = found.group(1) if found else ""
        text = text.strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
            text = text[1:-1]
    return " ".join(text.split())


def build_devsets(src: Path, out: Path, catalog_ids: set[str], log=print,
                  aliases: dict[str, str] | None = None) -> None:
    """The dev sets; a gold id that is now an alias is written as its canonical id."""
    aliases = aliases or {}
    for src_name, out_name, fmt in DEVSETS:
        rows = read_jsonl(src / src_name)
        kept, unknown, empty = [], Counter(), 0
        for _, row in rows:
            api = row.get("api_data") if isinstance(row.get("api_data"), dict) else {}
            if not api.get("api_call") and not api.get("api_name"):
                api = {"api_call": row.get("api_call", ""), "framework": row.get("provider", "")}
            gold = artifact_id(model_key(api))
            gold = aliases.get(gold, gold)
            if gold not in catalog_ids:
                gold_call = artifact_id(model_key({"api_call": row.get("api_call", ""),
                                                   "api_name": api.get("api_name", ""),
                                                   "framework": api.get("framework", "")}))
                gold_call = aliases.get(gold_call, gold_call)
                gold = gold_call if gold_call in catalog_ids else gold
            query = instruction_text(str(row.get("code") or ""), fmt)
            if not query:
                empty += 1
                continue
            if gold not in catalog_ids:
                unknown[gold] += 1
                continue
            kept.append({"query": query, "gold": gold})
        write_jsonl(out / out_name, kept)
        log(f"{src_name}: {len(rows)} rows -> {len(kept)} queries in {out_name}; dropped "
            f"{sum(unknown.values())} with a gold not in the catalog, {empty} without an instruction")
        for gold, n in sorted(unknown.items()):
            log(f"  dropped gold {gold!r} x{n}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, default=DEFAULT_SRC,
                        help="folder with the Gorilla files (default: ../shared/data/gorilla from the repo "
                             "root)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="catalog output folder (default: data)")
    parser.add_argument("--devsets", type=Path, default=DEFAULT_DEVSETS,
                        help="development set output folder (default: bench/devsets)")
    parser.add_argument("--seed", type=Path, default=DEFAULT_SEED,
                        help="hand-written seed records that win over converted rows "
                             "(default: data/seed.jsonl)")
    args = parser.parse_args(argv)
    src = args.src.resolve()
    missing = [name for _, name, _ in SOURCES if not (src / name).is_file()]
    missing += [name for name, _, _ in DEVSETS if not (src / name).is_file()]
    if missing:
        print(f"error: Gorilla source folder {src} is missing or incomplete (missing: {', '.join(missing)}); "
              "pass --src to the folder holding the APIBench files", file=sys.stderr)
        return 2
    seed_ids = load_seed_ids(args.seed)
    moved: dict[str, str] = {}
    written = convert(src, args.out, seed_ids, moved=moved)
    build_devsets(src, args.devsets, set(written) | seed_ids, aliases=moved)
    print(f"total: {len(written)} converted artifacts + {len(seed_ids)} seed artifacts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
