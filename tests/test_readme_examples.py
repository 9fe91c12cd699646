"""The README's commands run in order, as a newcomer would type them (as d2l's CI runs its notebooks):
the quick-start table's pairs, then every example block of the README and then of the pages it links
to in docs/ (the guide, the milestones, the results, development), at the tiny preset where a command
takes a preset. So an example cannot use a run no line before it made, or an option that no longer
exists.

Left out, each for a reason a test cannot supply: lines with the synopsis's placeholders (NAME,
DIR, ...), lines that read the user's own files (`~/...`, `reviews.tsv`, ...) or a Hub model (a
network; tests/test_gpt.py reads one from a Hugging Face cache it builds), the paper preset and
torchrun (a GPU), `tour` (its own tests run it) and `--record` (it writes the package's references).
"""

from __future__ import annotations

import io
import re
import shlex
import sys

import pytest

from conftest import ROOT

PLACEHOLDER = re.compile(r"\b(NAME|DIR|RUN|OUT|PNG|KEY|FINE_TUNED)\b")
USERS_OWN = ("~/", "reviews.tsv", "notes.txt", "pairs.tsv", "--preset paper", "torchrun", "milestones tour",
             "--record", "tensorboard", "pip ", "make ", "--pretrained gpt2", "--pretrained bert-base")
PAGES = ("README.md", "docs/guide.md", "docs/milestones.md", "docs/results.md", "docs/development.md")
MAX_STEPS, MAX_SEEDS = 20, 1  # the tiny preset's scale: an example's own --steps 5000 would take minutes


def code_blocks(text: str) -> list[list[str]]:
    """The lines of each fenced block of `text` (```, with or without a language), in order."""
    blocks: list[list[str]] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = not inside
            if inside:
                blocks.append([])
        elif inside:
            blocks[-1].append(line)
    return blocks


def readme_commands() -> list[str]:
    """The `milestones` command lines in reading order: the README's quick-start table's, then each code
    block's of the README and the docs pages (with its shell variables), comments dropped; not the
    synopsis block."""
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Five minutes", 1)[1].split("```", 1)[0]
    lines = re.findall(r"`((?:echo [^`|]*\| *)?milestones [^`]+)`", quick)
    blocks = [block for page in PAGES for block in code_blocks((ROOT / page).read_text())]
    for block in blocks:
        if any("milestones info NAME" in line for line in block):
            continue  # the synopsis: placeholders, not commands
        for line in block:
            line = line.split("  #")[0].strip()
            if re.match(r"([A-Z]+=|milestones |echo .*\| *milestones )", line):
                lines.append(line)
    return lines


def runnable(line: str) -> bool:
    if any(mark in line for mark in USERS_OWN):
        return False
    if re.match(r"[A-Z]+=", line):
        return True
    command = re.sub(r"\$[A-Z]+", "", line.split("|")[-1] if line.startswith("echo") else line)
    return not PLACEHOLDER.search(command.replace("gpt|bert", ""))


def at_tiny(argv: list[str]) -> list[str]:
    """The command at the tiny preset, its lengths capped at the tiny preset's scale."""
    verb = argv[1] if len(argv) > 1 else ""
    out = list(argv)
    if verb in ("train", "reproduce"):
        if "--resume" not in out:
            if "--preset" in out:
                out[out.index("--preset") + 1] = "tiny"
            else:
                out[3:3] = ["--preset", "tiny"]
        for flag, cap in (("--steps", MAX_STEPS), ("--seeds", MAX_SEEDS)):
            if flag in out:
                i = out.index(flag) + 1
                out[i] = str(min(int(out[i]), cap))
        if verb == "train":
            out += ["--tensorboard", "false"]
    return out


def test_the_readme_finds_its_commands():
    lines = readme_commands()
    kept = [line for line in lines if runnable(line)]
    assert len(lines) > 40 and len(kept) > 25, kept
    assert "milestones train dqn --out runs/cartpole" in kept and 'S="--depth 32' in " ".join(kept)
    assert not any("NAME" in line or "~/" in line for line in kept)


@pytest.mark.slow
def test_the_readme_commands_run_in_order(tmp_path, monkeypatch, capsys):
    from milestones import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MILESTONES_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    env: dict[str, str] = {}
    for line in filter(runnable, readme_commands()):
        for name, value in env.items():
            line = line.replace(f"${name}", value)
        if re.match(r"[A-Z]+=", line):  # a shell variable the next lines use
            name, value = line.split("=", 1)
            env[name] = shlex.split(value)[0]
            continue
        stdin = None
        if line.startswith("echo"):
            said, line = line.split("|", 1)
            stdin = shlex.split(said)[1] + "\n"
        argv = at_tiny(shlex.split(line.strip()))
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv[1:])
        out, err = capsys.readouterr()
        assert exit_info.value.code in (0, None), f"{line}\n  ran as: {shlex.join(argv)}\n{err[-1500:]}"
    assert (tmp_path / "plain-vs-res.png").stat().st_size > 1000


def test_every_link_in_the_readme_and_docs_leads_somewhere():
    """Every relative link and picture of the README and the docs pages names a file that exists: the
    README is the overview and the pages carry the rest, so a moved section cannot leave a dead link."""
    dead = []
    for page in PAGES:
        path = ROOT / page
        text = path.read_text()
        targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'(?:href|src)="([^"]+)"', text)
        for target in targets:
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            if not (path.parent / target.split("#")[0]).exists():
                dead.append(f"{page}: {target}")
    assert not dead, dead
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 250, "the README is the overview; reference material goes to docs/"
    for page in PAGES[1:]:
        assert f"]({page})" in readme, f"the README does not link {page}"
