"""Benchmark: the engine's per-operation CPU time at 512² and 1024², each against a baseline
measured in the same run (a bare pipeline call or plain resize). Runs both halves:

    .venv/bin/python bench/engine.py            # = bench/engine_offline.py + engine_diffusion.py
    .venv/bin/python bench/engine.py --quick    # both at one small size, once (< 60 s)

Its arguments go to both halves (`--summary PATH` gets both halves' figures); it exits with the
worse of their exit codes.

Run it on an otherwise idle machine: the figures are CPU seconds on shared cores.
"""

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.summary import figures_read, figures_write, summary_argument  # noqa: E402

HALVES = ("engine_offline.py", "engine_diffusion.py")


def main() -> None:
    parser = argparse.ArgumentParser(add_help=False)
    summary_argument(parser)
    known, rest = parser.parse_known_args()
    codes, figures = [], []
    for script in HALVES:
        half = f"{known.summary}.{script}" if known.summary else None
        codes.append(
            subprocess.call(
                [sys.executable, str(HERE / script), *rest, *(["--summary", half] if half else [])]
            )
        )
        if half and Path(half).exists():
            figures += figures_read(Path(half))
            Path(half).unlink()
    figures_write(known.summary, figures)
    sys.exit(max(codes))


if __name__ == "__main__":
    main()
