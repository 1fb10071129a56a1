"""The `nanobanana` command: every image operation, task status and the account, with a
progress bar fed by the task's real progress, `--json` output and an exit code per error."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import _exceptions as errors
from ._client import NanoBananaClient
from ._models import APIObject, ImageResult, Task
from ._version import __version__

# One exit code per error class (documented in the README); the most specific class wins.
EXIT_CODES: list[tuple[type[BaseException], int]] = [
    (errors.InvalidApiKeyError, 3),
    (errors.InsufficientCreditsError, 4),
    (errors.InvalidRequestError, 5),
    (errors.FileTooLargeError, 6),
    (errors.UnsupportedFormatError, 7),
    (errors.RateLimitError, 8),
    (errors.ProcessingError, 9),
    (errors.TaskCancelledError, 9),
    (errors.TemporaryUnavailableError, 10),
    (errors.NotFoundError, 11),
    (errors.ConflictError, 12),
    (errors.APITimeoutError, 14),
    (errors.TaskTimeoutError, 14),
    (errors.APIConnectionError, 13),
]


def exit_code_for(error: BaseException) -> int:
    return next((code for cls, code in EXIT_CODES if isinstance(error, cls)), 1)


class ProgressBar:
    """`[#####.....]  50% processing task_…` on stderr, redrawn in place on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.drawn = False

    def __call__(self, task: Task) -> None:
        if not self.enabled:
            return
        progress = int(task.get("progress") or 0)
        filled = progress * 30 // 100
        line = f"[{'#' * filled}{'.' * (30 - filled)}] {progress:3d}% {task.get('status')} "
        line += str(task.get("task_id"))
        sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
        sys.stderr.flush()
        self.drawn = True

    def done(self) -> None:
        if self.enabled and self.drawn and self.tty:
            sys.stderr.write("\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nanobanana", description="Nano Banana image API from the command line."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--api-key", help="API key (default: $NANOBANANA_API_KEY)")
    parser.add_argument("--base-url", help="API base URL (default: $NANOBANANA_BASE_URL)")
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for a task")
    sub = parser.add_subparsers(dest="command", required=True)

    def operation(name: str, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text)
        command.add_argument("-o", "--output", help="write the result image here")
        return command

    edit = operation("edit", "edit an image with a prompt")
    edit.add_argument("image", help="path or URL")
    edit.add_argument("prompt")
    edit.add_argument("--strength", type=float)
    edit.add_argument("--preserve-scene", action="store_true", default=None)
    edit.add_argument("--format", dest="output_format", choices=["jpeg", "png"])

    remove = operation("remove-bg", "remove the background")
    remove.add_argument("image", help="path or URL")
    remove.add_argument("--mask", help="also write the mask here")
    remove.add_argument("--no-edge-smooth", dest="edge_smooth", action="store_false", default=None)

    generate = operation("generate", "generate an image from text")
    generate.add_argument("prompt")
    generate.add_argument("--width", type=int)
    generate.add_argument("--height", type=int)
    generate.add_argument("--style", choices=["realistic", "anime", "artistic"])
    generate.add_argument("--quality", choices=["standard", "high"])
    generate.add_argument("--format", dest="output_format", choices=["jpeg", "png"])

    style = operation("style", "apply the style of one image to another")
    style.add_argument("content", help="content image: path or URL")
    style.add_argument("style", help="style image: path or URL")
    style.add_argument("--strength", type=float)

    enhance = operation("enhance", "upscale, denoise or colour-correct an image")
    enhance.add_argument("image", help="path or URL")
    enhance.add_argument("--type", dest="enhancement_type", choices=["upscale", "denoise", "color"])
    enhance.add_argument("--factor", dest="upscale_factor", type=int, choices=[2, 4])

    batch = sub.add_parser("batch", help="edit several images (URLs) with one prompt")
    batch.add_argument("prompt")
    batch.add_argument("image_urls", nargs="+", metavar="URL")
    batch.add_argument("--no-wait", action="store_true", help="print the submitted batch")

    task = sub.add_parser("task", help="show (or wait for, or cancel) a task")
    task.add_argument("task_id")
    task.add_argument("--wait", action="store_true")
    task.add_argument("--cancel", action="store_true")
    task.add_argument("-o", "--output", help="write the result image here")

    sub.add_parser("account", help="plan, credits and limits")
    return parser


def _options(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _submit(client: NanoBananaClient, args: argparse.Namespace) -> ImageResult:
    """The operation, answered at once (202) so that the progress bar can follow the task."""
    if args.command == "edit":
        return client.edit_image(
            prompt=args.prompt,
            image_url=args.image,
            wait=False,
            **_options(args, "strength", "preserve_scene", "output_format"),
        )
    if args.command == "remove-bg":
        return client.remove_background(
            image_url=args.image,
            return_mask=bool(args.mask) or None,
            wait=False,
            **_options(args, "edge_smooth"),
        )
    if args.command == "generate":
        return client.text_to_image(
            prompt=args.prompt,
            wait=False,
            **_options(args, "width", "height", "style", "quality", "output_format"),
        )
    if args.command == "style":
        return client.style_transfer(
            content_image_url=args.content,
            style_image_url=args.style,
            wait=False,
            **_options(args, "strength"),
        )
    return client.enhance(
        image_url=args.image, wait=False, **_options(args, "enhancement_type", "upscale_factor")
    )


def _print(args: argparse.Namespace, value: APIObject, text: str) -> None:
    print(json.dumps(value.to_dict(), ensure_ascii=False, indent=2) if args.json else text)


def _run(client: NanoBananaClient, args: argparse.Namespace) -> None:
    bar = ProgressBar(enabled=not args.quiet and not args.json)
    if args.command == "account":
        account = client.get_account()
        credits = account.credits
        balance = "unlimited" if credits.get("unlimited") else credits.balance
        _print(
            args,
            account,
            f"{account.email}  plan {account.subscription.plan}  "
            f"credits {balance}  used this month {credits.used_this_month}",
        )
        return
    if args.command == "batch":
        submitted = client.batch_edit(prompt=args.prompt, image_urls=args.image_urls, wait=False)
        if args.no_wait:
            _print(args, submitted, f"{submitted.batch_id}  {submitted.total_credits} credits")
            return
        for ref in submitted.tasks:
            client.wait_for_task(
                ref.task_id, timeout=args.timeout, on_progress=bar, raise_on_failure=False
            )
        bar.done()
        batch = client.get_batch(submitted.batch_id)
        lines = [f"{batch.batch_id}  {batch.status}"] + [
            f"  {t.task_id}  {t.status}  {t.result.image_url if t.result else ''}"
            for t in batch.tasks
        ]
        _print(args, batch, "\n".join(lines))
        return
    if args.command == "task":
        if args.cancel:
            task = client.cancel_task(args.task_id)
        elif args.wait:
            task = client.wait_for_task(args.task_id, timeout=args.timeout, on_progress=bar)
            bar.done()
        else:
            task = client.get_task_status(args.task_id)
        _finish(args, task)
        return
    accepted = _submit(client, args)
    task = client.wait_for_task(accepted.task_id, timeout=args.timeout, on_progress=bar)
    bar.done()
    _finish(args, task)


def _finish(args: argparse.Namespace, task: Task) -> None:
    saved = []
    if getattr(args, "output", None) and task.result:
        saved.append(str(task.save(args.output)))
    if getattr(args, "mask", None) and task.result and task.result.mask_url:
        saved.append(str(task.save(args.mask, which="mask")))
    url = (task.result.image_url if task.result else "") or ""
    text = f"{task.task_id}  {task.status}  {task.progress}%  {url}"
    if saved:
        text += "\nsaved " + ", ".join(saved)
    _print(args, task, text)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        with NanoBananaClient(api_key=args.api_key, base_url=args.base_url) as client:
            _run(client, args)
    except errors.NanoBananaError as error:
        if args.json:
            print(
                json.dumps(
                    {
                        "error": {
                            "code": error.code,
                            "message": error.message,
                            "details": error.details,
                            "request_id": error.request_id,
                        }
                    },
                    ensure_ascii=False,
                )
            )
        print(f"nanobanana: {error}", file=sys.stderr)
        return exit_code_for(error)
    except (OSError, TypeError, ValueError) as error:  # a missing file, a bad argument
        print(f"nanobanana: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
