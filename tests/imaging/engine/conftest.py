"""Fixtures of the engine tests: the tiny demo diffusion models, built once per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def demo_models(tmp_path_factory: pytest.TempPathFactory):
    from imaging.engine.demo_models import demo_models_build

    return demo_models_build(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def diffusion_manager(demo_models):
    """A manager over the demo models, loaded from disk through `from_pretrained`."""
    from imaging.engine.diffusion import ModelManager

    return ModelManager(demo_models, device="cpu")
