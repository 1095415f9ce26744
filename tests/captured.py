"""What a `dag.test()` run prints, for tests that assert on task logs."""

from __future__ import annotations

import io
import os
import sys
import tempfile


class CapturedOutput:
    """What a run writes to stdout / stderr (where dag.test's task logs go): the Python
    streams and the file descriptors under them."""

    text = ""

    def __enter__(self) -> CapturedOutput:
        self.file = tempfile.TemporaryFile(mode="w+b")
        self.saved = [os.dup(1), os.dup(2)]
        for stream in (1, 2):
            os.dup2(self.file.fileno(), stream)
        self.streams = (sys.stdout, sys.stderr)
        self.buffer = io.StringIO()
        sys.stdout = sys.stderr = self.buffer
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout, sys.stderr = self.streams
        for stream, saved in zip((1, 2), self.saved, strict=True):
            os.dup2(saved, stream)
            os.close(saved)
        self.file.seek(0)
        self.text = self.buffer.getvalue() + self.file.read().decode("utf-8", errors="replace")
        self.file.close()
