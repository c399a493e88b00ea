"""Forwarding methods of the `Engine` facade (search/engine.py): one line per method handed to a part."""

from __future__ import annotations

from search import ranker, related


def via(part: str, name: str):
    """A facade method handing the call to `part.name` (its docstring and type hints live there); for part
    "related", the search/related.py function, called with the engine (it reads the public surface)."""
    def call(self, *args, **kwargs):
        if part in ("related", "ranker"):
            return getattr(related if part == "related" else ranker, name)(self, *args, **kwargs)
        return getattr(getattr(self, part), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"See `{part}.{name}` (search/{ {'catalog': 'catalogstate'}.get(part, part)}.py)."
    return call
