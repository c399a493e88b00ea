"""bench/misses.py counts each zero-shot miss by its cause: a twin (same task), other kinds above, or else."""

from __future__ import annotations

from types import SimpleNamespace

from bench import misses


def _artifact(artifact_id: str, kind: str, title: str) -> SimpleNamespace:
    return SimpleNamespace(id=artifact_id, type=kind, capabilities=[SimpleNamespace(label=title)])


class _Engine:
    """Answers each query with a fixed ranking, the way Engine.search returns hits."""

    def __init__(self, artifacts: list[SimpleNamespace], rankings: dict[str, list[str]]) -> None:
        self.artifacts = {a.id: a for a in artifacts}
        self.rankings = rankings

    def search(self, query: str, k: int, record: bool, learn: bool) -> SimpleNamespace:
        assert not record and not learn  # zero-shot
        return SimpleNamespace(hits=[SimpleNamespace(artifact=self.artifacts[a]) for a in self.rankings[query][:k]])


def test_task_drops_the_image_prefix_so_hub_titles_compare() -> None:
    assert misses.task(_artifact("t", "model", "Classification: deep residual networks")) == "classification"
    assert misses.task(_artifact("h", "model", "Image classification")) == "classification"
    assert misses.task(_artifact("s", "model", "Image segmentation")) != "classification"


def test_misses_are_counted_by_cause() -> None:
    arts = [_artifact("gold", "model", "Classification: resnet"), _artifact("twin", "model", "Image classification"),
            _artifact("other", "model", "Text generation"), _artifact("prompt", "prompt", "Act as a critic"),
            _artifact("data", "dataset", "Classification: CIFAR10")]
    engine = _Engine(arts, {"hit": ["gold", "twin"], "twin": ["prompt", "twin", "gold"],
                            "kinds": ["prompt", "data", "gold"], "lost": ["other", "prompt"]})
    rows = [{"query": q, "gold": "gold"} for q in ("hit", "twin", "kinds", "lost")]
    out = misses.analyse(engine, rows)
    assert out["misses"] == 3
    assert out["gold position"] == {"1": 1, "2-5": 2, f"not in the top {misses.DEPTH}": 1}
    assert out["first instead"] == {"a prompt": 2, "a model or fine-tune": 1}
    assert out["gold is the first model (only other kinds above it)"] == 1  # a dataset's title is not a twin
    assert out["twin: the first model above the gold does the gold's task"] == 1  # "lost": another task
