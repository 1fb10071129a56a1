# ruff: noqa: RUF001
# (Chinese text uses full-width punctuation on purpose.)
"""Which language a description is written in: the prompt's when it has text, else the
request's, else English; every operation has both."""

from __future__ import annotations

import pytest

from imaging.engine import text
from imaging.engine.types import LANGUAGE_PARAM, EnhanceRequest, client_params, request_params


@pytest.mark.parametrize(
    ("prompt", "language", "expected"),
    [
        ("一只猫", "en", "zh"),  # the prompt's own language wins
        ("a cat", "zh-hans", "en"),
        ("", "zh-hans", "zh"),  # no prompt: the request's
        ("   ", "zh-CN", "zh"),
        ("", "zh_Hant", "zh"),
        ("", "en-US", "en"),
        ("", "fr", "en"),  # a language we do not write: English
        ("", None, "en"),
    ],
)
def test_the_description_language(prompt: str, language: str | None, expected: str) -> None:
    assert text.description_language(prompt=prompt, language=language) == expected


def test_every_operation_without_a_prompt_is_described_in_both_languages() -> None:
    values = {"count": 2, "factor": 2, "width": 8, "height": 8, "out_width": 16, "out_height": 16}
    values |= {"sigma": 3.0, "red": 1.0, "green": 1.0, "blue": 1.0, "kept": 40.0}
    values |= {"variant": "animevideov3", "method": text.UPSCALERS["realesrgan"]}
    for what in text._DESCRIPTIONS:
        given = dict(values)
        if what == "remove_background":
            given |= {"method": text.SEGMENTATION_METHODS["person"], "edges": text.EDGES[True]}
        chinese = text.description(what, language="zh-hans", demo=False, **given)
        english = text.description(what, language="en", demo=False, **given)
        assert chinese.endswith("。") and text.prompt_language(chinese) == "zh"
        assert english.endswith(".") and text.prompt_language(english) == "en"


def test_phrases_inside_a_description_follow_its_language() -> None:
    values = {"method": text.SEGMENTATION_METHODS["salient-object"], "kept": 42.4}
    chinese = text.description(
        "remove_background", language="zh", demo=False, edges=text.EDGES[False], **values
    )
    assert (
        chinese == "已用显著目标分割（GrabCut；未检测到人物）去除背景；硬边缘；前景占图像的 42%。"
    )
    english = text.description("remove_background", demo=False, edges=text.EDGES[False], **values)
    assert english == (
        "Background removed with salient-object segmentation (GrabCut; no person detected); "
        "hard edges; foreground covers 42% of the image."
    )


def test_the_demo_mark_is_in_the_description_language() -> None:
    assert text.description("style_transfer", language="zh", demo=True).endswith("（演示模型）。")
    assert text.description("style_transfer", demo=True).endswith(" (demo model).")


def test_a_tasks_stored_language_reaches_the_request_and_is_not_a_client_param() -> None:
    stored = {"enhancement_type": "color", "seed": 1, LANGUAGE_PARAM: "zh-hans"}
    assert request_params(EnhanceRequest, stored) == {
        "enhancement_type": "color",
        "language": "zh-hans",
    }
    assert client_params(stored) == {"enhancement_type": "color", "seed": 1}
