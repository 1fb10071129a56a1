"""Runs one task's operation on the worker: inputs from storage, the engine, results to storage."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from functools import cache
from types import TracebackType

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection

from core.logs import log_context_bind
from core.operations import Operation
from imaging.engine import types as engine
from imaging.selectors import task_by_pk, task_is_cancelled
from imaging.services import task_complete, task_lease_renew, task_progress
from imaging.storage import DEFAULT_OUTPUT_FORMAT, image_open, image_save

logger = logging.getLogger(__name__)

# How often a running task writes its progress and looks whether it was cancelled (seconds).
PROGRESS_SECONDS = 0.5


def task_execute(*, task_id: int, claim_id: str | None) -> dict[str, float]:
    """Everything between a claimed task and a completed one; raises on failure. The claim's
    lease is renewed throughout; once it is lost (cancelled, or taken over after this worker
    stalled) the engine stops at its next progress check. Returns where the worker's time went,
    in seconds (`WorkerClock.phases`): the engine's own time apart from ours around it."""
    clock = WorkerClock()
    with clock.phase("inputs"):
        task = task_by_pk(task_id=task_id)
        log_context_bind(task_id=task.public_id, account_id=task.account_id)  # on every log line
        images = [image_open(name=name) for name in task.input_files]
    # A cancellation is looked for at most every PROGRESS_SECONDS, and not before the first has
    # passed: an operation of a few milliseconds read its task once more for nothing, a round trip
    # beside a 1 ms engine call (bench/queueing.py). Progress is written by the lease's thread.
    looked = [time.perf_counter()]

    def should_cancel() -> bool:
        if lease.lost:
            return True
        now = time.perf_counter()
        if now - looked[0] < PROGRESS_SECONDS:
            return False
        looked[0] = now
        with clock.phase("progress"):
            return task_is_cancelled(task_id=task_id)

    started = time.perf_counter()
    with LeaseKeeper(task_id=task_id, claim_id=claim_id) as lease, clock.phase("engine"):
        result = engine_run(
            operation=Operation(task.operation),
            params=task.params,
            images=images,
            on_progress=lease.progress,
            should_cancel=should_cancel,
        )
    output_format = task.params.get("output_format", DEFAULT_OUTPUT_FORMAT)
    with clock.phase("store"):
        result_files = [
            image_save(folder="results", account_id=task.account_id, image=image, fmt=output_format)
            for image in result.images
        ]
        mask_file = ""
        if result.mask is not None:
            mask_file = image_save(folder="results", account_id=task.account_id, image=result.mask)
    timings = {**result.timings, "total": round(time.perf_counter() - started, 3)}
    with clock.phase("finish"):  # the row, usage (triggers), waiters woken, metrics, webhooks
        completed = task_complete(
            task_id=task_id,
            result_files=result_files,
            mask_file=mask_file,
            description=result.description,
            seed=result.seed,
            timings=timings,
            demo=result.demo,
            claimed=task,
        )
    if not completed:  # cancelled while the engine ran: nobody will ever see these files
        for name in [*result_files, mask_file]:
            if name:
                default_storage.delete(name)
    return clock.phases


