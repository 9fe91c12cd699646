"""Write the results in README.md and docs/results.md from the claims' reference files, or check that
they agree with them.

    python docs/readme.py            # rewrite the marked blocks of both files
    python docs/readme.py --check    # exit 1, naming the file and the blocks, when one differs from them

The blocks sit between `<!-- references:NAME -->` and `<!-- /references:NAME -->`:
- README.md `count`: how many claims hold, are mixed and do not hold on ten seeds;
- README.md `table`: one row per claim (the paper's number, our rule, the verdict on seeds 0-9);
- docs/results.md `numbers`: each claim's numbers on seeds 0-9, in the words its measure wrote them;
- docs/results.md `machine`: where, when, with what and at which commit the references were measured.
Everything in them comes from src/milestones/<milestone>/references/<claim>.json and the claims, so
no figure in them can drift from the measurements. tests/test_claims.py runs the check.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

from milestones import registry

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "docs" / "results.md"


def _claims() -> list:
    return [c for m in registry.historical() if m.built for c in m.claims]


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def count() -> str:
    refs = [c.reference for c in _claims()]
    n = Counter(r.verdict.split(" (")[0] for r in refs)
    return (f"On ten seeds, {n['holds']} claims hold, {n['mixed']} are mixed and {n['does not hold']} do not "
            "hold in miniature")


def table() -> str:
    rows = ["| claim | paper | our rule, for one seed | on seeds 0-9 |", "|---|---|---|---|"]
    for c in _claims():
        r = c.reference
        m = registry.get(c.milestone)
        rows.append(f"| [{m.name}: {_cell(c.title)}](docs/tour/report.md#{c.milestone}-{c.name}) | "
                    f"{_cell(c.paper_value)} | {_cell(c.rule)} | **{r.verdict}** |")
    return "\n".join(rows)


def numbers() -> str:
    lines = []
    for c in _claims():
        r = c.reference
        lines.append(f"- **{c.milestone}/{c.name}**, {r.verdict}: {r.numbers}")
    return "\n".join(lines)


def machine() -> str:
    refs = [c.reference for c in _claims()]
    groups = Counter((r.cpu, r.versions.get("torch", "?")) for r in refs)
    commits = sorted({r.commit for r in refs})
    dates = sorted({r.date for r in refs})
    where = "; ".join(f"{k} on {cpu} with torch {torch}" for (cpu, torch), k in groups.most_common())
    span = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    minutes = sum(r.train_minutes for r in refs)
    runs_at = sorted({run["commit"] for r in refs for run in r.runs})
    return (f"The references were recorded {span} at commit{'s' if len(commits) > 1 else ''} "
            f"{', '.join(commits)} (their runs trained at {', '.join(runs_at)}), one torch thread per run: "
            f"{where}; their runs trained {minutes:.0f} minutes on one core each. Each claim's file, "
            "`src/milestones/<milestone>/references/<claim>.json`, holds its per-seed numbers, every run's "
            "command, seconds and settings; `milestones info NAME` prints them.")


BLOCKS = {"count": count, "table": table, "numbers": numbers, "machine": machine}
FILES = {README: ("count", "table"), RESULTS: ("numbers", "machine")}


def render(text: str, names: tuple[str, ...] = tuple(BLOCKS), where: str = "README.md") -> str:
    """`text` with the blocks `names` written afresh; each must be there."""
    for name in names:
        pattern = re.compile(rf"(<!-- references:{name} -->)(.*?)(<!-- /references:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"{where} has no block <!-- references:{name} -->")
        body = BLOCKS[name]() if name == "count" else f"\n{BLOCKS[name]()}\n"
        text = pattern.sub(lambda mo, body=body: mo.group(1) + body + mo.group(3), text)
    return text


def main(argv: list[str]) -> int:
    stale = 0
    for path, names in FILES.items():
        where = str(path.relative_to(ROOT))
        text = path.read_text()
        new = render(text, names, where)
        if "--check" not in argv:
            path.write_text(new)
        elif new != text:
            differ = [name for name in names
                      if re.search(rf"<!-- references:{name} -->(.*?)<!-- /", text, re.S).group(1)
                      != re.search(rf"<!-- references:{name} -->(.*?)<!-- /", new, re.S).group(1)]
            print(f"{where} differs from the references in: {', '.join(differ)}; run python docs/readme.py")
            stale += 1
        else:
            print(f"{where} agrees with the references")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
