"""The self-contained HTML report: one file, no network, every manifest/transcript string escaped.

Plots are PNG data URIs and audio is WAV data URIs, so the file opens offline
and can be mailed around. A Content-Security-Policy forbids scripts and any
remote load as a second line of defence behind :func:`html.escape`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from eval.summary import Comparison, SummaryRow

CSP = "default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'"
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.del{background:#fdd;text-decoration:line-through}.ins{background:#dfd}.sub{background:#ffe9b3}
.err{color:#a00}code{font-size:90%}img{max-width:100%}
"""


class Html(str):
    """A string that is already safe HTML (built here, never from user text)."""


def esc(value: Any) -> Html:
    """Escape any value for HTML text or attribute context (already-safe Html passes through)."""
    return value if isinstance(value, Html) else Html(html.escape(str(value), quote=True))


def number(value: float | None, digits: int = 3) -> str:
    """Fixed-point text for a number; an en dash for NaN/None."""
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = ()) -> Html:
    """An HTML table; every cell is escaped unless it is Html, ``numeric`` columns are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if i in numeric else ''}>{esc(c)}</td>" for i, c in enumerate(row))
        + "</tr>" for row in rows)
    return Html(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def summary_table(summary: Sequence[SummaryRow]) -> Html:
    """The per system/metric/model/statistic table."""
    rows = [(s.system, s.metric, s.statistic, s.model, s.n, s.n_failed, s.n_skipped, number(s.mean),
             f"[{number(s.ci_low)}, {number(s.ci_high)}]" if math.isfinite(s.ci_low) else "–", s.ci_method)
            for s in summary]
    return table(["system", "metric", "statistic", "model", "n", "failed", "skipped", "value", "95% CI", "CI method"],
                 rows, numeric=(4, 5, 6, 7))


def comparison_table(comparisons: Sequence[Comparison]) -> Html:
    """Pairwise mean differences (a − b) with bootstrap CI and Wilcoxon p."""
    if not comparisons:
        return Html("<p>None: no two systems share at least two scored utterance ids for the same metric "
                    "and model.</p>")
    rows = [(c.metric, c.model, c.system_a, c.system_b, c.n_pairs, number(c.mean_difference),
             f"[{number(c.ci_low)}, {number(c.ci_high)}]", number(c.wilcoxon_p, 4)) for c in comparisons]
    return table(["metric", "model", "system a", "system b", "pairs", "mean a − b", "95% CI", "Wilcoxon p"],
                 rows, numeric=(4, 5, 7))


def alignment_html(chunks: Sequence[dict[str, Any]]) -> Html:
    """Expected text vs transcript, word by word: deletions struck, insertions green, substitutions ref→hyp."""
    parts = []
    for chunk in chunks:
        ref, hyp = " ".join(chunk.get("ref") or []), " ".join(chunk.get("hyp") or [])
        kind = chunk.get("type")
        if kind == "equal":
            parts.append(str(esc(ref)))
        elif kind == "delete":
            parts.append(f'<span class=del title="deleted">{esc(ref)}</span>')
        elif kind == "insert":
            parts.append(f'<span class=ins title="inserted">{esc(hyp)}</span>')
        else:
            parts.append(f'<span class=sub title="substituted">{esc(ref)} → {esc(hyp)}</span>')
    return Html(" ".join(parts))


def audio_tag(uri: str | None, anchor: str) -> Html:
    """An inline audio player for a data URI, with an id other cells can link to ("–" without audio)."""
    if not uri:
        return Html("–")
    if not uri.startswith("data:audio/"):
        raise ValueError("audio_tag embeds data URIs only")
    return Html(f'<audio id="{esc(anchor)}" controls preload=none src="{esc(uri)}"></audio>')


def audio_link(anchor: str) -> Html:
    """A link to a player already embedded elsewhere in the page (each clip is embedded once)."""
    return Html(f'<a href="#{esc(anchor)}">play (embedded above)</a>')


def image_tag(uri: str, alt: str) -> Html:
    """An inline image for a PNG data URI."""
    if not uri.startswith("data:image/"):
        raise ValueError("image_tag embeds data URIs only")
    return Html(f'<img src="{esc(uri)}" alt="{esc(alt)}">')


def bullet_list(items: Sequence[Any]) -> Html:
    """An escaped <ul>."""
    if not items:
        return Html("<p>None.</p>")
    return Html("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>")


def page(title: str, sections: Sequence[tuple[str, Html]]) -> str:
    """The whole document: a heading and (heading, body) sections."""
    body = "".join(f"<section><h2>{esc(h)}</h2>{content}</section>" for h, content in sections)
    return (f'<!doctype html><html lang=en><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
            f"<body><h1>{esc(title)}</h1>{body}</body></html>")
