"""What every benchmark's plot starts with."""

from __future__ import annotations

import sys
from types import ModuleType


def pyplot() -> ModuleType | None:
    """matplotlib's pyplot drawing to files, or None (said on stderr) when
    matplotlib is not installed: the figures are printed either way."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot (pip install -e '.[bench]')", file=sys.stderr)
        return None
    return plt
