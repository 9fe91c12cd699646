"""The tour report: every built milestone's claims in historical order, as HTML and Markdown.

`index.html` and `report.md` link the figures beside them (`<milestone>/<claim>/figure.png`), so
the folder can be published as it is (docs/tour/ is one). The page opens with a stamp (date,
commit, versions, CPU, threads, preset, seeds) and a table of every claim with the paper's number,
ours and the verdict; each claim then has its rule, its figure with a line saying what to look at,
examples of what the trained models produced, and the command that measures it again. At a
smoke-test preset (tiny) the page and the verdicts say so. Milestones not built yet appear in the
timeline as such. The caller gives the milestones (the registry's entries) and the runner.
"""

from __future__ import annotations

import html
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .claims import SMOKE_PRESETS, SMOKE_WARNING, Evidence, Prefetch, Runner, _span, ahead_of, reproduce_command
from .pool import default_workers
from .provenance import commit, cpu


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
         only: set[str] | None = None, echo: Callable[[str], None] = print, prefetch: Prefetch | None = None) -> Path:
    """Run every built milestone's claims (or those of `only`) in the order given, and write
    index.html and report.md. With `prefetch`, the next claim's first runs train on the workers
    this one leaves idle. Stopped (Ctrl-C, or a signal the caller turns into an exception with
    a `signum`), it writes the report of the claims that finished, marked as interrupted, and
    re-raises."""
    seeds = seeds if seeds is not None else [0, 1, 2]
    out.mkdir(parents=True, exist_ok=True)
    if preset in SMOKE_PRESETS:
        echo(f"milestones: {SMOKE_WARNING}")
    results: dict[str, list[Evidence]] = {}
    times: dict[str, float] = {}
    t_all = time.time()
    at = commit()  # before the tour writes its files (the published tour's are tracked)
    stopped: BaseException | None = None
    chosen = [c for m in milestones if m.built and (only is None or m.name in only) for c in m.claims]
    ahead = ahead_of(chosen, preset, seeds, prefetch)
    expected = expected_seconds(chosen, seeds, default_workers())
    if preset == "small" and chosen:
        echo(f"milestones: {len(chosen)} claims on seeds {_span(seeds)}: about "
             f"{sum(expected.values()) / 60:.0f} minutes, from the times their references recorded")
    done_claims, spent_expected = 0, 0.0
    try:
        for m in milestones:
            if not m.built:
                echo(f"\n== {m.number}. {m.name} ({m.year}): not built yet")
                continue
            if only is not None and m.name not in only:
                echo(f"\n== {m.number}. {m.name} ({m.year}): not in this tour (--only)")
                continue
            echo(f"\n== {m.number}. {m.name} ({m.year}): {m.title}")
            t0 = time.time()
            results[m.name] = []
            for c in m.claims:
                ahead(c)
                results[m.name].append(c.run(preset, seeds, runner, out / m.name / c.name, echo=echo))
                times[m.name] = time.time() - t0
                done_claims += 1
                spent_expected += expected[id(c)]
                echo(_progress(done_claims, len(chosen), time.time() - t_all, spent_expected,
                               sum(expected.values())))
    except (KeyboardInterrupt, Exception) as e:
        if not isinstance(e, KeyboardInterrupt) and getattr(e, "signum", None) is None:
            raise  # a failure, not a stop
        stopped = e
    st = stamp(preset, seeds, time.time() - t_all, results, at)
    if stopped is not None:
        st["interrupted"] = signal.Signals(getattr(stopped, "signum", signal.SIGINT)).name
        st["planned"] = [m.name for m in milestones if m.built and (only is None or m.name in only)]
        results = {name: evs for name, evs in results.items() if evs}
    (out / "report.md").write_text(markdown(milestones, results, times, st, out))
    page = out / "index.html"
    page.write_text(to_html(milestones, results, times, st, out))
    if stopped is not None:
        echo(f"\nmilestones: {st['interrupted']}: the tour stopped; the report covers the "
             f"{sum(map(len, results.values()))} claims that finished: {page}")
        raise stopped
    return page


def _seed_of(command: str) -> int | None:
    words = command.split()
    return int(words[words.index("--seed") + 1]) if "--seed" in words[:-1] else None


