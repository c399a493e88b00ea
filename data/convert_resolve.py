"""Entity resolution for models: which provider offers are one model, its canonical id, its old ids.

Why: models.dev and genai-prices name one model in many spellings: region and gateway prefixes
(`us.anthropic.claude-opus-4-7`, `global.anthropic.claude-opus-4-7-v1:0`), maker prefixes
(`openai-gpt-4.1`, `azure-gpt-4o`), dated snapshots (`claude-sonnet-4-5-20250929`, `grok-4-0709`),
`-latest` aliases, quantisation suffixes (`-fp8`), `5p1` for `5.1`, and word orders (`claude-3-5-sonnet`
and `claude-sonnet-3.5`). A user looks for the model, then picks where to run it, so all of them are ONE
artifact whose offers list every provider once. The rules (`identity`) are spelled out in docs/catalog.md;
an id that an earlier catalog used for one of the merged spellings stays an alias of the canonical record.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

# Region / deployment prefixes of cloud model ids (Bedrock, Vertex): `us.`, `global.`, `eu.` ...
REGION = re.compile(r"^(?:us|eu|global|regional|apac|ap|jp|au|ca|uk|in|sa|us-gov|il)\.")
# A maker name written before the model with a dot (Bedrock: `anthropic.claude-...`, `meta.llama3-...`).
VENDOR_DOT = re.compile(r"^([a-z][a-z-]*)\.(?=[a-z])")
# Families a model name starts with, for `azure-gpt-4o` / `alicloud-glm-5.1` (a leading word is dropped
# only when what follows starts with one of them).
FAMILIES = ("claude", "gpt", "gemini", "gemma", "llama", "mistral", "qwen", "qwq", "glm", "kimi", "deepseek",
            "grok", "minimax", "ministral", "codestral", "devstral", "magistral", "pixtral", "command", "nova",
            "o1", "o3", "o4", "phi", "jamba", "sonar")
SUFFIXES = (
    re.compile(r"[:@-](?:19|20)\d{6}$"),             # -20250929, @20240620
    re.compile(r"-(?:19|20)\d{2}-\d{2}-\d{2}$"),     # -2024-08-06
    re.compile(r"-\d{2}-(?:19|20)\d{2}$"),           # -03-2025
    re.compile(r"-[0-3]\d[01]\d[0-3]\d$"),           # -250615 (yymmdd)
    re.compile(r"-(?:0[1-9]|1[0-2])[0-3]\d$"),       # -0709 (mmdd)
    re.compile(r"-(?:0[1-9]|1[0-2])-[0-3]\d$"),      # -06-05 (mm-dd)
    re.compile(r"-(?:0[1-9]|1[0-2])[0-3]\d(?=-preview$)"),  # -0711-preview
    re.compile(r"-00\d$"),                           # -001 (Vertex versions)
    re.compile(r"(?<=-v\d):\d+$"),                   # -v2:0 -> -v2
    re.compile(r"-2[0-9](?:0[1-9]|1[0-2])$"),        # -2603 (yymm)
    re.compile(r"[:-](?:latest|free|maas)$"),
    re.compile(r"-(?:fp8|fp4|nvfp4|int4|int8|awq|gptq|bf16|fp16|w8a8|w4a16)$"),
)
# Org folders that are not makers (gateway accounts, Cloudflare's `@cf`, Fireworks' `accounts/.../models`).
NOT_MAKERS = {"accounts", "models", "model", "@cf", "@hf", "cf", "hf", "workers-ai", "fireworks", "api", "v1",
              "openrouter", "together", "togetherai", "azure", "bedrock", "vertex", "deployments", "providers",
              "tee"}
# Spellings of one maker -> the one used in ids.
MAKER_SYNONYMS = {
    "meta": "meta-llama", "mistral": "mistralai", "deepseek": "deepseek-ai", "x-ai": "xai", "zhipuai": "zai",
    "z-ai": "zai", "zai-org": "zai", "thudm": "zai", "moonshot": "moonshotai", "alibaba": "qwen",
    "minimaxai": "minimax", "google-deepmind": "google", "ai21labs": "ai21", "cohereforai": "cohere",
    "coherelabs": "cohere", "microsoft-research": "microsoft", "amazon-nova": "amazon", "anthropic-ai": "anthropic",
    "voyage": "voyageai",
}
# Provider folders (models.dev) / provider ids (genai-prices) that are the maker itself selling its model.
MAKER_PROVIDERS = {
    "anthropic": {"anthropic"}, "openai": {"openai"}, "google": {"google"}, "mistralai": {"mistral"},
    "deepseek-ai": {"deepseek"}, "xai": {"xai", "x-ai"}, "zai": {"zai", "zhipuai"}, "moonshotai": {"moonshotai"},
    "cohere": {"cohere"}, "minimax": {"minimax"}, "perplexity": {"perplexity"}, "amazon": {"amazon-bedrock"},
    "qwen": {"alibaba"}, "ai21": {"ai21"}, "xiaomi": {"xiaomi"}, "meta-llama": {"llama"}, "stepfun": {"stepfun"},
    "upstage": {"upstage"}, "inception": {"inception"}, "sarvam": {"sarvam"}, "baidu": {"baidu"},
}


def clean_path(path: str) -> str:
    """The readable model name of a provider's model path: last segment, lowercase, without region or
    maker prefixes and without date, version, `-latest`, `:free` and quantisation suffixes."""
    name = path.strip().split("/")[-1].lower()
    for _ in range(3):
        before = name
        name = REGION.sub("", name)
        found = VENDOR_DOT.match(name)
        if found and not any(ch.isdigit() for ch in found.group(1)):
            name = name[found.end():]
            if re.match(r"[a-z]\d", name):  # `deepseek.r1` is DeepSeek R1, not `r1`
                name = f"{found.group(1)}-{name}"
        if before == name:
            break
    name = _drop_leading_words(name)
    for _ in range(4):
        before = name
        rest = re.sub(r"-v\d+(?::\d+)?$", "", name)
        if rest != name and re.search(r"\d", rest):  # -v1:0 / -v1 only where the name has its own version
            name = rest
        for pattern in SUFFIXES:
            name = pattern.sub("", name)
        if before == name:
            break
    name = re.sub(r"(?<=\d)p(?=\d)", ".", name)  # 5p1 -> 5.1
    return name.strip("-_.:") or path.strip().split("/")[-1].lower()


def _drop_leading_words(name: str) -> str:
    """`azure-gpt-4o` -> `gpt-4o`, `anthropic-claude-4.5-sonnet` -> `claude-4.5-sonnet` (one or two
    leading words, letters only, when what follows starts with a known family)."""
    parts = name.split("-")
    for cut in (1, 2):
        if len(parts) <= cut or not all(p.isalpha() for p in parts[:cut]):
            return name
        if any(p.startswith(FAMILIES) for p in parts[:cut]):
            return name
        rest = "-".join(parts[cut:])
        if re.match(r"(?:o[134](?:-|$))|(?:" + "|".join(f for f in FAMILIES if not f.startswith("o")) + ")", rest):
            return rest
    return name


def identity(path: str) -> str:
    """The cross-provider identity of a model path: the version numbers in order and the other words
    sorted, so `claude-3-5-sonnet` and `claude-sonnet-3.5` are one model (`qwen3` counts as `qwen 3`)."""
    tokens = re.findall(r"[a-z0-9]+", clean_path(path))
    words, numbers = [], []
    for token in tokens:
        family = re.fullmatch(r"([a-z]{3,})(\d+)", token)
        if family:
            words.append(family.group(1))
            numbers.append(family.group(2))
        elif token.isdigit():
            numbers.append(token)
        elif token not in ("it",):  # `gemma-3-12b-it`: every hosted Gemma is the instruction-tuned one
            words.append(token)
    while len(numbers) > 1 and set(numbers[-1]) == {"0"}:  # `claude-opus-4-0` is `claude-opus-4`
        numbers.pop()
    return ".".join(numbers) + "|" + "-".join(sorted(words))


# Words two spellings of one model may differ by when their names agree (`kimi-k2.5` / `k2p5`,
# `mistral-nemo` / `mistral-nemo-instruct`).
IGNORABLE = {"instruct", "chat", "v1", "versatile", "instant", *FAMILIES, *MAKER_PROVIDERS, *MAKER_SYNONYMS,
             "moonshot", "meta", "mistral"}


def compatible(a: str, b: str) -> bool:
    """Whether two identities may be one model when their names agree: same version numbers, and words
    that differ only by a maker or family name or `instruct` / `chat`."""
    (na, wa), (nb, wb) = a.split("|", 1), b.split("|", 1)
    if na != nb:
        return False
    return set(wa.split("-")) ^ set(wb.split("-")) <= IGNORABLE


def name_key(name: str) -> str:
    """The audit's normalised name (see data/audit.py)."""
    name = REGION.sub("", name.strip().lower())
    name = re.sub(r"[-_:.]v\d+[-_:.]\d+$", "", name)
    return re.sub(r"[^a-z0-9]+", "", name)


