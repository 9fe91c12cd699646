"""Claims: runs named as commands, verdicts counted seed by seed, a claim run replayed from its
command, references recorded as data and checked against the claims' settings, and each claim
with a unanimous reference at the small preset (slow: deselect with -m 'not claims').

At the small preset the test asserts that the verdict on one seed agrees with the claim's
reference verdict on ten seeds (core/claims.py `consistent`), not that every claim holds: a claim
that honestly does not hold in miniature says so in its reference.
"""

import json
import shlex
from pathlib import Path

import pytest

from milestones import registry
from milestones.core.claims import Reference, Run, consistent, verdict_of

from conftest import cli


def test_a_run_is_a_command():
    a = Run.of("resnet", "small", {"model": {"depth": 32, "plain": True}}, seed=1, steps=300)
    b = Run.of("resnet", "small", seed=1, steps=300, model=dict(plain=True, depth=32))
    assert a == b and hash(a) == hash(b)  # the same run however it is spelled: claims share it
    assert a.command() == ("OMP_NUM_THREADS=1 milestones train resnet --preset small --model.depth 32 "
                           "--model.plain true --seed 1 --steps 300")
    assert a.seed == 1


def test_verdicts_count_seeds():
    assert verdict_of(3, 3) == "holds (3 of 3)"
    assert verdict_of(1, 3) == "mixed (1 of 3)"
    assert verdict_of(0, 10) == "does not hold (0 of 10)"
    always, never, mixed = (Reference(k, 10, "cmd", "numbers") for k in (10, 0, 7))
    assert [consistent(k, 3, always) for k in range(4)] == [False, False, True, True]
    assert [consistent(k, 3, never) for k in range(4)] == [True, True, False, False]
    assert all(consistent(k, 3, mixed) for k in range(4))
    # the tests' check, on one seed: a unanimous reference predicts that seed, a mixed one allows both
    assert [consistent(k, 1, always) for k in (0, 1)] == [False, True]
    assert [consistent(k, 1, never) for k in (0, 1)] == [True, False]
    assert [consistent(k, 1, mixed) for k in (0, 1)] == [True, True]


def _config_of(run):
    return registry.get(run.milestone).config(run.preset, run.options)


def _claims():
    return [c for m in registry.historical() if m.built for c in m.claims]


def test_every_claim_has_a_recorded_reference():
    """The known result is data beside the claim (src/milestones/<m>/references/<claim>.json),
    recorded by `reproduce --seeds 10 --record` from a clean tree."""
    for c in _claims():
        r = c.reference
        assert r is not None, f"{c.milestone}/{c.name} has no reference file"
        assert r.seeds >= 10 and 0 <= r.holds <= r.seeds and len(r.per_seed) == r.seeds, (c.milestone, c.name)
        assert r.command.startswith(f"milestones reproduce {c.milestone}") and r.numbers, (c.milestone, c.name)
        assert r.commit and not r.commit.endswith("+changes") and r.cpu and r.versions.get("torch"), c.name
        assert r.why, f"{c.milestone}/{c.name} does not say why it holds or not"
        assert r.train_minutes > 0 and all(run["digest"] for run in r.runs), f"{c.milestone}/{c.name}"


# Claims some of whose runs are asked for only once earlier runs are done, with settings that depend on
# their results: the check compares the runs asked for first and counts the rest.
LATER_RUNS = {
    "adam/converges-fastest": "each optimizer's runs on every seed use the learning rate its grid chose",
    "transformer/beats-recurrence": "the Transformer's steps match the FLOPs of the LSTM runs it is compared with",
    "bert/own-pretraining": "the fine-tunes start from the model the pre-training run kept",
    "simclr/few-labels": "the fine-tunes start from each seed's kept pre-trained model",
}


