"""imaging.engine.fork_safe: a native model is built once per process, and again in a forked
child (a Celery prefork pool process), never shared across fork()."""

from __future__ import annotations

import multiprocessing
import os
import threading

from imaging.engine.fork_safe import ForkSafe


def test_the_value_is_built_once_in_a_process_even_from_many_threads() -> None:
    built: list[int] = []
    value = ForkSafe(lambda: built.append(os.getpid()) or object())
    threads = [threading.Thread(target=value.get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert built == [os.getpid()]
    assert value.get() is value.get()


def child_builds_its_own(value: ForkSafe, parents: object, answers: multiprocessing.Queue) -> None:
    answers.put(value.get() is not parents and value.get()[0] == os.getpid())


def test_a_forked_child_builds_its_own() -> None:
    value = ForkSafe(lambda: (os.getpid(),))
    parents = value.get()
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    child = context.Process(target=child_builds_its_own, args=(value, parents, answers))
    child.start()
    child.join(timeout=30)
    assert answers.get(timeout=5) is True
    assert value.get() is parents  # the parent keeps its own
