"""The quality benchmark (bench/quality.py) in its quick mode: it runs end to end, its table has
every row with numbers, and the figures pass sanity checks that a broken metric or a broken
operation would fail (its goals are the report's, not ours)."""

from __future__ import annotations

import re

import pytest

from tests.integration.stack import bench_quick

pytestmark = pytest.mark.integration

NUMBER = r"[-+]?\d+(?:\.\d+)?"
# A table row: | figure | ours | baseline | difference or ratio | goal | met? |
ROW = re.compile(
    rf"^\| (?P<figure>[^|]+?) +\| (?P<ours>{NUMBER}) +\| (?P<baseline>{NUMBER}) +"
    rf"\| (?P<compared>[-+]?\d+\.\d+x?) +\| (?P<goal>[^|]*?) *\| (?P<met>yes|NO|) *\|$",
    re.M,
)
FIGURES = (
    "background: mask IoU, persons",
    "background: boundary F, persons",
    "background: mask IoU, other",
    "background: boundary F, other",
    "background: s / MP",
    "upscale x2 animevideov3 (n=1, 96²): PSNR-Y dB (vs Bicubic)",
    "upscale x2 animevideov3 (n=1, 96²): PSNR-Y dB (vs Lanczos)",
    "upscale x2 animevideov3 (n=1, 96²): SSIM-Y (vs Bicubic)",
    "upscale x2 animevideov3 (n=1, 96²): SSIM-Y (vs Lanczos)",
    "upscale x2 animevideov3 (n=1, 96²): s / input MP",
    "upscale x4 animevideov3 (n=1, 96²): PSNR-Y dB (vs Bicubic)",
    "upscale x4 animevideov3 (n=1, 96²): SSIM-Y (vs Lanczos)",
    "upscale x4 animevideov3 (n=1, 96²): s / input MP",
    "denoise sigma=15 (n=1): PSNR dB (vs OpenCV NL-means defaults)",
    "denoise sigma=15 (n=1): PSNR dB (vs bilateral 9/75/75)",
    "denoise sigma=15 (n=1): PSNR dB (vs the noisy input)",
    "denoise sigma=25 (n=1): PSNR dB (vs OpenCV NL-means defaults)",
    "denoise sigma=25 (n=1): PSNR dB (vs the noisy input)",
    "denoise: s / MP",
    "style transfer (n=1, 128 px): edge SSIM to content (vs Reinhard)",
    "style transfer (n=1, 128 px): LAB distance to style (vs Reinhard)",
    "style transfer (n=1, 128 px): s / MP",
)


@pytest.fixture(scope="module")
def rows() -> dict[str, re.Match]:
    run = bench_quick("quality.py")  # exit 0: no section crashed
    assert "ERROR" not in run.stdout, run.stdout[-4000:]
    found = {match["figure"]: match for match in ROW.finditer(run.stdout)}
    assert found, run.stdout[-4000:]
    return found


def row(rows: dict[str, re.Match], start: str) -> re.Match:
    (match,) = (found for figure, found in rows.items() if figure.startswith(start))
    return match


def value(rows: dict[str, re.Match], start: str, column: str = "ours") -> float:
    return float(row(rows, start)[column])


def test_every_figure_has_a_row_with_numbers(rows: dict[str, re.Match]) -> None:
    for figure in FIGURES:
        match = row(rows, figure)
        assert match["ours"] and match["baseline"] and match["compared"], figure
    # every quality row states a goal and whether it was met; timings have neither
    for figure, match in rows.items():
        assert bool(match["goal"]) == bool(match["met"]) == ("s / " not in figure), figure


def test_mask_scores_are_fractions_and_ours_beats_centre_grabcut_on_persons(
    rows: dict[str, re.Match],
) -> None:
    for figure in FIGURES[:4]:
        for column in ("ours", "baseline"):
            assert 0.0 <= value(rows, figure, column) <= 1.0, (figure, column)
    person = value(rows, "background: mask IoU, persons")
    assert person > value(rows, "background: mask IoU, persons", "baseline") or person > 0.5


def test_upscale_scores_are_plausible(rows: dict[str, re.Match]) -> None:
    bicubic = "upscale x2 animevideov3 (n=1, 96²): PSNR-Y dB (vs Bicubic)"
    assert value(rows, bicubic, "baseline") > 20.0  # bicubic x2 on a photo crop: ~30 dB
    assert value(rows, bicubic) > 20.0  # Real-ESRGAN ran (a black or shifted image: < 15 dB)
    assert value(rows, "upscale x4 animevideov3 (n=1, 96²): PSNR-Y dB (vs Bicubic)") < value(
        rows, bicubic
    )  # x4 is harder than x2
    for figure in ("SSIM-Y (vs Bicubic)", "SSIM-Y (vs Lanczos)"):
        assert 0.0 < value(rows, f"upscale x2 animevideov3 (n=1, 96²): {figure}") <= 1.0


def test_our_denoise_improves_on_the_noisy_input(rows: dict[str, re.Match]) -> None:
    for sigma in (15, 25):
        assert value(rows, f"denoise sigma={sigma} (n=1): PSNR dB (vs the noisy input)", "ours") > (
            value(rows, f"denoise sigma={sigma} (n=1): PSNR dB (vs the noisy input)", "baseline")
        )
    noisy_15 = value(rows, "denoise sigma=15 (n=1): PSNR dB (vs the noisy input)", "baseline")
    noisy_25 = value(rows, "denoise sigma=25 (n=1): PSNR dB (vs the noisy input)", "baseline")
    assert noisy_15 > noisy_25  # more noise, lower PSNR: 20·log10(255/sigma) ≈ 24.6 / 20.2 dB
    assert abs(noisy_25 - 20.2) < 1.0


def test_style_transfer_moves_colour_and_reinhard_keeps_structure(
    rows: dict[str, re.Match],
) -> None:
    colour = "style transfer (n=1, 128 px): LAB distance to style (vs Reinhard)"
    content_distance = float(re.search(rf"content's ({NUMBER})", row(rows, colour)["goal"])[1])  # type: ignore[index]
    assert value(rows, colour) < content_distance  # the result is closer to the style
    assert value(rows, colour, "baseline") < content_distance
    edges = "style transfer (n=1, 128 px): edge SSIM to content (vs Reinhard)"
    # a per-pixel colour map keeps the edges where they were
    assert value(rows, edges, "baseline") > 0.7
    assert -1.0 <= value(rows, edges) <= 1.0