def test_every_claims_settings_are_its_references():
    """A change of a claim's steps, rate, data or rule leaves its reference stale: this fails, naming
    the claim and the field, until the reference is measured again and recorded."""
    from milestones.core import references

    problems, later = [], {}
    for c in _claims():
        check = references.check(c, c.reference, _config_of)
        problems += check.problems
        if check.checked < check.in_reference:
            later[f"{c.milestone}/{c.name}"] = (check.checked, check.in_reference)
    assert not problems, "\n".join(problems)
    assert set(later) == set(LATER_RUNS), later


def test_a_claim_run_replays_from_its_command(tmp_path, capsys):
    """Train the ResNet claim's runs (tiny preset), then one of them again from the command in its
    evidence: the replayed run's training losses equal the claim's, step for step."""
    (claim,) = registry.get("resnet").claims
    ev = claim.run("tiny", [0], registry.runner, tmp_path / "claim")
    saved = json.loads((tmp_path / "claim" / "evidence.json").read_text())
    command = saved["runs"][-1]
    record = registry._RECORDS[next(r for r in registry._RECORDS if r.command() == command)]
    words = shlex.split(command)
    assert words[:3] == ["OMP_NUM_THREADS=1", "milestones", "train"] and ev.runs == saved["runs"]
    code, _, err = cli(capsys, *words[2:], "--out", tmp_path / "replay", "--tensorboard", "false")
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "replay" / "metrics.jsonl").read_text().splitlines()]
    replayed = [r["loss"] for r in rows if r["split"] == "train"]
    assert replayed == [r["loss"] for r in record["history"] if r["split"] == "train"]
    assert len(replayed) == 30


# A milestone's claims run in one test, so the claims that share runs train them once; the
# Transformer's claim compares against seq2seq's attention runs, so the two milestones share a test.
GROUPS = [["gpt"], ["simclr"], ["seq2seq", "transformer"], ["alexnet"], ["gan"], ["resnet"], ["dqn"], ["adam"],
          ["bert"]]  # longest first
# Seconds of each milestone's claims with unanimous references on seed 0, on one core (measured;
# conftest deals the claim tests out to the test workers by them, so both finish together). DQN's
# CartPole claims are mixed and its pixel claim is the second tier's, so its group trains nothing, nor does
# Adam's (the second tier's), nor BERT's (both claims measure the baselines trained to their best, the
# second tier's); SimCLR's trains the one pre-training run its features and head claims read.
CLAIM_SECONDS = {"bert": 1, "gpt": 320, "simclr": 105, "seq2seq": 45, "transformer": 25, "dqn": 1, "adam": 1,
                 "gan": 25, "alexnet": 35, "resnet": 20}
CHECK_SEED = 0  # the tests' seed; `milestones tour` and `reproduce` measure seeds 0-2
# Claims whose one-seed check would not fit the first tier's budget (make test: 20 minutes on a fresh
# clone, install included): their outcome is checked by the second tier only, the tour on seeds 0-2.
SECOND_TIER = {"dqn/learns-from-pixels": "one run is 500,000 frames of MinAtar Breakout, 8 minutes on one core",
               "adam/converges-fastest": "the three problems' grids and runs on one seed: 145 runs, 4.5 minutes on "
                                         "one core",
               "bert/few-labels": "its baselines include MiniLM's architecture from random weights, trained until its "
                                  "validation accuracy stops improving: about 5 minutes on one core",
               "bert/own-pretraining": "the few-labels claim's baselines (MiniLM's architecture from scratch, 5 "
                                       "minutes) and its own 1,000-step pre-training (2 minutes)",
               "simclr/composition": "its pre-training without the shift (1,500 steps, 90 s) would take make test "
                                     "past its budget; its margin on seeds 0-9 (+14.6 to +18.2 points against 5) "
                                     "leaves one seed little to find"}


def test_the_groups_cover_every_built_milestone():
    assert sorted(n for g in GROUPS for n in g) == sorted(registry.built_names()) == sorted(CLAIM_SECONDS)
    assert set(SECOND_TIER) <= {f"{c.milestone}/{c.name}" for c in _claims()}


