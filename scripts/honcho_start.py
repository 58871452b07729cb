"""Run honcho with an output that tolerates a closed reader.

`make run | tee run.log` interrupted with Ctrl-C kills `tee` too. Plain honcho then fails to print
"SIGINT received", gives up before stopping its processes, and waits for them forever. Here, output
that can no longer be written is dropped instead, so honcho goes on to stop the fleet.

Usage: .venv/bin/python scripts/honcho_start.py <honcho arguments>
"""

from __future__ import annotations

import sys


class TolerantOutput:
    """A text stream that stops writing (silently) once its reader is gone."""

    def __init__(self, stream):
        self._stream = stream
        self._closed = False

    def write(self, data: str) -> int:
        if not self._closed:
            try:
                self._stream.write(data)
            except (BrokenPipeError, OSError, ValueError):
                self._closed = True
        return len(data)

    def flush(self) -> None:
        if not self._closed:
            try:
                self._stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                self._closed = True

    def isatty(self) -> bool:
        try:
            return self._stream.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name):
        return getattr(self._stream, name)


def main() -> int:
    sys.stdout = TolerantOutput(sys.stdout)
    sys.stderr = TolerantOutput(sys.stderr)
    from honcho.command import main as honcho_main  # after the swap: honcho prints to sys.stdout

    honcho_main(sys.argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
