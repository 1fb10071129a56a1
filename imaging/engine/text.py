# ruff: noqa: RUF001
# (Chinese text uses full-width punctuation on purpose.)
"""Prompt wording and result descriptions of the diffusion operations, in English and Chinese.

The production models (FLUX.2 klein's Qwen3 encoder, Qwen-Image-Edit) read Chinese, so a Chinese
prompt gets Chinese additions and the client gets a Chinese description back.
"""

from __future__ import annotations

import re

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

_DESCRIPTIONS = {
    "text_to_image": ("Generated an image from the prompt.", "已根据提示生成图像。"),
    "image_edit": ("Edited the image as instructed.", "已按指令编辑图像。"),
    "style_transfer": (
        "Applied the style of the reference image to the content image.",
        "已将参考图像的风格应用到内容图像。",
    ),
    "batch_edit": ("Edited {count} images with one prompt.", "已用同一提示编辑 {count} 张图像。"),
}


def prompt_language(prompt: str) -> str:
    """'zh' when the prompt contains CJK characters, else 'en'."""
    return "zh" if _CJK.search(prompt) else "en"


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


def description(operation: str, *, prompt: str = "", demo: bool, **values: object) -> str:
    """What was done, in the prompt's language, marked when the demo models made it."""
    english, chinese = _DESCRIPTIONS[operation]
    if prompt_language(prompt) == "zh":
        return chinese.format(**values).rstrip("。") + ("（演示模型）" if demo else "") + "。"
    return english.format(**values).rstrip(".") + (" (demo model)" if demo else "") + "."
