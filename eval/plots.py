"""Distribution plots for reports, rendered offline to PNG bytes (matplotlib Agg, no pyplot state).

A report embeds these as data URIs so the HTML opens with no network and no
external files.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np

MAX_LABEL = 28


def distribution_png(groups: Sequence[tuple[str, Sequence[float]]], title: str, unit: str) -> bytes:
    """Box plot with the individual values jittered on top, one box per group.

    Args:
        groups: (label, finite values) per box; labels are e.g. "system" or "system (model)".
        title: plot title (the metric name).
        unit: y-axis label.

    Returns:
        PNG image bytes (about 100 dpi, width grows with the number of groups).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(4.0, 1.3 * len(groups) + 1.5), 3.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    data = [np.asarray(values, dtype=float) for _, values in groups]
    positions = np.arange(1, len(groups) + 1)
    ax.boxplot(data, positions=positions, widths=0.5, showfliers=False)
    rng = np.random.default_rng(0)  # fixed jitter: the same results give the same picture
    for x, values in zip(positions, data, strict=True):
        ax.plot(x + rng.uniform(-0.15, 0.15, len(values)), values, "o", ms=3, alpha=0.5, color="tab:blue")
    # Labels come from manifests: drawn literally, never parsed as mathtext ("$x^$" would raise).
    ax.set_xticks(positions, [_short(label) for label, _ in groups], rotation=20, ha="right", parse_math=False)
    ax.set_title(title)
    ax.set_ylabel(unit)
    ax.grid(axis="y", alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def data_uri(payload: bytes, mime: str) -> str:
    """``data:<mime>;base64,...`` for embedding ``payload`` in HTML."""
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"