class WorkerClock:
    """Seconds per phase of a task on the worker. Phases may nest: the progress callbacks run
    inside the engine call, and their time counts as theirs, not the engine's, so that
    `phases["engine"]` is the operation itself and the rest is the worker's own cost."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._open: list[list] = []  # [name, started, time of nested phases]

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        frame = [name, time.perf_counter(), 0.0]
        self._open.append(frame)
        try:
            yield
        finally:
            self._open.pop()
            spent = time.perf_counter() - frame[1]
            self.phases[name] = self.phases.get(name, 0.0) + spent - frame[2]
            if self._open:
                self._open[-1][2] += spent


class LeaseKeeper:
    """Renews a claimed task's lease from a thread of its own while the engine runs (the engine
    may go long between progress callbacks); `lost` once the claim no longer holds the task.

    The same thread writes the latest progress the engine reported (`progress`), at most every
    PROGRESS_SECONDS and not before the first has passed: a task of a few milliseconds writes
    none (nobody polls that fast), and a value reported just before a long silent stretch of the
    engine still shows while that stretch runs, instead of being dropped as too soon."""

    def __init__(self, *, task_id: int, claim_id: str | None) -> None:
        self.task_id = task_id
        self.claim_id = claim_id
        self.lost = False
        self._reported: int | None = None  # set by the engine's thread, read by this one
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name=f"lease-{task_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def progress(self, percent: int) -> None:
        self._reported = percent

    def _keep(self) -> None:
        renew_every = settings.IMAGING_TASK_LEASE_RENEW_SECONDS
        renew_at = time.monotonic() + renew_every
        written: int | None = None
        try:
            while not self._stop.wait(min(PROGRESS_SECONDS, renew_every)):
                try:
                    reported = self._reported
                    if reported is not None and reported != written:
                        task_progress(
                            task_id=self.task_id, percent=reported, claim_id=self.claim_id
                        )
                        written = reported
                    if time.monotonic() >= renew_at:
                        if not task_lease_renew(task_id=self.task_id, claim_id=self.claim_id):
                            self.lost = True
                            return
                        renew_at = time.monotonic() + renew_every
                except DatabaseError:
                    # The database is away for a moment: the task runs on, and the next tick
                    # tries again on a fresh connection (the lease outlasts a few renewals).
                    logger.warning(
                        "task %s: could not write its progress or lease",
                        self.task_id,
                        exc_info=True,
                    )
                    connection.close()
        finally:
            connection.close()  # this thread's own connection; nothing else would close it


def engine_run(
    *,
    operation: Operation,
    params: dict,
    images: list,
    on_progress: engine.ProgressCallback,
    should_cancel: engine.CancelCheck,
) -> engine.EngineResult:
    """Build the engine's typed request from stored parameters and dispatch it."""
    hooks = {"on_progress": on_progress, "should_cancel": should_cancel}
    match operation:
        case Operation.REMOVE_BACKGROUND:
            from imaging.engine.offline_background import remove_background

            request = engine.RemoveBackgroundRequest(
                image=images[0], **engine.request_params(engine.RemoveBackgroundRequest, params)
            )
            return remove_background(
                request, birefnet_path=settings.IMAGING_BIREFNET_PATH or None, **hooks
            )
        case Operation.ENHANCE:
            from imaging.engine.offline_enhance import enhance

            request = engine.EnhanceRequest(
                image=images[0], **engine.request_params(engine.EnhanceRequest, params)
            )
            return enhance(request, variant=settings.IMAGING_UPSCALE_VARIANT, **hooks)
        case Operation.STYLE_TRANSFER if style_transfer_runs_offline():
            from imaging.engine.offline_style import style_transfer_offline

            request = engine.StyleTransferRequest(
                content=images[0],
                style=images[1],
                **engine.request_params(engine.StyleTransferRequest, params),
            )
            return style_transfer_offline(request, **hooks)
    from imaging.engine import diffusion

    manager = model_manager()
    match operation:
        case Operation.TEXT_TO_IMAGE:
            request = engine.TextToImageRequest(
                **engine.request_params(engine.TextToImageRequest, params)
            )
            return diffusion.text_to_image(request, manager=manager, **hooks)
        case Operation.IMAGE_EDIT:
            request = engine.ImageEditRequest(
                image=images[0], **engine.request_params(engine.ImageEditRequest, params)
            )
            return diffusion.image_edit(request, manager=manager, **hooks)
        case Operation.STYLE_TRANSFER:
            request = engine.StyleTransferRequest(
                content=images[0],
                style=images[1],
                **engine.request_params(engine.StyleTransferRequest, params),
            )
            return diffusion.style_transfer(request, manager=manager, **hooks)
        case Operation.BATCH_EDIT:
            # Items after a batch's first carry its first image as their reference: the engine
            # edits [reference, own] so the first result anchors character and style, and the
            # task keeps its own result.
            own, *reference = images
            request = engine.BatchEditRequest(
                images=(*reference, own), **engine.request_params(engine.BatchEditRequest, params)
            )
            result = diffusion.batch_edit(request, manager=manager, **hooks)
            result.images = result.images[-1:]
            return result
    raise engine.OperationFailed(f"unknown operation {operation}")


def style_transfer_runs_offline() -> bool:
    """Whether style transfer uses the offline Magenta network (imaging.engine.offline_style):
    when no real style or edit model is configured, the diffusion path would run the tiny
    random-weight demo models and return noise; GPU hosts with real weights keep diffusion."""
    models = settings.IMAGING_DIFFUSION_MODELS
    return not models.get("style_transfer") and not models.get("image_edit")


@cache
def model_manager():
    """One resident model manager per worker process."""
    from imaging.engine import diffusion

    return diffusion.model_manager_from_settings(
        models=settings.IMAGING_DIFFUSION_MODELS, cache_dir=settings.IMAGING_MODEL_CACHE_DIR
    )
