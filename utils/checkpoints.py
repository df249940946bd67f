"""Where trained models are kept between chapters (e.g. chapter 01's classifiers, which chapter
02 uses as the feature extractor of its FID-style score)."""

from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path
from typing import Any

SUFFIX = {"torch": ".pt", "keras": ".keras"}


def models_dir() -> Path:
    """``COURSE_MODELS_DIR``, else ``models/`` in the course's user cache (XDG-aware)."""
    env = os.environ.get("COURSE_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    from .data import APP_NAME

    return platformdirs.user_cache_path(APP_NAME) / "models"


def model_path(name: str, framework: str) -> Path:
    """The file for model ``name`` (letters, digits, ``-_.``) saved by ``framework``
    (``torch`` → ``.pt`` state dict, ``keras`` → ``.keras``); its folder is created."""
    if framework not in SUFFIX:
        raise ValueError(f"framework must be one of {', '.join(SUFFIX)}, got {framework!r}")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"model name {name!r}: use letters, digits, '-', '_' and '.' only")
    folder = models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}{SUFFIX[framework]}"


def _info_path(path: Path | str) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".json")


def save_info(path: Path | str, **info: Any) -> Path:
    """Write what a saved model is (``profile``, ``test_accuracy``, ``dataset``…) beside it, as
    ``<file>.json`` with the date, so a later chapter can say where its model came from."""
    record = {**info, "saved": datetime.datetime.now().isoformat(timespec="seconds")}
    out = _info_path(path)
    out.write_text(json.dumps(record, indent=1, default=float) + "\n")
    return out


def load_info(path: Path | str) -> dict[str, Any]:
    """What `save_info` wrote beside ``path``; ``{}`` when nothing was (or it is unreadable)."""
    try:
        return json.loads(_info_path(path).read_text())
    except (OSError, ValueError):
        return {}
