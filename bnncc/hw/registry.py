"""The block kinds the dataflow can use, in order: the order lowering rules are tried in and the
order the writers put the kinds' library code in. A new kind registers itself here; nothing else
of the package changes (docs/architecture.md walks through one)."""

from __future__ import annotations

from bnncc.hw.block import Block

_KINDS: dict[str, type[Block]] = {}


def register(cls: type[Block]) -> type[Block]:
    """Add a block kind (usable as a class decorator); a kind's name is taken once."""
    if _KINDS.get(cls.kind, cls) is not cls:
        raise ValueError(f"block kind {cls.kind!r} is already registered by {_KINDS[cls.kind].__qualname__}")
    _KINDS[cls.kind] = cls
    return cls


def unregister(kind: str) -> None:
    _KINDS.pop(kind, None)


def kinds() -> list[type[Block]]:
    """Every registered kind, built-in ones first."""
    import bnncc.hw.blocks  # noqa: F401  (registers the built-in kinds)

    return list(_KINDS.values())


def kind(name: str) -> type[Block]:
    return {k.kind: k for k in kinds()}[name]
