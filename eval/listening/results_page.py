"""The owner's results page: the analysis dict rendered as plain HTML tables, every value escaped."""

from __future__ import annotations

import html
from urllib.parse import quote

SECTIONS = (("pairs", "Pairwise preference (ties excluded from rate, CI and p)"),
            ("bradley_terry", "Bradley-Terry strengths"), ("mos", "Mean opinion score per system"),
            ("cmos", "CMOS per system pair (Y relative to X)"), ("raters", "Raters"),
            ("correlations", "Correlation with objective metrics (per item)"), ("comments", "Comments"))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return "–"
    if isinstance(value, list):
        return html.escape(", ".join(str(v) for v in value))
    return html.escape(str(value))


def table(rows: list[dict]) -> str:
    """An HTML table of dict rows (keys of the first row as columns), all content escaped."""
    if not rows:
        return "<p>No data yet.</p>"
    columns = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _sections(analysis: dict) -> str:
    parts = []
    for key, title in SECTIONS:
        if key not in analysis or analysis[key] is None:
            continue
        rows = analysis[key]["systems"] if key == "bradley_terry" else analysis[key]
        parts.append(f"<h2>{html.escape(title)}</h2>{table(rows)}")
    return "".join(parts)


def render(analysis: dict, token: str | None = None) -> str:
    """Self-contained HTML of a test's results; export links carry ``token`` when given."""
    test = analysis["test"]
    facts = [{"field": k, "value": v} for k, v in test.items() if k != "source"]
    facts.append({"field": "source", "value": ", ".join(f"{k}={v}" for k, v in (test.get("source") or {}).items())})
    rules = [{"rule": k, "text": v} for k, v in analysis["rules"].items()]
    exports = ""
    if token:
        base = f"/listen/api/tests/{quote(test['id'])}/export/"
        exports = "<h2>Exports</h2><p>" + " · ".join(
            f'<a href="{html.escape(base + name)}?token={html.escape(quote(token))}">{name}</a>'
            for name in ("votes.csv", "votes.json", "analysis.csv", "analysis.json")) + "</p>"
    effect = ""
    if "exclusion_effect" in analysis:
        other = analysis["exclusion_effect"]
        effect = (f"<h2>Effect of excluding flagged raters: {html.escape(other['other_view'])}</h2>"
                  + _sections({k: v for k, v in other.items() if k in ("pairs", "bradley_terry", "mos", "cmos")}))
    view = "flagged raters excluded" if analysis["excluded_flagged"] else "all raters"
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Listening test results</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}table{{border-collapse:collapse;margin:.5rem 0}}
td,th{{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;font-size:.9rem}}th{{background:#f3f3f3}}</style>
</head><body><h1>Results: {html.escape(test['question'])}</h1><p>View: {html.escape(view)}</p>
{table(facts)}{_sections(analysis)}{effect}<h2>Rules</h2>{table(rules)}{exports}</body></html>"""
