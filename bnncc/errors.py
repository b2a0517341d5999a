"""The one error type bnncc raises for bad input: the CLI prints it in one line and exits 2."""


class BnnccError(Exception):
    """A user-facing error: bad file, unsupported op, wrong shape. The message names file, node and op."""


def quote(name: str) -> str:
    """A model-supplied name made safe for a one-line message or a comment (escapes, no newline)."""
    return repr(name).replace("*/", "*\\/")


def printable(text: str) -> str:
    """One line, every control character escaped: a name from a model cannot split or clear the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in " ".join(str(text).split()))
