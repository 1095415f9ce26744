"""Sequencer settings: execution mode, limits, GPU pool and image allow-list.

Read through `airgenome.settings` (``AIRGENOME_<NAME>``, then ``AIRFLOW__AIRGENOME__<NAME>``,
then the ``[airgenome]`` section of airflow.cfg when Airflow is already imported), so
linting a spec never pays for importing Airflow. A malformed value raises `SettingError`
(an `InvalidInput`) naming the variable instead of being ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from airgenome import settings
from airgenome.settings import MODES

__all__ = ["MODES", "SequencerLimits", "execution_mode", "limits", "setting"]


def setting(name: str) -> str | None:
    """One declared ``[airgenome]`` setting's text (`settings.raw`; undeclared names raise)."""
    return settings.raw(name)


def execution_mode() -> str:
    """``local`` (embedded default) or ``kubernetes``: a platform decision, never a spec's."""
    return settings.choice("execution_mode")


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
    gpu_pool: str = settings.DEFAULT_GPU_POOL
    gpu_slots: int = 0  # GPUs the pool can ever grant; a step asking for more never runs
    # Image patterns step pods may use; empty (the default) refuses every image in kubernetes mode.
    allowed_images: tuple[str, ...] = field(default=())

    def image_refusal(self, image: str) -> str | None:
        """Why kubernetes mode refuses ``image`` (naming the setting), or ``None`` if allowed."""
        if not self.allowed_images:
            return (
                f"{image!r} is refused: no image is allowed in kubernetes mode until "
                "AIRGENOME_ALLOWED_IMAGES ([airgenome] allowed_images) lists image patterns"
            )
        if any(fnmatchcase(image, pattern) for pattern in self.allowed_images):
            return None
        return (
            f"{image!r} is not in the allowed images ({', '.join(self.allowed_images)}; "
            "AIRGENOME_ALLOWED_IMAGES)"
        )


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
_LIMIT_VARIABLES = settings.variables_of(_LIMIT_SETTINGS)
_LIMITS_CACHE: dict[tuple[object, ...], SequencerLimits] = {}


def limits() -> SequencerLimits:
    """The current limits. Reading Airflow's config costs ~0.1 ms a key, so the result is
    cached per process, keyed on the environment variables (tests and operators change
    those; airflow.cfg does not change under a running process)."""
    key = settings.fingerprint(_LIMIT_VARIABLES)
    cached = _LIMITS_CACHE.get(key)
    if cached is None:
        cached = _LIMITS_CACHE[key] = _read_limits()
    return cached


def _read_limits() -> SequencerLimits:
    base = SequencerLimits()
    return SequencerLimits(
        max_body_bytes=settings.integer("max_sequence_bytes") or base.max_body_bytes,
        max_steps=settings.integer("max_steps") or base.max_steps,
        max_group_width=settings.integer("max_group_width") or base.max_group_width,
        max_depth=base.max_depth,
        max_name_length=settings.integer("max_step_name_length") or base.max_name_length,
        max_retries=_or(settings.integer("max_retries"), base.max_retries),
        max_timeout_seconds=base.max_timeout_seconds,
        min_schedule_seconds=base.min_schedule_seconds,
        gpu_pool=settings.string("gpu_pool") or base.gpu_pool,
        gpu_slots=_or(settings.integer("gpu_slots"), base.gpu_slots),
        allowed_images=settings.string_list("allowed_images"),
    )


def _or(value: int | None, default: int) -> int:
    return default if value is None else value
