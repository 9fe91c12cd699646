"""The Transformer's claim in miniature: better translation than recurrence for the same training compute.

Vaswani et al. 2017, Table 2: the base Transformer beat the best recurrent and convolutional
models on WMT'14 at a fraction of their training cost. The paper's "training cost" is not counted
algorithmic FLOPs: it is training time x number of GPUs x the GPU's sustained single-precision
TFLOPS (Table 2's footnote; 2.8, 3.7, 6.0 and 9.5 TFLOPS for K80, K40, M40 and P100). Its
advantage is parallel hardware: self-attention processes every position of a sentence at once,
where an RNN takes one step per word, so a GPU is busy for less time.

Here, per seed: the attention seq2seq (Bahdanau's RNNsearch at the seq2seq small preset: 300
steps of 32 pairs) sets the budget: its training FLOPs, counted from the sizes of the model and
of every batch it trained on (seq2seq/model.py `training_flops`). The Transformer (`small`:
d_model 64, 2 + 2 layers, 4 heads, the same data and batches) then trains for as many steps as
fit in that budget (transformer/model.py `training_flops`). Counting FLOPs rather than seconds
makes the budget, and so the verdict, the same on every machine and at any load: it was measured
in CPU seconds until four measurements gave -2.6, +0.8, +1.4 and -4.0 BLEU. Holds for a seed if
the Transformer's test BLEU is higher than the seq2seq's.

Fair to both: the Transformer is pre-LN (Xiong et al. 2020),
which needs no long warm-up, with a warm-up of 10% of its run and then a constant rate, as the
LSTM's constant rate; each architecture runs at its best learning rate of the same grid
(1e-3, 3e-3, 1e-2), chosen on validation BLEU at seeds 100-102 before seeds 0-9 were measured
(LRS). Validation BLEU at seeds 100-102: LSTM 1e-3 17/14/10, 3e-3 96/86/84, 1e-2 88/98/99
(median 98.3); Transformer 1e-3 55/26/55 (median 54.6), 3e-3 77/30/54 (53.6), 1e-2 5/4/8. The
paper's inverse-square-root decay after the warm-up was piloted first on seeds 100-101 and did
worse (3e-3: 53/17) than a constant rate. Until then the Transformer was post-LN with 100
warm-up steps (half its run) and an untuned 2e-3 against the LSTM's 3e-3 (0 of 10, median -23.6).
"""

from __future__ import annotations

from pathlib import Path

from ..core.claims import Claim, Context, Measured, Run, median
from ..core.config import build
from ..core.figures import pyplot, save_figure
from ..tasks.translation_sample import draw_attention, example_lines, probe
from .task import PRESETS, Config, TransformerTask

__all__ = ["CLAIMS", "probe"]


GRID = (1e-3, 3e-3, 1e-2)  # the learning rates piloted for both architectures
# preset -> (seq2seq's, the Transformer's) learning rate: small, the best of GRID on validation BLEU
# at seeds 100-102 (median); None: the seq2seq preset's own rate (the run seq2seq's claims share)
LRS = {"tiny": (None, 3e-3), "small": (1e-2, 1e-3), "paper": (None, 512 ** -0.5 * 4000 ** -0.5)}
WARMUP = 0.1  # of the Transformer's steps


def seq2seq_run(preset: str, seed: int) -> Run:
    """The attention seq2seq at its learning rate (at the preset's own, the very run of seq2seq's
    claims: named the same way, so it is shared)."""
    lr = LRS[preset][0]
    rate = {} if lr is None else {"optim": {"lr": lr}}
    return Run.of("seq2seq", preset, seed=seed, model=dict(attention=True), **rate)


def transformer_run(preset: str, seed: int, steps: int) -> Run:
    """The pre-LN Transformer for `steps` steps: 10% warm-up, then constant, at its learning rate."""
    return Run.of("transformer", preset, seed=seed, steps=steps, warmup_steps=max(1, round(WARMUP * steps)),
                  schedule="constant", model=dict(norm_first=True), optim=dict(lr=LRS[preset][1]))


def steps_within(preset: str, seed: int, flops: float) -> int:
    """How many steps of the Transformer's preset fit in `flops` (its batches are the seq2seq's:
    the same data, seed and batch size)."""
    return TransformerTask(build(Config, PRESETS, preset, {"seed": seed})).steps_within(flops)


