"""WCAG 2.2 AA contrast of the colours axe-core cannot judge: borders, focus ring, canvas drawing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[3] / "static"
BASE_CSS = (STATIC / "base.css").read_text()
WORKBENCH_JS = (STATIC / "review" / "workbench.js").read_text()


def variable(name: str) -> str:
    return re.search(rf"--{name}:\s*(#[0-9a-fA-F]{{6}})", BASE_CSS).group(1)


def luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(one: str, other: str) -> float:
    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_contrast_helper_agrees_with_known_ratios():
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    # The old focus ring on white, which the issue measured at about 2:1.
    assert contrast("#f2a900", "#ffffff") == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize("background", ["#ffffff", "#f6f7f9", "#fbfcfd"])
def test_control_borders_and_the_focus_ring_stand_out_three_to_one(background):
    assert contrast(variable("control-line"), background) >= 3
    assert contrast(variable("focus"), background) >= 3


def test_the_waveform_draws_unplayed_bars_and_ruler_text_readably():
    canvas = "#fbfcfd"
    unplayed = re.search(r'\? "#1f5fbf" : "(#[0-9a-f]{6})"', WORKBENCH_JS).group(1)
    assert contrast(unplayed, canvas) >= 3
    assert contrast("#1f5fbf", canvas) >= 3
    ruler_text = re.search(r'ctx.fillStyle = "(#[0-9a-f]{6})";\n    ctx.font', WORKBENCH_JS).group(1)
    assert contrast(ruler_text, "#eef1f5") >= 4.5
