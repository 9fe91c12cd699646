"""Each built milestone's claims at the small preset (slow: deselect with -m 'not claims').

A claim that honestly does not hold in miniature is marked expected-to-fail, with the numbers
we measured as the reason; its threshold is never loosened to make it pass.
"""

import pytest

from milestones import registry

pytestmark = pytest.mark.claims

EXPECTED_TO_FAIL = {
    ("alexnet", "relu-vs-tanh"): "measured a median 1.24x (1.29x, 1.24x, 1.09x over seeds 0-2) against the 1.5x "
                                 "required: ReLU is faster in every seed, but by less than the rule asks with "
                                 "this 4-layer 1-D CNN on MNIST-1D",
    ("adam", "converges-fastest"): "measured (median of 3 seeds, 400 steps): logreg Adam 0.248 vs best baseline "
                                   "0.267 at 1/4 (lowest) but 0.113 vs SGD+Nesterov's 0.082 at the end (not within "
                                   "10%); MLP 2x256 Adam 0.382 vs RMSProp's 0.356 at 1/4 (not lowest), 0.117 vs "
                                   "0.114 at the end (within 10%)",
    ("transformer", "beats-recurrence"): "not stable at this scale: with batch 64 the Transformer lost in every seed "
                                         "(test BLEU 96.4, 94.8, 97.1 vs the LSTM's 99.0, 98.9, 98.5; median -2.6); "
                                         "with batch 32 (the preset now) it won by a median +0.8 (97.5 vs 96.7, 95.2 "
                                         "vs 94.3, 88.1 vs 97.5). Both models near 100 BLEU, and the budget is "
                                         "measured CPU time, so the verdict can go either way",
}

# The Transformer's claim compares against seq2seq's attention runs: in one worker they are run once.
GROUP = {"transformer": "seq2seq"}

CASES = [pytest.param(m.name, c.name, id=f"{m.name}-{c.name}",
                      marks=[pytest.mark.xdist_group(GROUP.get(m.name, m.name))]
                      + ([pytest.mark.xfail(reason=EXPECTED_TO_FAIL[(m.name, c.name)], strict=False)]
                         if (m.name, c.name) in EXPECTED_TO_FAIL else []))
         for m in registry.historical() if m.built for c in m.claims]


@pytest.mark.parametrize("milestone,claim", CASES)
def test_claim_holds_at_small_preset(milestone, claim, tmp_path):
    (c,) = [c for c in registry.get(milestone).claims if c.name == claim]
    ev = c.run("small", seeds=3, out_dir=tmp_path / claim)
    assert (tmp_path / claim / "evidence.json").exists() and (tmp_path / claim / "figure.png").exists()
    assert ev.holds, f"{ev.title}: {ev.ours}"
