"""requirements.lock pins every package that requirements.txt asks for, inside the range it asks for.

The lock is what the README's set-up command and .ci/run install; requirements.txt keeps the ranges it is
generated from (`scripts/lock`). A package added to requirements.txt without regenerating the lock fails here,
before a newcomer's install quietly resolves something else.
"""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [Requirement(line) for line in lines if line]


def _locked() -> dict[str, Version]:
    pins = {}
    for req in _requirements(ROOT / "requirements.lock"):
        spec = str(req.specifier)
        assert re.fullmatch(r"==[^,]+", spec), f"requirements.lock: {req} is not an exact pin"
        pins[canonicalize_name(req.name)] = Version(spec[2:])
    return pins


def test_every_requirement_is_locked_within_its_range() -> None:
    pins = _locked()
    for req in _requirements(ROOT / "requirements.txt"):
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in requirements.txt but not in requirements.lock: run scripts/lock"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {req.name}=={pins[name]}, outside requirements.txt's {req.specifier}: "
            "run scripts/lock")


def test_torch_is_the_cpu_build_pinned_in_requirements() -> None:
    assert _locked()["torch"].public == "2.13.0"  # a newer torch (or a plain range) pulls the CUDA build


def test_lock_says_how_to_regenerate_it() -> None:
    assert "scripts/lock" in (ROOT / "requirements.lock").read_text(encoding="utf-8")[:400]