def expected_seconds(claims: list[Any], seeds: list[int], workers: int) -> dict[int, float]:
    """How long each claim's measurement on `seeds` should take at the small preset, by id(claim):
    the training seconds its reference recorded for each run (a run shared with an earlier claim
    counted once), over the runs side by side (0 without one). Where the reference measured these
    seeds, starting from the same first seed, the runs it made on them are counted as they are
    (a grid on the first seed counts once, whatever the number of seeds); otherwise the reference's
    time is scaled to the number of seeds."""
    seen: set[str] = set()
    out = {}
    for c in claims:
        ref = c.reference
        runs = [r for r in (ref.runs if ref is not None else ()) if r["command"] not in seen]
        seen.update(r["command"] for r in runs)
        if ref is None or not ref.seeds:
            out[id(c)] = 0.0
        elif seeds and set(seeds) <= set(ref.seed_list) and seeds[0] == ref.seed_list[0]:
            mine = [r for r in runs if _seed_of(r["command"]) in {*seeds, None}]
            out[id(c)] = sum(r["seconds"] or 0 for r in mine) / max(1, workers)
        else:
            out[id(c)] = sum(r["seconds"] or 0 for r in runs) * len(seeds) / ref.seeds / max(1, workers)
    return out


def _progress(done: int, total: int, elapsed: float, expected_done: float, expected_all: float) -> str:
    """`[k/N claims, M minutes; about L left]`: the time left from the expected times, scaled by
    how this machine has kept to them so far."""
    line = f"       [{done}/{total} claims, {elapsed / 60:.1f} minutes"
    if expected_done > 0 and done < total:
        left = (expected_all - expected_done) * elapsed / expected_done
        line += f"; about {left / 60:.0f} left"
    return line + "]"


def stamp(preset: str, seeds: list[int], seconds: float, results: dict[str, list[Evidence]],
          at: str | None = None) -> dict[str, Any]:
    """What a reader needs to know a page's numbers by: when, which code (`at`: the commit when the
    tour started, before it wrote its own files), which machine, which settings."""
    from .checkpoint import versions

    first = next((ev for evs in results.values() for ev in evs), None)
    vs = first.versions if first is not None and first.versions else versions()
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit() if at is None else at,
            "versions": ", ".join(f"{k} {v}" for k, v in vs.items()),
            "cpu": f"{cpu()}, {os.cpu_count()} cores; {default_workers()} runs side by side, 1 torch thread each",
            "preset": preset, "seeds": _span(seeds), "minutes": seconds / 60,
            "train_minutes": sum(ev.run_seconds for evs in results.values() for ev in evs) / 60,
            "smoke": preset in SMOKE_PRESETS, "command": reproduce_command("", preset, seeds), "interrupted": ""}


