"""Sequencer settings: execution mode, limits, GPU pool and image allow-list.

Read from ``AIRGENOME_<NAME>`` variables, then ``AIRFLOW__AIRGENOME__<NAME>``, then the
``[airgenome]`` section of airflow.cfg — the last only when Airflow is already imported
(inside the DAG processor or a worker), so linting a spec never pays for importing Airflow.
A malformed value raises `InvalidInput` naming the variable instead of being ignored.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from airgenome.errors import InvalidInput

MODES = ("local", "kubernetes")


def setting(name: str) -> str | None:
    """One ``[airgenome]`` setting by its lower-case name (cheap: environment first)."""
    for key in (f"AIRGENOME_{name.upper()}", f"AIRFLOW__AIRGENOME__{name.upper()}"):
        value = os.environ.get(key)
        if value:
            return value
    if "airflow.configuration" in sys.modules:  # never import Airflow just to read config
        from airflow.configuration import conf

        configured = conf.get("airgenome", name.lower(), fallback=None)
        return str(configured) if configured else None
    return None


def _int_setting(name: str, default: int, minimum: int = 0) -> int:
    raw = setting(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"AIRGENOME_{name.upper()}: {raw!r} is not an integer") from None
    if value < minimum:
        raise InvalidInput(f"AIRGENOME_{name.upper()}: must be >= {minimum}, got {value}")
    return value


def execution_mode() -> str:
    """``local`` (embedded default) or ``kubernetes``: a platform decision, never a spec's."""
    mode = (setting("execution_mode") or "local").strip().lower()
    if mode not in MODES:
        raise InvalidInput(f"AIRGENOME_EXECUTION_MODE: {mode!r} is not one of {', '.join(MODES)}")
    return mode


@dataclass(frozen=True)
class SequencerLimits:
    """Bounds that keep one upload from swamping the DAG processor or the cluster."""

    max_body_bytes: int = 256 * 1024
    max_steps: int = 200
    max_group_width: int = 32
    max_depth: int = 8
    max_name_length: int = 100
    max_retries: int = 10
    max_timeout_seconds: int = 7 * 24 * 3600
    min_schedule_seconds: int = 60
    gpu_pool: str = "gpu"
    gpu_slots: int = 0  # GPUs the pool can ever grant; a step asking for more never runs
    allowed_images: tuple[str, ...] = field(default=("*",))


_LIMIT_SETTINGS = (
    "max_sequence_bytes",
    "max_steps",
    "max_group_width",
    "max_step_name_length",
    "max_retries",
    "gpu_pool",
    "gpu_slots",
    "allowed_images",
)
_LIMITS_CACHE: dict[tuple[object, ...], SequencerLimits] = {}


def limits() -> SequencerLimits:
    """The current limits. Reading Airflow's config costs ~0.1 ms a key, so the result is
    cached per process, keyed on the environment variables (tests and operators change
    those; airflow.cfg does not change under a running process)."""
    key = (
        "airflow.configuration" in sys.modules,
        *(os.environ.get(f"{prefix}{name.upper()}") for name in _LIMIT_SETTINGS
          for prefix in ("AIRGENOME_", "AIRFLOW__AIRGENOME__")),
    )
    cached = _LIMITS_CACHE.get(key)
    if cached is None:
        cached = _LIMITS_CACHE[key] = _read_limits()
    return cached


def _read_limits() -> SequencerLimits:
    images = setting("allowed_images")
    base = SequencerLimits()
    return SequencerLimits(
        max_body_bytes=_int_setting("max_sequence_bytes", base.max_body_bytes, 1),
        max_steps=_int_setting("max_steps", base.max_steps, 1),
        max_group_width=_int_setting("max_group_width", base.max_group_width, 1),
        max_depth=base.max_depth,
        max_name_length=_int_setting("max_step_name_length", base.max_name_length, 1),
        max_retries=_int_setting("max_retries", base.max_retries, 0),
        max_timeout_seconds=base.max_timeout_seconds,
        min_schedule_seconds=base.min_schedule_seconds,
        gpu_pool=setting("gpu_pool") or base.gpu_pool,
        gpu_slots=_int_setting("gpu_slots", base.gpu_slots, 0),
        allowed_images=(
            tuple(p.strip() for p in images.split(",") if p.strip())
            if images is not None
            else base.allowed_images
        ),
    )
