"""Exceptions raised by traintime.

Every error is a :class:`TraintimeError` whose message is one line that names the offending value
and what is allowed. The CLI prints that line and exits with code 2.

    TraintimeError (ValueError)
    ├── SpecError        an impossible model / training / hardware specification
    ├── UnknownNameError an unknown model or GPU name (carries close matches)
    ├── AmbiguousNameError a name that matches several entries (carries them)
    └── DataError        a file that cannot be read: bad JSON / TOML / CSV, a missing field
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TraintimeError(ValueError):
    """Base class: a user-facing, one-line error."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class SpecError(TraintimeError):
    """A specification that cannot describe a real training run."""


class DataError(TraintimeError):
    """A file given by the user (or shipped) that cannot be parsed."""


class UnknownNameError(TraintimeError):
    """A model or GPU name that is not in the catalog (``suggestions``: close matches)."""

    def __init__(
        self,
        kind: str,
        name: str,
        candidates: Iterable[str] = (),
        *,
        suggestions: list[str] | None = None,
        hint: str = "",
    ) -> None:
        self.kind = kind
        self.name = name
        self.suggestions = (
            suggestions if suggestions is not None else close_matches(name, candidates)
        )
        tail = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown {kind} {name!r}{tail}{(' ' + hint) if hint else ''}")


class AmbiguousNameError(TraintimeError):
    """A name that matches several catalog entries (``candidates``)."""

    def __init__(self, kind: str, name: str, candidates: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.candidates = sorted(candidates)
        super().__init__(f"{kind} {name!r} is ambiguous; one of: {', '.join(self.candidates)}")


def close_matches(name: str, candidates: Iterable[str], *, n: int = 3) -> list[str]:
    """The ``n`` closest candidates to ``name`` (case-insensitive), best first."""
    pool = {c.lower(): c for c in candidates}
    key = name.lower()
    hits = difflib.get_close_matches(key, list(pool), n=n, cutoff=0.5)
    if not hits:
        hits = [k for k in pool if key and (key in k or k in key)][:n]
    return [pool[h] for h in hits]