def _cell(text: str) -> str:
    """Text for a Markdown table's cell: a `|` in it (BERT's filled masks are joined by one) would
    end the cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _took(seconds: float, evs: list[Evidence]) -> str:
    """A milestone's claims' wall time and their runs' training time: a page made from a run store
    reads in seconds what took minutes to train."""
    return (f"Claims took {seconds:.0f} s; their runs trained {sum(ev.run_seconds for ev in evs):.0f} s on one "
            "core each.")


def _time(ev: Evidence) -> str:
    """The claim's wall time, and its runs' training time (which a claim sharing runs with an earlier
    one, or read from a run store, spends without waiting for it)."""
    return f"{ev.seconds:.0f} s; its runs trained {ev.run_seconds:.0f} s on one core each"


def _rel(path: str | None, base: Path) -> str | None:
    if not path or not Path(path).exists():
        return None
    try:
        return Path(path).resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return Path(path).resolve().as_uri()


def _stamp_line(st: dict[str, Any]) -> str:
    commit = f", commit {st['commit']}" if st["commit"] else ""
    return (f"Measured {st['date']}{commit}; {st['versions']}; {st['cpu']}. Preset {st['preset']}, seeds "
            f"{st['seeds']}, {st['minutes']:.1f} minutes in all (its runs, trained now or read from a run store, "
            f"trained {st.get('train_minutes', 0):.0f} minutes on one core each). Made by `{st['command']}`.")


INTRO = ("Each claim states the paper's result and our rule before anything is measured; the rule is applied to "
         "each seed, and the verdict counts the seeds on which it held: holds (all), mixed (some), does not "
         "hold (none). The verdict on ten seeds, measured once for the README, is beside it.")


def markdown(milestones: list[Any], results: dict[str, list[Evidence]], times: dict[str, float],
             st: dict[str, Any], base: Path) -> str:
    lines = ["# milestones: the tour", "", _stamp_line(st), ""]
    if st["smoke"]:
        lines += [f"**Not evidence: {SMOKE_WARNING}.**", ""]
    if st["interrupted"]:
        lines += [f"**Interrupted: {_interrupted(st)}**", ""]
    lines += [INTRO, "", "| # | milestone | claim | paper | ours | verdict | on 10 seeds |",
              "|---|---|---|---|---|---|---|"]
    for m in milestones:
        if m.name not in results:
            lines.append(f"| {m.number} | {m.name} ({m.year}) | {m.claim} | | | {_absent(m, st)} | |")
            continue
        for ev in results[m.name]:
            ref = ev.reference["verdict"] if ev.reference else ""
            lines.append(f"| {m.number} | {m.name} ({m.year}) | [{_cell(ev.title)}](#{m.name}-{ev.claim}) | "
                         f"{_cell(ev.paper_value)} | {_cell(ev.ours)} | **{ev.verdict}** | {ref} |")
    for m in milestones:
        lines += ["", f"## {m.number}. {m.name} ({m.year})", "", f"*{m.title}*, {m.authors.rstrip('.')}. {m.link}", "",
                  f"Idea: {m.idea}", ""]
        if m.name not in results:
            lines.append(_absent(m, st).capitalize() + ".")
            continue
        lines.append(f"{_took(times[m.name], results[m.name])}{_cut(m, results, st)}")
        for ev in results[m.name]:
            lines += ["", f'<a id="{m.name}-{ev.claim}"></a>', f"### {ev.title}: {ev.verdict}", "",
                      f"- Paper: {ev.paper} ({ev.paper_value})", f"- Rule, for each seed: {ev.rule}",
                      f"- Ours: {ev.ours}"]
            if ev.reference:
                lines.append(f"- On {ev.reference['seeds']} seeds (small preset): {ev.reference['verdict']}: "
                             f"{ev.reference['numbers']}")
                if ev.reference.get("why"):
                    lines.append(f"- Why: {ev.reference['why']}")
            if ev.note:
                lines.append(f"- Note: {ev.note}")
            lines.append(f"- Time: {_time(ev)}" + (f" ({ev.budget_note})" if ev.budget_note else ""))
            lines.append(f"- Measure it again: `{ev.reproduce}`")
            fig = _rel(ev.figure, base)
            if fig:
                lines += ["", f"![{ev.title}]({fig})"]
            if ev.caption:
                lines += ["", f"*What to look at:* {ev.caption}"]
            if ev.examples:
                lines += ["", "What the trained models produced:", "", "```", *ev.examples, "```"]
    return "\n".join(lines) + "\n"


def _absent(m: Any, st: dict[str, Any]) -> str:
    if not m.built:
        return "not built yet"
    return "not measured: the tour was interrupted" if m.name in st.get("planned", ()) else "not in this tour"


def _cut(m: Any, results: dict[str, list[Evidence]], st: dict[str, Any]) -> str:
    """What an interrupted tour left out of a milestone it had begun."""
    done = len(results.get(m.name, []))
    if not st["interrupted"] or done >= len(m.claims):
        return ""
    return f" Interrupted: {done} of its {len(m.claims)} claims finished."


def _interrupted(st: dict[str, Any]) -> str:
    return (f"the tour was stopped by {st['interrupted']} after {st['minutes']:.1f} minutes; the claims that "
            "finished are reported, the others were not measured.")


def _css(ev: Evidence) -> str:
    return {"holds": "ok", "mixed": "mx", "n/a": "na"}.get(ev.outcome, "no")


CSS = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222;
  line-height: 1.45; }
table { border-collapse: collapse; margin: .5rem 0; } td, th { border: 1px solid #ddd; padding: .3rem .6rem;
  text-align: left; vertical-align: top; } th { background: #f6f6f6; }
.wide { overflow-x: auto; }
.ok { color: #13795b; font-weight: bold; } .no { color: #b42318; font-weight: bold; } .nb, .na { color: #777; }
.na { font-weight: bold; } .mx { color: #9a6700; font-weight: bold; }
.claim { border-left: 4px solid #ddd; padding-left: 1rem; margin: 1.5rem 0; }
figure { margin: .8rem 0; } img { max-width: 100%; height: auto; } figcaption { color: #444; }
.stamp { color: #555; font-size: .9rem; }
.smoke { background: #fff4e5; border: 1px solid #f0b429; padding: .6rem 1rem; }
pre { background: #f6f6f6; padding: .6rem; overflow-x: auto; font-size: .85rem; white-space: pre-wrap; }
code, td { overflow-wrap: anywhere; }  /* a run of numbers joined by slashes breaks, not the page */
@media (max-width: 40rem) {
  body { margin: 1rem auto; font-size: .95rem; }
  .claim { padding-left: .5rem; }
  table.claimtable th, table.claimtable td { display: block; border: none; padding: .15rem .3rem; }
  table.claimtable tr { display: block; border-bottom: 1px solid #ddd; padding: .3rem 0; }
  table.summary tr:first-child { display: none; }
  table.summary td[data-label]::before { content: attr(data-label) ": "; color: #777; }
  h1 { font-size: 1.5rem; }
}
td.verdict { min-width: 8.5rem; }
"""


