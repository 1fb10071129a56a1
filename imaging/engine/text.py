# ruff: noqa: RUF001
# (Chinese text uses full-width punctuation on purpose.)
"""Prompt wording of the diffusion operations and result descriptions of every operation, in
English and Chinese.

The production models (FLUX.2 klein's Qwen3 encoder, Qwen-Image-Edit) read Chinese, so a Chinese
prompt gets Chinese additions. A description follows the prompt's language; an operation without
a prompt (or an empty one) follows the request's language (Accept-Language), else English.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

Language = Literal["en", "zh"]

# CJK ideographs (with extension A and compatibility), CJK punctuation and full-width forms.
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")

# What `style` adds to a text-to-image prompt.
STYLE_SUFFIXES = {
    "en": {
        "realistic": "photorealistic, natural lighting, fine detail, sharp focus",
        "anime": "anime style, cel shading, clean line art, vibrant colors",
        "artistic": "artistic illustration, painterly brushwork, expressive colors",
    },
    "zh": {
        "realistic": "写实摄影风格，自然光线，细节丰富，对焦清晰",
        "anime": "日系动漫风格，赛璐璐上色，线条干净，色彩鲜明",
        "artistic": "艺术插画风格，绘画笔触，色彩富有表现力",
    },
}
PRESERVE_SCENE = {
    "en": "Keep everything else in the scene exactly as it is.",
    "zh": "保持场景中的其他部分完全不变。",
}
PRESERVE_CHARACTER = {
    "en": "Keep the same character as in the last image: face, hair, clothing and proportions.",
    "zh": "保持与最后一张图中相同的人物：面部、发型、服装和身材比例。",
}
STYLE_TRANSFER_PROMPT = (
    "Redraw the first image in the artistic style of the second image: its palette, brushwork "
    "and texture. Keep the composition and subject of the first image."
)


class Phrase(NamedTuple):
    """One piece of a description in both languages; `description` picks the one it writes.
    Both are str.format templates over the same values as the description's."""

    en: str
    zh: str

    def pick(self, language: Language) -> str:
        return self.zh if language == "zh" else self.en


# What each operation (and each kind of enhancement) says it did; {names} are filled from the
# values the operation passes (a Phrase value in the description's language).
_DESCRIPTIONS: dict[str, Phrase] = {
    "text_to_image": Phrase("Generated an image from the prompt.", "已根据提示生成图像。"),
    "image_edit": Phrase("Edited the image as instructed.", "已按指令编辑图像。"),
    "style_transfer": Phrase(
        "Applied the style of the reference image to the content image.",
        "已将参考图像的风格应用到内容图像。",
    ),
    "batch_edit": Phrase(
        "Edited {count} images with one prompt.", "已用同一提示编辑 {count} 张图像。"
    ),
    "remove_background": Phrase(
        "Background removed with {method}; {edges}; foreground covers {kept:.0f}% of the image.",
        "已用{method}去除背景；{edges}；前景占图像的 {kept:.0f}%。",
    ),
    "enhance_upscale": Phrase(
        "Upscaled x{factor} with {method}, from {width}x{height} to {out_width}x{out_height}.",
        "已用{method}放大 {factor} 倍，从 {width}x{height} 到 {out_width}x{out_height}。",
    ),
    "enhance_denoise": Phrase(
        "Denoised with non-local means (estimated noise level {sigma:.1f} of 255).",
        "已用非局部均值去噪（估计噪声水平 {sigma:.1f}/255）。",
    ),
    "enhance_color": Phrase(
        "Colour corrected: automatic white balance (gains R {red:.2f}, G {green:.2f}, "
        "B {blue:.2f}), levels and local contrast (CLAHE).",
        "已校正色彩：自动白平衡（增益 R {red:.2f}、G {green:.2f}、B {blue:.2f}）、色阶和局部"
        "对比度（CLAHE）。",
    ),
}

# How background removal found the subject (offline_background's Segmentation.method).
SEGMENTATION_METHODS: dict[str, Phrase] = {
    "person": Phrase("person segmentation (MediaPipe)", "人像分割（MediaPipe）"),
    "salient-object": Phrase(
        "salient-object segmentation (GrabCut; no person detected)",
        "显著目标分割（GrabCut；未检测到人物）",
    ),
    "u2netp": Phrase(
        "salient-object segmentation (U²-Net-p; no person detected)",
        "显著目标分割（U²-Net-p；未检测到人物）",
    ),
    "birefnet": Phrase("BiRefNet segmentation", "BiRefNet 分割"),
}
# Background removal's edges, by `edge_smooth`.
EDGES: dict[bool, Phrase] = {
    True: Phrase(
        "edges refined (GrabCut band + guided filter)", "边缘已细化（GrabCut 边带 + 导向滤波）"
    ),
    False: Phrase("hard edges", "硬边缘"),
}
# What upscaled an image: the Real-ESRGAN network, or the fallback when it cannot load.
UPSCALERS: dict[str, Phrase] = {
    "realesrgan": Phrase(
        "Real-ESRGAN ({variant}, ncnn on CPU)", "Real-ESRGAN（{variant}，ncnn CPU 推理）"
    ),
    "fallback": Phrase(
        "Lanczos resampling + unsharp mask (fallback)", "Lanczos 重采样 + 反锐化掩模（后备方案）"
    ),
}
_DEMO_MARK = Phrase(" (demo model)", "（演示模型）")


def prompt_language(prompt: str) -> Language:
    """'zh' when the prompt contains CJK characters, else 'en'."""
    return "zh" if _CJK.search(prompt) else "en"


def description_language(*, prompt: str = "", language: str | None = None) -> Language:
    """The prompt's language when the prompt has text; else the request's (a language code:
    "zh", "zh-hans", "zh-CN", "zh_Hant" are Chinese, anything else English); else English."""
    if prompt.strip():
        return prompt_language(prompt)
    if language and language.replace("_", "-").split("-")[0].lower() == "zh":
        return "zh"
    return "en"


def prompt_join(prompt: str, addition: str) -> str:
    prompt = prompt.strip()
    if not addition:
        return prompt
    if prompt_language(prompt) == "zh":
        return f"{prompt.rstrip('。，,.')}，{addition}"
    return f"{prompt.rstrip(' ,.')}, {addition}" if prompt else addition


def styled_prompt(prompt: str, style: str) -> str:
    return prompt_join(prompt, STYLE_SUFFIXES[prompt_language(prompt)][style])


def edit_prompt(prompt: str, *, preserve_scene: bool) -> str:
    if not preserve_scene:
        return prompt.strip()
    language = prompt_language(prompt)
    separator = "" if language == "zh" else " "
    return f"{prompt.strip()}{separator}{PRESERVE_SCENE[language]}"


def character_prompt(prompt: str) -> str:
    language = prompt_language(prompt)
    separator = "" if language == "zh" else " "
    return f"{prompt.strip()}{separator}{PRESERVE_CHARACTER[language]}"


def description(
    what: str, *, prompt: str = "", language: str | None = None, demo: bool, **values: object
) -> str:
    """What was done (`what`: an operation, or `enhance_<type>`), in the language
    `description_language` picks, marked when the demo models made it."""
    chosen = description_language(prompt=prompt, language=language)
    filled = {
        name: value.pick(chosen).format(**values) if isinstance(value, Phrase) else value
        for name, value in values.items()
    }
    stop = "。" if chosen == "zh" else "."
    text = _DESCRIPTIONS[what].pick(chosen).format(**filled).rstrip(stop)
    return text + (_DEMO_MARK.pick(chosen) if demo else "") + stop
