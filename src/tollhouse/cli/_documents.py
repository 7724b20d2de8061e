"""Documents read from files and sent whole: API descriptions and policy XML."""

from __future__ import annotations

from pathlib import Path

from tollhouse.cli._errors import CliError

# The control plane's request body limit (DEFAULT_MAX_BODY_BYTES in controlplane/_config.py):
# a larger file could never be sent. The control plane applies each kind's own limit.
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024


def read_text_file(option: str, path: Path) -> str:
    """The file's text (UTF-8, a byte order mark dropped)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise CliError(f"{option}: cannot read '{path}': {exc.strerror}.") from None
    if len(data) > MAX_DOCUMENT_BYTES:
        raise CliError(f"{option}: '{path}' is larger than {MAX_DOCUMENT_BYTES} bytes.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CliError(f"{option}: '{path}' is not UTF-8 text.") from None
