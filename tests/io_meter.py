"""How many bytes this process has read, from the kernel's own count (Linux /proc/self/io `rchar`).

"Refused before it is read" cannot be seen in the answer alone (a parser that reads everything and
then checks the length refuses the same file with the same words); the kernel's count of bytes read
tells the two apart, with no mock in the way. `rchar` counts every read() of every thread of the process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_IO = Path("/proc/self/io")


def bytes_read() -> int:
    try:
        lines = _IO.read_text().splitlines()
    except OSError:
        pytest.skip("/proc/self/io is not available here (Linux only)")
    return next(int(line.split()[1]) for line in lines if line.startswith("rchar:"))


def sparse_file(path: Path, size: int) -> Path:
    """A file of `size` bytes (zeros) that takes no disk space."""
    with path.open("wb") as handle:
        handle.truncate(size)
    return path
