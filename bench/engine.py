"""Benchmark: the engine's per-operation CPU time at 512² and 1024², each against a baseline
measured in the same run (a bare pipeline call or plain resize). Runs both halves:

    .venv/bin/python bench/engine.py            # = bench/engine_offline.py + engine_diffusion.py
    .venv/bin/python bench/engine.py --quick    # both at one small size, once (< 60 s)

Its arguments go to both halves; it exits with the worse of their exit codes.

Run it on an otherwise idle machine: the figures are CPU seconds on shared cores.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    codes = [
        subprocess.call([sys.executable, str(HERE / script), *sys.argv[1:]])
        for script in ("engine_offline.py", "engine_diffusion.py")
    ]
    sys.exit(max(codes))


if __name__ == "__main__":
    main()
