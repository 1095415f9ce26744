"""Genome durations (``360s``, ``30m``, ``6h``, ``1d``) and schedules, as plain data.

No Airflow here: `Schedule` says what to build; `render` turns it into a timetable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_DURATION = re.compile(r"^([0-9]{1,9})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# Airflow's cron presets (airflow.utils.dates.cron_presets) plus @once; @continuous is
# left out on purpose: a sequence re-running back to back would hog the workers.
PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


class DurationError(ValueError):
    """A value that is not a duration; the message is the user-facing hint."""


def parse_duration(value: object) -> int:
    """Seconds in a Genome duration: ``"360s"``, ``"30m"``, ``"6h"``, ``"1d"`` or a number of seconds."""
    if isinstance(value, bool):
        raise DurationError(f"{value!r} is not a duration like 360s, 30m, 6h or 1d")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match is None:
            raise DurationError(f"{value!r} is not a duration like 360s, 30m, 6h or 1d")
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise DurationError(f"{value!r} is not a duration like 360s, 30m, 6h or 1d")
    if seconds <= 0:
        raise DurationError(f"{value!r} must be longer than zero")
    return seconds


ScheduleKind = Literal["duration", "cron", "once", "assets"]


@dataclass(frozen=True)
class Schedule:
    """``duration`` (seconds), ``cron`` (a 5-field expression) or ``once``."""

    kind: ScheduleKind
    text: str  # as the user wrote it, for display
    seconds: int | None = None
    cron: str | None = None
    assets: tuple[str, ...] = ()  # kind "assets": run when each of these assets is updated


def parse_schedule(value: str, *, min_seconds: int = 60) -> Schedule:
    text = value.strip()
    if text == "@once":
        return Schedule(kind="once", text=text)
    if text in PRESETS:
        return Schedule(kind="cron", text=text, cron=PRESETS[text])
    if text.startswith("@"):
        raise DurationError(
            f"{value!r} is not a known preset (use one of @once, {', '.join(PRESETS)})"
        )
    if _DURATION.match(text) or text.lstrip("-").rstrip("smhd").isdigit():
        seconds = parse_duration(text)  # '-1h' and '0h' fail here with a clear message
        if seconds < min_seconds:
            raise DurationError(
                f"{value!r} is shorter than the minimum schedule period of {min_seconds}s"
            )
        return Schedule(kind="duration", text=text, seconds=seconds)
    fields = text.split()
    if len(fields) == 5 and _valid_cron(text):
        return Schedule(kind="cron", text=text, cron=" ".join(fields))
    raise DurationError(
        f"{value!r} is not a schedule: use a duration (30m, 6h, 1d), "
        "a 5-field cron expression ('0 3 * * *') or a preset (@daily)"
    )


def _valid_cron(expression: str) -> bool:
    # croniter is what Airflow's CronTriggerTimetable uses, so it accepts exactly what Airflow does.
    from croniter import croniter

    return bool(croniter.is_valid(expression))
