"""Native models built once per process: MediaPipe graphs, ncnn nets and onnxruntime sessions
do not survive fork(), so a Celery prefork child that inherits a built one builds its own."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any


class ForkSafe:
    """A lazily built value, rebuilt in a child process; `get` is thread-safe."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: Any = None
        self._pid = 0

    def get(self) -> Any:
        with self._lock:
            if self._value is None or self._pid != os.getpid():
                self._value = self._build()
                self._pid = os.getpid()
            return self._value


def onnx_cpu_session(model: bytes, *, num_threads: int) -> Any:
    """An onnxruntime session on the CPU with `num_threads` threads (its `run` is thread-safe)."""
    import onnxruntime  # type: ignore[import-untyped]

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle threads must not spin on a worker that shares its cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
