"""Reading shipped data files (importlib.resources) and user files, with one-line errors."""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from traintime.errors import DataError


def data_dir() -> Any:
    return resources.files("traintime") / "data"


def _read_text(path: Path | Any, what: str, kind: str) -> str:
    """The file's UTF-8 text, or a one-line DataError naming the file and what is wrong."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{what} {str(path)!r} does not exist") from None
    except ValueError:  # a NUL in the name
        raise DataError(f"{what} {str(path)!r} is not a usable file name") from None
    except OSError as exc:
        raise DataError(f"{what} {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(
            f"{what} {str(path)!r} is not UTF-8 text ({kind} files are UTF-8)"
        ) from None


def read_toml(path: Path | Any, *, what: str) -> dict[str, Any]:
    text = _read_text(path, what, "TOML")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{what} {str(path)!r} is not valid TOML: {exc}") from None
    except RecursionError:
        raise DataError(f"{what} {str(path)!r} nests too deeply") from None


def read_json(path: Path, *, what: str) -> Any:
    text = _read_text(path, what, "JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{what} {str(path)!r} is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from None
    except RecursionError:
        raise DataError(f"{what} {str(path)!r} nests too deeply to be a config") from None