def to_html(milestones: list[Any], results: dict[str, list[Evidence]], times: dict[str, float],
            st: dict[str, Any], base: Path) -> str:
    e = html.escape
    rows, sections = [], []
    for m in milestones:
        evs = results.get(m.name, [])
        head = (f'<td rowspan="{max(1, len(evs))}">{m.number}. <a href="#{m.name}">{e(m.name)}</a> '
                f'<small>{m.year}</small></td>')
        if not evs:
            rows.append(f'<tr>{head}<td>{e(m.claim)}</td><td></td><td></td><td class="nb">{_absent(m, st)}</td></tr>')
        for i, ev in enumerate(evs):
            ref = f'<br><small>on 10 seeds: {e(ev.reference["verdict"])}</small>' if ev.reference else ""
            rows.append(f'<tr>{head if i == 0 else ""}<td><a href="#{m.name}-{ev.claim}">{e(ev.title)}</a></td>'
                        f'<td data-label="paper">{e(ev.paper_value)}</td><td data-label="ours">{e(ev.ours)}</td>'
                        f'<td class="verdict"><span class="{_css(ev)}">{e(ev.verdict)}</span>{ref}</td></tr>')
        body = [f'<section id="{m.name}"><h2>{m.number}. {e(m.name)} <small>{m.year}</small></h2>',
                f'<p><em>{e(m.title)}</em>, {e(m.authors.rstrip("."))}. <a href="{e(m.link)}">{e(m.link)}</a></p>',
                f'<p class="idea">{e(m.idea)}</p>']
        if not evs:
            body.append(f'<p class="nb">{_absent(m, st).capitalize()}. Its claim: {e(m.claim)}</p>')
        else:
            body.append(f"<p>{e(_took(times[m.name], evs))}{e(_cut(m, results, st))}</p>")
        for ev in evs:
            ref = ""
            if ev.reference:
                ref = f"{ev.reference['verdict']}: {ev.reference['numbers']}"
                if ev.reference.get("why"):
                    ref += f". Why: {ev.reference['why']}"
            spent = f"{_time(ev)}, seeds {', '.join(map(str, ev.seeds))}" + \
                (f" ({ev.budget_note})" if ev.budget_note else "")
            extra = "".join(f"<tr><th>{k}</th><td>{e(v)}</td></tr>" for k, v in
                            (("on 10 seeds, small preset", ref), ("note", ev.note), ("time", spent)) if v)
            fig = _rel(ev.figure, base)
            figure = ""
            if fig:
                caption = f"<figcaption>What to look at: {e(ev.caption)}</figcaption>" if ev.caption else ""
                figure = (f'<figure><a href="{e(fig)}"><img alt="{e(ev.title)}" src="{e(fig)}"></a>'
                          f'{caption}</figure>')
            examples = ("<p>What the trained models produced:</p><pre>" + e("\n".join(ev.examples)) + "</pre>"
                        if ev.examples else "")
            body.append(
                f'<div class="claim" id="{m.name}-{ev.claim}"><h3>{e(ev.title)}: '
                f'<span class="{_css(ev)}">{e(ev.verdict)}</span></h3>'
                f'<table class="claimtable"><tr><th>paper</th><td>{e(ev.paper)} <b>({e(ev.paper_value)})</b></td></tr>'
                f'<tr><th>rule, per seed</th><td>{e(ev.rule)}</td></tr>'
                f'<tr><th>ours</th><td><b>{e(ev.ours)}</b></td></tr>{extra}</table>'
                f'{figure}{examples}<p>Measure it again: <code>{e(ev.reproduce)}</code></p></div>')
        body.append("</section>")
        sections.append("\n".join(body))
    smoke = f'<p class="smoke"><b>Not evidence.</b> {e(SMOKE_WARNING)}.</p>' if st["smoke"] else ""
    if st["interrupted"]:
        smoke += f'<p class="smoke"><b>Interrupted.</b> {e(_interrupted(st))}</p>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>milestones: the tour</title>
<style>{CSS}</style></head><body>
<h1>milestones: the history of deep learning, 2012&ndash;2020, run</h1>
<p class="stamp">{e(_stamp_line(st))}</p>
{smoke}
<p>{e(INTRO)}</p>
<div class="wide"><table class="claimtable summary"><tr><th>milestone</th><th>claim</th><th>paper</th><th>ours</th>
<th>verdict</th></tr>
{chr(10).join(rows)}
</table></div>
{chr(10).join(sections)}
</body></html>
"""
