"""``python -m airgenome.sequence.run_component NAME``: run one catalogued component.

The entrypoint of local subprocess steps and of component images; the name is looked up in
the explicit catalogue (`airgenome.sequence.components.COMPONENTS`), never imported by path.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from airgenome.sequence.components import COMPONENTS


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m airgenome.sequence.run_component NAME", file=sys.stderr)
        return 2
    component = COMPONENTS.get(args[0])
    if component is None:
        print(
            f"unknown component {args[0]!r} (known: {', '.join(sorted(COMPONENTS))})",
            file=sys.stderr,
        )
        return 2
    return component.run()


if __name__ == "__main__":
    sys.exit(main())
