"""Stable keys and seeds: the same inputs give the same key on every machine and run.

Examples
--------
>>> stable_key({"a": 1, "b": 2.0}) == stable_key({"b": 2.0, "a": 1})
True
>>> seed_for(0, "init") == seed_for(0, "init") != seed_for(1, "init")
True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

__all__ = ["as_dict", "seed_for", "stable_key"]


def as_dict(config: Any) -> dict[str, Any]:
    """A dataclass instance or mapping as a plain dict."""
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)


def stable_key(config: Any) -> str:
    """Key of a config (a dataclass or a mapping): hash of its sorted JSON, 20 hex digits."""
    text = json.dumps(as_dict(config), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def seed_for(*parts: Any) -> int:
    """A deterministic 63-bit seed from any printable parts (independent of PYTHONHASHSEED)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