@pytest.mark.claims
@pytest.mark.parametrize("names", GROUPS, ids=["+".join(g) for g in GROUPS])
def test_claims_at_the_small_preset_agree_with_their_references(names, tmp_path):
    """The first tier's outcome check: every claim whose reference is unanimous, at the small preset
    on one seed, its runs in this test worker's own process (each holding one of the machine's
    slots, so the suite never trains more runs at once than there are cores): a claim that held on
    10 of 10 must hold, one that held on 0 of 10 must fail (`consistent`). A claim with a mixed
    reference may do either on one seed, so it is left to the second tier (`make test-claims`: the
    tour on seeds 0-2, checked against the references). One seed keeps the check's cost independent
    of how many seeds the references and the tour measure."""
    disagree = []
    for name in names:
        for c in registry.get(name).claims:
            if 0 < c.reference.holds < c.reference.seeds or f"{name}/{c.name}" in SECOND_TIER:
                continue  # a mixed reference allows either outcome on one seed: the second tier checks it
            ev = c.run("small", [CHECK_SEED], registry.runner, tmp_path / name / c.name, workers=1)
            assert (tmp_path / name / c.name / "evidence.json").exists()
            assert (tmp_path / name / c.name / "figure.png").exists()
            assert ev.consistent is not None and len(ev.per_seed) == 1
            if not ev.consistent:
                disagree.append(f"{name}/{c.name}: {ev.verdict} on seed {CHECK_SEED}, but {c.reference.verdict} "
                                f"on {c.reference.seeds} seeds: {ev.ours}")
    assert not disagree, "\n".join(disagree)


def test_a_reference_is_recorded_with_its_settings_and_checked_against_them(tmp_path, monkeypatch):
    """A claim measured with a recorder writes its reference file: the verdict, the per-seed numbers,
    each run's seconds and settings. The check then finds the claim's settings equal to those; a
    changed preset value or rule is a problem naming the claim and the field."""
    from milestones.core import references
    from milestones.resnet import claim as resnet

    (claim,) = registry.get("resnet").claims
    path = tmp_path / "degradation.json"
    ev = claim.run("tiny", [0, 1], registry.runner, tmp_path / "claim", recorder=lambda c, e, runs, records: (
        references.record(c, e, runs, records, _config_of, "abc1234", "a CPU", out=path)))
    saved = json.loads(path.read_text())
    assert saved["holds"] == ev.holds and saved["seeds"] == [0, 1] and saved["per_seed"] == ev.per_seed
    assert saved["commit"] == "abc1234" and saved["rule"] == claim.rule and len(saved["runs"]) == 8
    assert all(r["seconds"] > 0 and len(r["digest"]) == 16 for r in saved["runs"])
    assert {r["differs"]["seed"] for r in saved["runs"] if "seed" in r["differs"]} == {1}
    ref = references.load_file(path, why="because")
    assert ref.seeds == 2 and ref.why == "because" and ref.numbers == ev.ours
    assert references.check(claim, ref, _config_of).problems == []

    monkeypatch.setitem(resnet.SETTINGS["tiny"], "steps", 31)
    problems = references.check(claim, ref, _config_of).problems
    assert problems and all(p.startswith("resnet/degradation: ") for p in problems)
    assert "steps = 31 (reference: 30)" in problems[0]
    monkeypatch.setattr(claim, "rule", claim.rule + " by a margin")
    assert "its rule is not the reference's" in references.check(claim, ref, _config_of).problems[0]


def test_a_cache_path_is_written_machine_free(tmp_path, monkeypatch):
    from milestones.core import references
    from milestones.paths import cache_dir

    cfg = registry.get("bert").config("small", {"objective": "classify", "init_from": str(cache_dir() / "k" / "s0")})
    flat = references.settings(cfg)
    assert flat["init_from"] == "$MILESTONES_CACHE/k/s0" and "tensorboard" not in flat
    monkeypatch.setenv("MILESTONES_CACHE", str(tmp_path / "elsewhere"))
    cfg = registry.get("bert").config("small", {"objective": "classify", "init_from": str(cache_dir() / "k" / "s0")})
    assert references.digest(references.settings(cfg)) == references.digest(flat)


