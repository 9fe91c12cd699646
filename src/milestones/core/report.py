"""The tour report: every built milestone's claims in historical order, as HTML and Markdown.

`index.html` is self-contained (figures embedded as base64 PNG); `report.md` links the
figure files beside it. Milestones not built yet appear in the timeline as such. The caller
gives the milestones (the registry's entries) and the runner that trains claim runs.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .claims import Evidence, Runner


def last_verdicts(root: Path) -> dict[str, dict[str, Evidence]]:
    """The newest evidence.json per (milestone, claim) under a runs folder."""
    found: dict[str, dict[str, tuple[float, Evidence]]] = {}
    if not root.is_dir():
        return {}
    for path in root.rglob("evidence.json"):
        try:
            ev = Evidence.read(path)
        except Exception:  # noqa: BLE001 - a damaged file is skipped, not fatal to `list`
            continue
        mtime = path.stat().st_mtime
        cur = found.setdefault(ev.milestone, {}).get(ev.claim)
        if cur is None or cur[0] < mtime:
            found[ev.milestone][ev.claim] = (mtime, ev)
    return {m: {c: ev for c, (_, ev) in claims.items()} for m, claims in found.items()}


def tour(out: Path, milestones: list[Any], runner: Runner, preset: str = "small", seeds: list[int] | None = None,
         only: set[str] | None = None, echo: Callable[[str], None] = print) -> Path:
    """Run every built milestone's claims (or those of `only`) in the order given, and write
    index.html and report.md."""
    seeds = seeds if seeds is not None else [0, 1, 2]
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[Evidence]] = {}
    times: dict[str, float] = {}
    t_all = time.time()
    for m in milestones:
        if not m.built:
            echo(f"\n== {m.number}. {m.name} ({m.year}): not built yet")
            continue
        if only is not None and m.name not in only:
            echo(f"\n== {m.number}. {m.name} ({m.year}): not in this tour (--only)")
            continue
        echo(f"\n== {m.number}. {m.name} ({m.year}): {m.title}")
        t0 = time.time()
        results[m.name] = [c.run(preset, seeds, runner, out / m.name / c.name, echo=echo) for c in m.claims]
        times[m.name] = time.time() - t0
    total = time.time() - t_all
    (out / "report.md").write_text(markdown(milestones, results, times, total, preset, seeds, out))
    page = out / "index.html"
    page.write_text(to_html(milestones, results, times, total, preset, seeds))
    return page


def _rel(path: str | None, base: Path) -> str | None:
    if not path:
        return None
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return path


def markdown(milestones: list[Any], results: dict[str, list[Evidence]], times: dict[str, float], total: float,
             preset: str, seeds: list[int], base: Path) -> str:
    lines = ["# milestones: the tour", "",
             f"Preset `{preset}`, seeds {', '.join(map(str, seeds))}, {total / 60:.1f} minutes in all. "
             "Each claim states the paper's result and our rule before it is measured; the rule is applied "
             "to each seed, and the verdict counts the seeds on which it held.", "",
             "| # | year | milestone | claim | paper | ours | verdict | time |",
             "|---|---|---|---|---|---|---|---|"]
    for m in milestones:
        if m.name not in results:
            lines.append(f"| {m.number} | {m.year} | {m.name} | {m.claim} | | | {_absent(m)} | |")
            continue
        for ev in results[m.name]:
            lines.append(f"| {m.number} | {m.year} | {m.name} | {ev.title} | {ev.paper_value} | {ev.ours} | "
                         f"**{ev.verdict}** | {ev.seconds:.0f} s |")
    for m in milestones:
        lines += ["", f"## {m.number}. {m.name} ({m.year})", "", f"*{m.title}*, {m.authors.rstrip('.')}. {m.link}", "",
                  f"Idea: {m.idea}", ""]
        if m.name not in results:
            lines.append(_absent(m).capitalize() + ".")
            continue
        lines.append(f"Claims took {times[m.name]:.0f} s.")
        for ev in results[m.name]:
            lines += ["", f"### {ev.title}: {ev.verdict}", "", f"- Paper: {ev.paper} ({ev.paper_value})",
                      f"- Rule, for each seed: {ev.rule}", f"- Ours: {ev.ours}"]
            if ev.reference:
                lines.append(f"- On {ev.reference['seeds']} seeds: {ev.reference['verdict']}")
            if ev.note:
                lines.append(f"- Note: {ev.note}")
            if ev.budget_note:
                lines.append(f"- Budget: {ev.budget_note}")
            fig = _rel(ev.figure, base)
            if fig:
                lines += ["", f"![{ev.claim}]({fig})"]
    return "\n".join(lines) + "\n"


def _absent(m: Any) -> str:
    return "not in this tour" if m.built else "not built yet"


def _img(path: str | None) -> str:
    if not path or not Path(path).exists():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def _css(ev: Evidence) -> str:
    return {"holds": "ok", "mixed": "mx"}.get(ev.outcome, "no")


def to_html(milestones: list[Any], results: dict[str, list[Evidence]], times: dict[str, float], total: float,
            preset: str, seeds: list[int]) -> str:
    e = html.escape
    rows, sections = [], []
    for m in milestones:
        built = m.name in results
        authors = m.authors.rstrip(".")
        verdicts = ", ".join(f'<span class="{_css(ev)}">{e(ev.verdict)}</span>'
                             for ev in results.get(m.name, [])) or f'<span class="nb">{_absent(m)}</span>'
        rows.append(f'<tr><td>{m.year}</td><td><a href="#{m.name}">{e(m.name)}</a></td><td>{e(m.title)}</td>'
                    f'<td>{verdicts}</td></tr>')
        body = [f'<section id="{m.name}"><h2>{m.number}. {e(m.name)} <small>{m.year}</small></h2>',
                f'<p><em>{e(m.title)}</em>, {e(authors)}. <a href="{e(m.link)}">{e(m.link)}</a></p>',
                f'<p class="idea">{e(m.idea)}</p>']
        if not built:
            body.append(f'<p class="nb">{_absent(m).capitalize()}. Its claim: {e(m.claim)}</p>')
        else:
            body.append(f"<p>Claims took {times[m.name]:.0f} s.</p>")
            for ev in results[m.name]:
                cls = _css(ev)
                ref = f"{ev.reference['verdict']}: {ev.reference['numbers']}" if ev.reference else ""
                extra = "".join(f"<tr><th>{k}</th><td>{e(v)}</td></tr>" for k, v in
                                (("on more seeds", ref), ("note", ev.note), ("budget", ev.budget_note)) if v)
                body.append(
                    f'<div class="claim"><h3>{e(ev.title)}: <span class="{cls}">{e(ev.verdict)}</span></h3>'
                    f'<table><tr><th>paper</th><td>{e(ev.paper)} <b>({e(ev.paper_value)})</b></td></tr>'
                    f'<tr><th>rule, per seed</th><td>{e(ev.rule)}</td></tr>'
                    f'<tr><th>ours</th><td><b>{e(ev.ours)}</b></td></tr>{extra}'
                    f'<tr><th>time</th><td>{ev.seconds:.0f} s, seeds {ev.seeds}</td></tr></table>'
                    f'{_img(ev.figure)}</div>')
        body.append("</section>")
        sections.append("\n".join(body))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>milestones: the tour</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; margin: .5rem 0; }} td, th {{ border: 1px solid #ddd; padding: .3rem .6rem;
text-align: left; vertical-align: top; }} th {{ background: #f6f6f6; }}
.ok {{ color: #13795b; font-weight: bold; }} .no {{ color: #b42318; font-weight: bold; }} .nb {{ color: #888; }}
.mx {{ color: #9a6700; font-weight: bold; }}
.claim {{ border-left: 4px solid #ddd; padding-left: 1rem; margin: 1.5rem 0; }} img {{ max-width: 100%; }}
.idea {{ font-size: 1.1rem; }}
</style></head><body>
<h1>milestones: the history of deep learning, 2012&ndash;2020, run</h1>
<p>Preset <code>{e(preset)}</code>, seeds {e(", ".join(map(str, seeds)))}, {total / 60:.1f} minutes in all. Each
claim states the paper's result and our rule before measuring; the rule is applied to each seed, and the verdict
counts the seeds on which it held: holds (all), mixed (some), does not hold (none).</p>
<table><tr><th>year</th><th>milestone</th><th>paper</th><th>verdicts</th></tr>
{chr(10).join(rows)}
</table>
{chr(10).join(sections)}
</body></html>
"""
