"""Argument types shared by the CLI's command modules (argparse exits 2 naming the flag)."""

from __future__ import annotations

import argparse


def port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 1024 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{number} is not a usable port (1024-65535)")
    return number
