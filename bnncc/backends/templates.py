"""The jinja2 environment of every writer: the package's templates, plus the template folder of any
registered block kind that keeps its own (a kind defined outside the package)."""

from __future__ import annotations

import jinja2

from bnncc.hw.block import TEMPLATES
from bnncc.hw.registry import kinds


def environment() -> jinja2.Environment:
    roots = [str(TEMPLATES)] + sorted({str(k.template_root) for k in kinds()} - {str(TEMPLATES)})
    return jinja2.Environment(loader=jinja2.FileSystemLoader(roots), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, autoescape=False)


def source(env: jinja2.Environment, name: str) -> str:
    """A template file's text as it is (Verilog holds braces that jinja would read)."""
    return env.loader.get_source(env, name)[0]
