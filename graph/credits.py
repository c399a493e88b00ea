"""The sources behind a record, with their licence and the credit they ask for.

Why a module: CC-BY-SA text (best-of lists) and CC-BY benchmark numbers (Epoch AI, LLM Stats) must be
credited on every page that shows them, and the API returns the same credits so a client can do likewise.
A record names its sources in `signals.source`, `signals.downloads_source`, `signals.usage_source` and
each `signals.benchmarks[].source`; this table turns those names into the credit data/NOTICE.md gives.
"""

from __future__ import annotations

from graph.catalog import Artifact

# (marker found in a source text, name, licence, credit asked for, link)
SOURCES = (
    ("best-of-ml-python", "best-of-ml-python by ml-tooling", "CC-BY-SA-4.0",
     "Text and numbers from best-of-ml-python by ml-tooling, CC-BY-SA-4.0; changed (converted to catalog "
     "records, comparison sentences computed).", "https://github.com/ml-tooling/best-of-ml-python"),
    ("best-of-mcp-servers", "best-of-mcp-servers by tolkonepiu", "CC-BY-SA-4.0",
     "Text and numbers from best-of-mcp-servers by tolkonepiu, CC-BY-SA-4.0; changed (converted to catalog "
     "records).", "https://github.com/tolkonepiu/best-of-mcp-servers"),
    ("Epoch AI", "Epoch AI, 'AI Benchmarking'", "CC-BY-4.0",
     "Epoch AI, 'AI Benchmarking'. Published online at epoch.ai. Retrieved from 'https://epoch.ai/benchmarks'. "
     "Scores rescaled to 0-100.", "https://epoch.ai/benchmarks"),
    ("LLM Stats", "LLM Stats", "CC-BY-4.0",
     "LLM Stats open data (llm-stats.com, JonathanChavezTamales/LLMStats, (c) 2024 jc). Scores rescaled to 0-100.",
     "https://llm-stats.com"),
    ("Berkeley Function-Calling", "Berkeley Function-Calling Leaderboard", "Apache-2.0",
     "Berkeley Function-Calling Leaderboard v4 (Gorilla project).", "https://gorilla.cs.berkeley.edu/leaderboard"),
    ("MTEB results", "MTEB results", "CC0-1.0", "", "https://github.com/embeddings-benchmark/results"),
    ("MTEB task metadata", "MTEB task metadata", "Apache-2.0", "MTEB (embeddings-benchmark/mteb).",
     "https://github.com/embeddings-benchmark/mteb"),
    ("models.dev", "models.dev", "MIT", "models.dev (anomalyco/models.dev).", "https://models.dev"),
    ("genai-prices", "genai-prices", "MIT", "genai-prices by Pydantic (pydantic/genai-prices).",
     "https://github.com/pydantic/genai-prices"),
    ("public-apis", "public-apis", "MIT", "public-apis (github.com/public-apis/public-apis).",
     "https://github.com/public-apis/public-apis"),
    ("Gorilla", "Gorilla", "Apache-2.0", "Gorilla (Patil et al., 2023; ShishirPatil/gorilla).",
     "https://github.com/ShishirPatil/gorilla"),
    ("awesome-chatgpt-prompts", "awesome-chatgpt-prompts / prompts.chat", "CC0-1.0", "",
     "https://github.com/f/awesome-chatgpt-prompts"),
    ("awesome-generative-ai", "awesome-generative-ai", "CC0-1.0", "",
     "https://github.com/steven2358/awesome-generative-ai"),
    ("MCP registry", "MCP registry", "MIT", "modelcontextprotocol/registry.",
     "https://github.com/modelcontextprotocol/registry"),
    ("TensorFlow Datasets", "TensorFlow Datasets catalog", "Apache-2.0", "TensorFlow Datasets (tensorflow/datasets).",
     "https://www.tensorflow.org/datasets"),
    ("lm-evaluation-harness", "lm-evaluation-harness task list", "MIT", "EleutherAI/lm-evaluation-harness.",
     "https://github.com/EleutherAI/lm-evaluation-harness"),
    ("ir_datasets", "ir_datasets documentation", "Apache-2.0", "ir_datasets (allenai/ir_datasets).",
     "https://ir-datasets.com"),
    ("top-pypi-packages", "top-pypi-packages", "facts (no licence)",
     "Download counts: top-pypi-packages by Hugo van Kemenade.", "https://github.com/hugovk/top-pypi-packages"),
)
ATTRIBUTION = ("CC-BY-SA-4.0", "CC-BY-4.0")  # licences whose credit must be shown beside the content


def _texts(artifact: Artifact) -> list[str]:
    signals = artifact.signals
    texts = [str(signals.get(k) or "") for k in ("source", "downloads_source", "usage_source")]
    texts += [str(b.get("source") or "") for b in signals.get("benchmarks") or () if isinstance(b, dict)]
    return [t for t in texts if t]


def credits_of(artifact: Artifact) -> list[dict]:
    """Each source the record draws on once: name, licence, credit, url, and whether the credit must be
    shown (`attribution`: CC-BY and CC-BY-SA). A hand-written seed record cites no source."""
    texts = _texts(artifact)
    out = []
    for marker, name, licence, credit, url in SOURCES:
        if any(marker in t for t in texts):
            out.append({"source": name, "license": licence, "credit": credit, "url": url,
                        "attribution": licence in ATTRIBUTION})
    return out
