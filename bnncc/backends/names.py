"""Model-supplied text (file and node names) made safe for comments in generated C++, Verilog and
TCL: letters, digits, '_', '.', '-' and spaces stay; everything else becomes _xNN. No quote, slash,
brace, bracket, dollar, backslash or newline survives, so a name cannot end a comment or splice lines."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_. -]")


def comment_safe(text: str, limit: int = 120) -> str:
    out = _UNSAFE.sub(lambda m: f"_x{ord(m.group()):02x}", text)
    return out if len(out) <= limit else out[: limit - 3] + "..."