def test_the_readme_results_are_the_references():
    """The README's count and results table, and docs/results.md's numbers and machine note, are written
    from the reference files (docs/readme.py): they must be what the files say now."""
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("readme", ROOT / "docs" / "readme.py")
    readme = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(readme)
    assert set(readme.FILES) == {ROOT / "README.md", ROOT / "docs" / "results.md"}
    assert sorted(n for names in readme.FILES.values() for n in names) == sorted(readme.BLOCKS)
    for path, names in readme.FILES.items():
        text = path.read_text()
        assert readme.render(text, names) == text, f"{path.name} differs from the references: run python docs/readme.py"


def test_the_published_tour_measured_todays_claims():
    """docs/tour is evidence of the claims as they are: each claim's rule, and the runs it asks for
    first, are those the published evidence measured."""
    from milestones.core.claims import Evidence

    from conftest import ROOT

    stale = []
    for c in _claims():
        ev = Evidence.read(ROOT / "docs" / "tour" / c.milestone / c.name / "evidence.json")
        if ev.rule != c.rule:
            stale.append(f"{c.milestone}/{c.name}: its rule changed")
        missing = [r.command() for r in c.first_runs("small", ev.seeds, evidence=True) if r.command() not in ev.runs]
        if missing:
            stale.append(f"{c.milestone}/{c.name}: the published tour did not run {missing[0]}")
    assert not stale, "make the published tour again (milestones tour --out docs/tour):\n" + "\n".join(stale)


def test_record_and_check_refuse_what_is_not_a_reference(capsys):
    """A reference is ten seeds or more at the small preset on the embedded data; tour --check compares
    the small preset only. Each refusal is one line, before anything trains."""
    code, _, err = cli(capsys, "reproduce", "resnet", "--seeds", "3", "--record")
    assert code == 2 and "--record needs at least 10 seeds" in err
    code, _, err = cli(capsys, "reproduce", "resnet", "--preset", "tiny", "--seeds", "10", "--record")
    assert code == 2 and "small preset" in err
    code, _, err = cli(capsys, "tour", "--preset", "tiny", "--check")
    assert code == 2 and "--check compares the small preset" in err


def test_a_bar_in_a_claims_numbers_stays_in_its_cell(tmp_path):
    """BERT's filled masks are joined by ' | ': in report.md's summary table they must not split the row."""
    from milestones.core import report
    from milestones.core.claims import Evidence

    ev = Evidence(milestone="bert", claim="own-pretraining", title="t", paper="p", paper_value="v", rule="r",
                  ours="it fills: a [the / a] b. | c [of / to] d.", verdict="mixed (1 of 3)", holds=1,
                  preset="small", seeds=[0, 1, 2], seconds=1.0, per_seed=[], runs=[], measurements={})
    st = report.stamp("small", [0, 1, 2], 1.0, {"bert": [ev]})
    text = report.markdown(registry.historical(), {"bert": [ev]}, {"bert": 1.0}, st, tmp_path)
    (row,) = [line for line in text.splitlines() if line.startswith("| 8 | bert")]
    assert row.replace("\\|", "").count("|") == 8 and "**mixed (1 of 3)**" in row


