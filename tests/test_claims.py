"""Claims: runs named as commands, verdicts counted seed by seed, a claim run replayed from its
command, and each built milestone's claims at the small preset (slow: deselect with -m 'not claims').

At the small preset the test asserts that the verdict on one seed agrees with the claim's
reference verdict on ten seeds (core/claims.py `consistent`), not that every claim holds: a claim
that honestly does not hold in miniature says so in its reference.
"""

import json
import shlex

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


def test_every_claim_states_its_reference():
    """The known result lives on the claim: list, info, the report and the tests read it there."""
    for m in registry.historical():
        if m.built:
            for c in m.claims:
                r = c.reference
                assert r is not None and r.seeds >= 10 and 0 <= r.holds <= r.seeds, (m.name, c.name)
                assert r.command.startswith(f"milestones reproduce {m.name}") and r.numbers, (m.name, c.name)


def test_the_readme_counts_the_reference_verdicts():
    """The README's first screen says how many claims hold on ten seeds: it must agree with the claims."""
    import re

    from conftest import ROOT

    refs = [c.reference for m in registry.historical() if m.built for c in m.claims]
    counts = {w: sum(r.verdict.startswith(w) for r in refs) for w in ("holds", "mixed", "does not hold")}
    said = re.search(r"On ten seeds, (\d+) claims hold, (\d+) are mixed and (\d+) do not hold",
                     " ".join((ROOT / "README.md").read_text().split()))
    assert said, "the README no longer states the counts"
    assert [int(x) for x in said.groups()] == [counts["holds"], counts["mixed"], counts["does not hold"]]
    assert sum(counts.values()) == len(refs)


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
GROUPS = [["gpt"], ["bert"], ["simclr"], ["dqn"], ["seq2seq", "transformer"], ["gan"], ["alexnet"], ["resnet"],
          ["adam"]]  # longest first
# Seconds of each milestone's claims on seed 0, on one core (measured; conftest deals the claim
# tests out to the test workers by them, so both finish together).
CLAIM_SECONDS = {"bert": 150, "gpt": 300, "simclr": 105, "seq2seq": 65, "transformer": 30, "dqn": 80, "adam": 55,
                 "gan": 50, "alexnet": 30, "resnet": 25}
CHECK_SEED = 0  # the tests' seed; `milestones tour` and `reproduce` measure seeds 0-2


def test_the_groups_cover_every_built_milestone():
    assert sorted(n for g in GROUPS for n in g) == sorted(registry.built_names()) == sorted(CLAIM_SECONDS)


@pytest.mark.claims
@pytest.mark.parametrize("names", GROUPS, ids=["+".join(g) for g in GROUPS])
def test_claims_at_the_small_preset_agree_with_their_references(names, tmp_path):
    """Every claim at the small preset on one seed, its runs in this test worker's own process (each
    holding one of the machine's slots, so the suite never trains more runs at once than there are
    cores): its verdict must agree with the ten-seed reference (`consistent`: a claim that held on
    10 of 10 must hold, one that held on 0 of 10 must fail, a mixed one may do either). One seed
    keeps the check's cost independent of how many seeds the references and the tour measure."""
    disagree = []
    for name in names:
        for c in registry.get(name).claims:
            ev = c.run("small", [CHECK_SEED], registry.runner, tmp_path / name / c.name, workers=1)
            assert (tmp_path / name / c.name / "evidence.json").exists()
            assert (tmp_path / name / c.name / "figure.png").exists()
            assert ev.consistent is not None and len(ev.per_seed) == 1
            if not ev.consistent:
                disagree.append(f"{name}/{c.name}: {ev.verdict} on seed {CHECK_SEED}, but {c.reference.verdict} "
                                f"on {c.reference.seeds} seeds: {ev.ours}")
    assert not disagree, "\n".join(disagree)
