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


def read_toml(path: Path | Any, *, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{what} {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"{what} {str(path)!r} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise DataError(f"{what} {str(path)!r} is not UTF-8 text (TOML files are UTF-8)") from None
    except OSError as exc:
        raise DataError(f"{what} {str(path)!r} cannot be read: {exc.strerror}") from None


def read_json(path: Path, *, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{what} {str(path)!r} does not exist") from None
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{what} {str(path)!r} is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from None
    except RecursionError:
        raise DataError(f"{what} {str(path)!r} nests too deeply to be a config") from None
    except UnicodeDecodeError:
        raise DataError(f"{what} {str(path)!r} is not UTF-8 text (JSON files are UTF-8)") from None
    except OSError as exc:
        raise DataError(f"{what} {str(path)!r} cannot be read: {exc}") from None
