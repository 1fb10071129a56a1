"""Typed requests and results of the engine's operations (the contract with imaging.runner).

The requests' defaults and choices are the only definition of them: the API's input serializers
read them (`request_default`, `request_choices`) and the runner passes what a task stored
(`request_params`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_type_hints

from PIL import Image

# A task's parameters keep the language of the request that submitted it (a language code such
# as "zh-hans" or "en", from Accept-Language or the dashboard's language) under this key: not a
# field the client sends, so never shown back as one. Descriptions without a prompt follow it.
LANGUAGE_PARAM = "_language"

# Progress in percent (0-100), reported from real per-step progress.
ProgressCallback = Callable[[int], None]
# Polled between steps; True stops the operation with OperationCancelled.
CancelCheck = Callable[[], bool]


class OperationCancelled(Exception):
    """The caller asked to stop; no result."""


class OperationFailed(Exception):
    """The operation could not produce a result; the message is safe to show to the client."""


@dataclass(frozen=True)
class TextToImageRequest:
    prompt: str
    width: int = 512
    height: int = 512
    style: Literal["realistic", "anime", "artistic"] = "realistic"
    quality: Literal["standard", "high"] = "standard"
    seed: int | None = None
    language: str | None = None  # of the request; the prompt's own, if any, wins


@dataclass(frozen=True)
class ImageEditRequest:
    prompt: str
    image: Image.Image
    strength: float = 0.8
    preserve_scene: bool = False
    seed: int | None = None
    language: str | None = None  # of the request; the prompt's own, if any, wins


@dataclass(frozen=True)
class RemoveBackgroundRequest:
    image: Image.Image
    return_mask: bool = False
    edge_smooth: bool = True
    language: str | None = None  # of the request (descriptions); None: English


@dataclass(frozen=True)
class StyleTransferRequest:
    content: Image.Image
    style: Image.Image
    strength: float = 0.8
    seed: int | None = None
    language: str | None = None  # of the request (descriptions); None: English


@dataclass(frozen=True)
class EnhanceRequest:
    image: Image.Image
    enhancement_type: Literal["upscale", "denoise", "color"] = "upscale"
    upscale_factor: Literal[2, 4] = 2
    language: str | None = None  # of the request (descriptions); None: English


@dataclass(frozen=True)
class BatchEditRequest:
    prompt: str
    images: tuple[Image.Image, ...]
    preserve_character: bool = True
    style_consistency: bool = True
    seed: int | None = None
    language: str | None = None  # of the request; the prompt's own, if any, wins


EngineRequest = (
    TextToImageRequest
    | ImageEditRequest
    | RemoveBackgroundRequest
    | StyleTransferRequest
    | EnhanceRequest
    | BatchEditRequest
)


@dataclass
class EngineResult:
    images: list[Image.Image]
    description: str  # in the prompt's language, else the request's (text.description)
    mask: Image.Image | None = None
    seed: int | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase
    demo: bool = False  # produced by the tiny random-weight demo models


def request_default(request: type, name: str) -> Any:
    """The default of one field of an engine request class."""
    (found,) = (item for item in dataclasses.fields(request) if item.name == name)
    if found.default is dataclasses.MISSING:
        raise LookupError(f"{request.__name__}.{name} has no default")
    return found.default


def request_choices(request: type, name: str) -> list[Any]:
    """The values a Literal-typed field of an engine request class takes, in order."""
    return list(get_args(get_type_hints(request)[name]))


def request_params(request: type, params: dict[str, Any]) -> dict[str, Any]:
    """Those of a task's stored parameters that are fields of `request` (the API stores them
    complete; a field missing takes the request's own default), with the submitting request's
    language (stored under `LANGUAGE_PARAM`) as `language`."""
    names = {item.name for item in dataclasses.fields(request)} - {"language"}
    found = {name: value for name, value in params.items() if name in names}
    if params.get(LANGUAGE_PARAM):
        found["language"] = params[LANGUAGE_PARAM]
    return found


def client_params(params: dict[str, Any]) -> dict[str, Any]:
    """A task's stored parameters as the client sent them: without what the platform keeps
    beside them under keys that start with "_" (`LANGUAGE_PARAM`)."""
    return {name: value for name, value in params.items() if not name.startswith("_")}
