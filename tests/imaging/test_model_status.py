"""Which model serves each operation, real or demo, as /healthz and `manage.py imaging_models`
show it; and what the weights take in memory."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from safetensors.numpy import save_file

from core.operations import Operation
from imaging.engine.demo_models import DEMO_FOLDER, DEMO_MARKER
from imaging.engine.model_footprint import files_bytes, torch_weights_bytes
from imaging.engine.offline_enhance import realesrgan_model_dir
from imaging.model_status import (
    MAGENTA_STYLE_MODEL,
    MEDIAPIPE_U2NETP_MODEL,
    Backend,
    OperationModel,
    operation_model,
    operation_model_footprint,
    operation_models,
)

EMPTY = {"text_to_image": "", "image_edit": ""}


def models(**configured: str) -> dict[str, str]:
    return {**EMPTY, **configured}


def by_operation() -> dict[Operation, OperationModel]:
    return {choice.operation: choice for choice in operation_models()}


def test_the_embedded_default_runs_diffusion_on_demo_models_and_the_rest_on_real_ones(
    tmp_path: Path,
) -> None:
    with override_settings(
        IMAGING_DIFFUSION_MODELS=EMPTY, IMAGING_MODEL_CACHE_DIR=tmp_path, IMAGING_BIREFNET_PATH=""
    ):
        choices = operation_models()
    assert [choice.operation for choice in choices] == list(Operation)
    kinds = {choice.operation: (choice.backend, choice.model, choice.kind) for choice in choices}
    demo = str(tmp_path / DEMO_FOLDER)
    assert kinds == {
        Operation.TEXT_TO_IMAGE: (Backend.DIFFUSION, demo, "demo"),
        Operation.IMAGE_EDIT: (Backend.DIFFUSION, demo, "demo"),
        Operation.BATCH_EDIT: (Backend.DIFFUSION, demo, "demo"),
        Operation.STYLE_TRANSFER: (Backend.MAGENTA, MAGENTA_STYLE_MODEL, "real"),
        Operation.REMOVE_BACKGROUND: (Backend.MEDIAPIPE, MEDIAPIPE_U2NETP_MODEL, "real"),
        Operation.ENHANCE: (Backend.REALESRGAN, "Real-ESRGAN animevideov3", "real"),
    }


@override_settings(IMAGING_DIFFUSION_MODELS=models(image_edit="Qwen/Qwen-Image-Edit-2511"))
def test_a_configured_edit_model_serves_style_transfer_and_batch_edit_too() -> None:
    choices = by_operation()
    for operation in (Operation.IMAGE_EDIT, Operation.STYLE_TRANSFER, Operation.BATCH_EDIT):
        choice = choices[operation]
        assert (choice.backend, choice.model, choice.kind) == (
            Backend.DIFFUSION,
            "Qwen/Qwen-Image-Edit-2511",
            "real",
        )
    assert choices[Operation.TEXT_TO_IMAGE].kind == "demo"  # still left empty


@override_settings(
    IMAGING_DIFFUSION_MODELS=models(text_to_image="black-forest-labs/FLUX.2-klein-4B")
)
def test_a_configured_text_model_alone_leaves_style_transfer_offline() -> None:
    choices = by_operation()
    assert choices[Operation.TEXT_TO_IMAGE].kind == "real"
    assert choices[Operation.STYLE_TRANSFER].backend == Backend.MAGENTA
    assert choices[Operation.IMAGE_EDIT].kind == "demo"


def test_a_configured_folder_holding_demo_weights_is_still_a_demo(tmp_path: Path) -> None:
    (tmp_path / DEMO_MARKER).write_text("{}")
    (tmp_path / "model_index.json").write_text("{}")
    with override_settings(IMAGING_DIFFUSION_MODELS=models(text_to_image=str(tmp_path))):
        assert operation_model(Operation.TEXT_TO_IMAGE).kind == "demo"


@override_settings(IMAGING_BIREFNET_PATH="/srv/models/birefnet", IMAGING_UPSCALE_VARIANT="x4plus")
def test_birefnet_and_the_upscale_variant_come_from_settings() -> None:
    choices = by_operation()
    background = choices[Operation.REMOVE_BACKGROUND]
    assert (background.backend, background.model, background.kind) == (
        Backend.BIREFNET,
        "/srv/models/birefnet",
        "real",
    )
    assert choices[Operation.ENHANCE].model == "Real-ESRGAN x4plus"


# --- memory ----------------------------------------------------------------------------------


def test_torch_weights_count_parameters_at_the_runtime_dtype(tmp_path: Path) -> None:
    (tmp_path / "unet").mkdir()
    (tmp_path / "vae").mkdir()
    save_file(
        {"a": np.zeros((10, 20), np.float16), "b": np.zeros(5, np.float16)},
        str(tmp_path / "unet" / "w.safetensors"),
    )
    save_file({"c": np.zeros((3, 3), np.float32)}, str(tmp_path / "vae" / "w.safetensors"))
    (tmp_path / "unet" / "w.bin").write_bytes(b"\0" * 999)  # the same weights, other format
    (tmp_path / "model_index.json").write_text("{}")
    assert torch_weights_bytes(tmp_path, bytes_per_parameter=4) == (200 + 5 + 9) * 4
    assert torch_weights_bytes(tmp_path, bytes_per_parameter=2) == (200 + 5 + 9) * 2
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "pytorch_model.bin").write_bytes(b"\0" * 1000)  # pickled only
    assert torch_weights_bytes(tmp_path, bytes_per_parameter=2) == 214 * 2 + 1000


def test_a_folder_without_weights_has_no_figure(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert torch_weights_bytes(tmp_path, bytes_per_parameter=4) is None
    assert files_bytes([tmp_path / "missing.onnx"]) is None


def test_the_offline_models_need_what_their_files_weigh() -> None:
    footprints = {
        choice.operation: operation_model_footprint(choice)
        for choice in operation_models()
        if choice.backend != Backend.DIFFUSION
    }
    folder = realesrgan_model_dir()
    assert folder is not None
    animevideov3 = sum(
        (folder / f"REALESRGAN_ANIMAVIDEOV3_UP{scale}X{suffix}").stat().st_size
        for scale in (2, 4)
        for suffix in (".param", ".bin")
    )
    assert footprints[Operation.ENHANCE].memory_bytes == animevideov3
    for footprint in footprints.values():
        assert footprint.device == "cpu"
        assert footprint.memory_bytes is not None and 10**5 < footprint.memory_bytes < 10**8


def test_demo_models_not_built_yet_have_no_figure(tmp_path: Path) -> None:
    with override_settings(IMAGING_DIFFUSION_MODELS=EMPTY, IMAGING_MODEL_CACHE_DIR=tmp_path):
        footprint = operation_model_footprint(operation_model(Operation.TEXT_TO_IMAGE))
    assert footprint.memory_bytes is None and footprint.device in {"cpu", "cuda"}


# --- where they show ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_says_which_operations_run_on_demo_models(client: Client, tmp_path: Path) -> None:
    with override_settings(IMAGING_DIFFUSION_MODELS=EMPTY, IMAGING_MODEL_CACHE_DIR=tmp_path):
        body = client.get("/healthz").json()
    assert body["models"] == {
        "image_edit": "demo",
        "remove_background": "real",
        "text_to_image": "demo",
        "enhance": "real",
        "style_transfer": "real",
        "batch_edit": "demo",
    }
    assert str(tmp_path) not in json.dumps(body)  # no folders on a page without a key


def test_the_command_prints_a_table_of_every_operation(tmp_path: Path) -> None:
    out = StringIO()
    with override_settings(IMAGING_DIFFUSION_MODELS=EMPTY, IMAGING_MODEL_CACHE_DIR=tmp_path):
        call_command("imaging_models", stdout=out)
    header, *rows = out.getvalue().splitlines()
    assert header.split() == ["operation", "model", "kind", "device", "memory"]
    assert [row.split()[0] for row in rows] == [operation.value for operation in Operation]
    style = next(row for row in rows if row.startswith("style_transfer"))
    assert MAGENTA_STYLE_MODEL in style and " real " in style and "MiB" in style
    edit = next(row for row in rows if row.startswith("image_edit"))
    assert str(tmp_path / DEMO_FOLDER) in edit and " demo " in edit and "not built yet" in edit


def test_the_command_speaks_json_too(tmp_path: Path) -> None:
    out = StringIO()
    with override_settings(IMAGING_DIFFUSION_MODELS=EMPTY, IMAGING_MODEL_CACHE_DIR=tmp_path):
        call_command("imaging_models", "--json", stdout=out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    enhance = next(row for row in rows if row["operation"] == "enhance")
    assert enhance["kind"] == "real" and enhance["device"] == "cpu"
    assert enhance["memory_bytes"] > 0