class _Union:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_offers(offers: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Offers (models.dev and genai-prices, each with `path` and `name`) grouped into models: same
    `identity`, or the same majority name (when that name is specific: it has a digit or 8+ letters)."""
    union = _Union()
    by_identity: dict[str, list[dict[str, Any]]] = {}
    for offer in offers:
        offer["identity"] = identity(offer["path"])
        by_identity.setdefault(offer["identity"], []).append(offer)
        union.find(offer["identity"])
    by_name: dict[str, list[str]] = {}
    for ident, members in sorted(by_identity.items()):
        readable = [o["name"] for o in members if o.get("name") and not _looks_like_an_id(o["name"])]
        top = name_key(majority(readable) or majority([o.get("name", "") for o in members]))
        if not top or not (re.search(r"\d", top) or len(top) >= 8):
            continue
        for other in by_name.get(top, []):
            if compatible(other, ident):
                union.join(other, ident)
        by_name.setdefault(top, []).append(ident)
    groups: dict[str, list[dict[str, Any]]] = {}
    for ident, members in sorted(by_identity.items()):
        groups.setdefault(union.find(ident), []).extend(members)
    return [groups[k] for k in sorted(groups)]


def org_of(path: str) -> str:
    """The maker an offer's path names: the folder before the model (`openai/gpt-4o`) or a Bedrock-style
    dotted prefix (`anthropic.claude-...`), in its canonical spelling; '' when it names none."""
    parts = [p.lower() for p in path.strip().split("/") if p]
    org = ""
    if len(parts) >= 2 and parts[-2] not in NOT_MAKERS:
        org = parts[-2]
    else:
        last = REGION.sub("", parts[-1] if parts else "")
        found = VENDOR_DOT.match(last)
        if found and not any(ch.isdigit() for ch in found.group(1)):
            org = found.group(1)
    org = re.sub(r"[^a-z0-9-]+", "-", org).strip("-")
    return MAKER_SYNONYMS.get(org, org)


def is_maker_offer(provider: str, maker: str) -> bool:
    """Whether a provider (models.dev folder or `genai-prices:<id>`) is the model's maker selling it."""
    from convert_prices import provider_id

    pid = provider_id(provider)
    return pid in MAKER_PROVIDERS.get(maker, set()) or pid == maker


def majority(values: list[str]) -> str:
    """The most common non-empty value (ties: the shortest, then the first in sort order)."""
    counted = Counter(v for v in values if v)
    if not counted:
        return ""
    best = max(counted.values())
    return sorted((v for v, n in counted.items() if n == best), key=lambda v: (len(v), v))[0]


def _family_maker(clean: str, makers: tuple[tuple[str, str], ...]) -> str:
    return next((maker for prefix, maker in makers if clean.startswith(prefix)), "")


def _looks_like_an_id(name: str) -> bool:
    return " " not in name and name == name.lower() and bool(re.search(r"[.:/]", name))


def entity(members: list[dict[str, Any]], makers: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """Canonical maker, readable path and name of one resolved model (its offers: `members`)."""
    for offer in members:
        offer["clean"] = clean_path(offer["path"])
        offer["region"] = bool(REGION.match(offer["path"].split("/")[-1].lower()))
    orgs = [org_of(o["path"]) for o in members]
    cleans = majority([o["clean"] for o in members])
    family = _family_maker(cleans, makers)
    maker = family if family and family in orgs else majority([o for o in orgs if o])  # `llama` is Meta's
    maker = maker or family
    providers = {o["provider"].removeprefix("genai-prices:") for o in members}
    if not maker and len(providers) == 1:
        maker = re.sub(r"[^a-z0-9-]+", "-", next(iter(providers)).lower()).strip("-")
    maker = maker or "model"
    own = [o for o in members if is_maker_offer(o["provider"], maker)]
    clean = majority([o["clean"] for o in own]) or cleans
    names = [o["name"] for o in (own or members) if o.get("name") and not _looks_like_an_id(o["name"])]
    readable = [o["name"] for o in members if o.get("name") and not _looks_like_an_id(o["name"])]
    paid_names = [n for n in readable if not re.search(r"\bfree\b", n, re.I)]  # `(free)` names one offer
    readable, names = paid_names or readable, [n for n in names if n in paid_names] or names
    exact = [n for n in readable if name_key(n) == name_key(clean)]  # `Kimi K2` for kimi-k2, not `Kimi K2 0711`
    name = majority(exact) or majority(names) or majority([o.get("name", "") for o in members]) or clean
    name = re.sub(r"\s*\(free\)$|:free$", "", name, flags=re.I) or name  # the free offer's label, not the model's
    if _looks_like_an_id(name):  # `allenai/molmo-7b-d`: the model's part of an id
        name = name.split("/")[-1]
    return {"maker": maker, "clean": clean, "name": name}