def test_the_second_tiers_check_finds_a_verdict_or_a_number_that_disagrees():
    """tour --check: a count not consistent with the reference, and, on the reference's own CPU and torch,
    a seed whose numbers differ from the recorded ones; on another CPU only the count is compared."""
    from milestones.core.claims import Evidence, disagreements
    from milestones.core.references import Reference

    ref = Reference(10, 10, "milestones reproduce x --seeds 10", "numbers", cpu="CPU A", versions={"torch": "9"},
                    per_seed=tuple({"seed": s, "holds": True, "gap": 0.5 + s} for s in range(10)))

    def evidence(holds, gap):
        per_seed = [{"seed": s, "holds": h, "gap": g} for s, h, g in zip(range(3), holds, gap)]
        return Evidence(milestone="x", claim="y", title="t", paper="p", paper_value="v", rule="r", ours="o",
                        verdict="", holds=sum(holds), preset="small", seeds=[0, 1, 2], seconds=1.0,
                        per_seed=per_seed, runs=[], measurements={})

    same = evidence([True] * 3, [0.5, 1.5, 2.5])
    assert disagreements(same, ref, "CPU A", "9") == ([], True)
    drift = evidence([True] * 3, [0.5, 1.5, 2.4])
    problems, compared = disagreements(drift, ref, "CPU A", "9")
    assert compared and len(problems) == 1 and "seed 2" in problems[0] and "gap 2.4 vs 2.5" in problems[0]
    assert disagreements(drift, ref, "CPU B", "9") == ([], False)
    fails = evidence([True, False, False], [0.5, 1.5, 2.5])
    assert "not consistent" in disagreements(fails, ref, "CPU B", "9")[0][0]


def _tables_that_break(text: str) -> list[str]:
    """Every Markdown table in `text` whose rows do not all have the header's number of cells (a
    cell's own bars escaped as \\|)."""
    broken, header = [], None
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = line.replace("\\|", "").count("|")
            header = cells if header is None else header
            if cells != header:
                broken.append(line[:120])
        else:
            header = None
    return broken


def test_every_table_the_project_writes_keeps_its_columns(tmp_path):
    """The README and docs/*.md (their generated blocks too), the published report, and a report of a
    claim whose every text has a bar and a line break in it: each row of each table has the header's
    cells."""
    from milestones.core import report
    from milestones.core.claims import Evidence

    root = Path(__file__).resolve().parents[1]
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md")), root / "docs" / "tour" / "report.md"]
    assert len(pages) >= 6
    for path in pages:
        assert not _tables_that_break(path.read_text()), path
    odd = "a | b\nc"
    ev = Evidence(milestone="bert", claim="own-pretraining", title=odd, paper=odd, paper_value=odd, rule=odd,
                  ours=odd, verdict="mixed (1 of 3)", holds=1, preset="small", seeds=[0, 1, 2], seconds=1.0,
                  per_seed=[], runs=[], measurements={})
    st = report.stamp("small", [0, 1, 2], 1.0, {"bert": [ev]})
    text = report.markdown(registry.historical(), {"bert": [ev]}, {"bert": 1.0}, st, tmp_path)
    assert "| 8 | bert" in text and not _tables_that_break(text)


def test_the_tours_expected_time_counts_a_first_seed_grid_once():
    """The tour's estimate from a reference: on seeds the reference measured (from its first seed) the
    runs it made on them, a grid on the first seed counted once; on other seeds its time scaled."""
    from types import SimpleNamespace

    from milestones.core.report import expected_seconds

    def run(seed: int, lr: float) -> dict:
        return {"command": f"OMP_NUM_THREADS=1 milestones train x --lr {lr} --seed {seed}", "seconds": 10.0}

    grid = [run(0, lr) for lr in (0.1, 0.3, 1.0, 3.0)]  # the grid, on the first seed only
    rest = [run(s, 0.3) for s in range(1, 10)]
    shared = {"command": "OMP_NUM_THREADS=1 milestones train x --pretrain", "seconds": 40.0}  # no seed
    ref = SimpleNamespace(runs=grid + rest + [shared], seeds=10, seed_list=tuple(range(10)))
    claim, other = SimpleNamespace(reference=ref), SimpleNamespace(reference=ref)  # a second claim shares the runs
    first = expected_seconds([claim, other], [0, 1, 2], workers=2)
    assert first[id(claim)] == (4 * 10 + 2 * 10 + 40) / 2 and first[id(other)] == 0
    elsewhere = expected_seconds([claim], [100, 101, 102], workers=2)
    assert elsewhere[id(claim)] == (4 * 10 + 9 * 10 + 40) * 3 / 10 / 2
    unmeasured = SimpleNamespace(reference=None)
    assert expected_seconds([unmeasured], [0], 2) == {id(unmeasured): 0.0}