def measure(ctx: Context) -> Measured:
    rnn = ctx.runs([seq2seq_run(ctx.preset, s) for s in ctx.seeds])
    budgets = [r["probe"]["flops"] for r in rnn]
    steps = [steps_within(ctx.preset, s, b) for s, b in zip(ctx.seeds, budgets)]
    tf = ctx.runs([transformer_run(ctx.preset, s, n) for s, n in zip(ctx.seeds, steps)])
    per_seed = []
    for seed, t, r, b in zip(ctx.seeds, tf, rnn, budgets):
        bt, br = t["probe"]["test_bleu"], r["probe"]["test_bleu"]
        per_seed.append({"seed": seed, "holds": bt > br, "transformer": bt, "seq2seq": br, "difference": bt - br,
                         "flops": b, "transformer_flops": t["probe"]["flops"], "transformer_steps": t["step"],
                         "seq2seq_steps": r["step"]})
    ours = ("test BLEU at equal training FLOPs, Transformer vs attention seq2seq: "
            + ", ".join(f"{p['transformer']:.1f} vs {p['seq2seq']:.1f} ({p['transformer_steps']} vs "
                        f"{p['seq2seq_steps']} steps, {p['flops'] / 1e12:.2f} TFLOP)" for p in per_seed)
            + f"; median difference {median([p['difference'] for p in per_seed]):+.1f}")

    def figure(path: Path) -> None:
        plt = pyplot()
        fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1, 1.2]})
        for records, color, label in ((tf, "C0", "Transformer"), (rnn, "C3", "seq2seq + attention (LSTM)")):
            for i, r in enumerate(records):
                rows = [h for h in r["history"] if h["split"] == "eval"]
                per_step = r["probe"]["flops"] / r["step"]  # mean FLOPs per step, for the x-axis
                a0.plot([h["step"] * per_step / 1e12 for h in rows], [h["bleu"] for h in rows], "-o", ms=3,
                        color=color, alpha=0.8, label=label if i == 0 else None)
        a0.set_xlabel("training compute (TFLOP)")
        a0.set_ylabel("validation BLEU")
        a0.set_ylim(0, 102)
        a0.legend(fontsize=8)
        a0.set_title("BLEU against training compute", fontsize=9)
        draw_attention(a1, tf[0]["probe"]["heat"],
                       f"Transformer, last decoder layer, mean of heads (seed {ctx.seeds[0]})")
        save_figure(fig, path, dpi=100)

    return Measured(per_seed=per_seed, ours=ours, figure=figure,
                    measurements={"bleu_signature": tf[0]["probe"]["signature"],
                                  "examples": {"transformer": tf[0]["probe"]["examples"],
                                               "seq2seq": rnn[0]["probe"]["examples"]}},
                    examples=example_lines({f"Transformer (seed {ctx.seeds[0]})": tf[0]["probe"]["examples"],
                                            f"seq2seq (seed {ctx.seeds[0]})": rnn[0]["probe"]["examples"]}))


CLAIMS = [
    Claim(
        milestone="transformer",
        name="beats-recurrence",
        title="The Transformer translates better than recurrence for the same compute",
        paper=("Vaswani et al. 2017, Table 2: on WMT'14 en-de the base Transformer reaches 27.3 BLEU at a training "
               "cost of 3.3e18 FLOPs, the recurrent GNMT+RL 24.6 at 2.3e19 (cost: training time x GPUs x their "
               "sustained TFLOPS)"),
        paper_value="higher BLEU at a fraction of the training cost",
        rule=("the pre-LN Transformer, trained for as many counted FLOPs as the attention seq2seq's 300 steps took, "
              "each at its best learning rate of 1e-3, 3e-3 and 1e-2 (chosen on validation BLEU at seeds 100-102), "
              "reaches a higher test BLEU than the seq2seq"),
        measure=measure,
        budget_note=("three attention seq2seq runs and three Transformer runs of the same training FLOPs: about 35 s "
                     "on 2 cores"),
        caption=("left: at the same training FLOPs the Transformer's BLEU is still far below the attention LSTM's and "
                 "rising; right: what it attends to."),
        why=("Table 2's cost is time on parallel hardware (training time x GPUs x sustained TFLOPS), not counted "
             "FLOPs: the Transformer wins there because a GPU runs all positions of a sentence at once, where an RNN "
             "takes a step per word. Counted FLOPs give no such advantage: at d_model 64 a Transformer step costs "
             "about 1.5 times an attention-LSTM step, so it gets about 200 steps to the LSTM's 300 and is still "
             "learning. Pre-LN with a short warm-up and each model at its best rate did not close the gap (the "
             "post-LN Transformer with 100 warm-up steps and an untuned 2e-3 had reached 67-79 against the LSTM's "
             "78-99 at its old 3e-3)"),
    ),
]
