"""The Transformer's claim in miniature: better translation than recurrence for the same training compute.

Vaswani et al. 2017, Table 2: the base Transformer beat the best recurrent and convolutional
models on WMT'14 at a fraction of their training cost in FLOPs, because self-attention
processes all positions of a sentence at once where an RNN takes one step per word.

Here, per seed: the attention seq2seq (Bahdanau's RNNsearch, `milestones train seq2seq --preset
small`: 300 steps of 32 pairs; the very runs of seq2seq's claims when both run in one process)
sets the budget: its training FLOPs, counted from the sizes of the model and of every batch it
trained on (seq2seq/model.py `training_flops`). The Transformer (`small`: d_model 64, 2 + 2
layers, 4 heads, the same data and batches) then trains for as many steps as fit in that budget
(transformer/model.py `training_flops`). Counting FLOPs rather than seconds makes the budget, and
so the verdict, the same on every machine and at any load: it was measured in CPU seconds until
four measurements gave -2.6, +0.8, +1.4 and -4.0 BLEU.
Holds for a seed if the Transformer's test BLEU is higher than the seq2seq's.
"""

from __future__ import annotations

from pathlib import Path

from ..core.claims import Claim, Context, Measured, Reference, Run, median, pyplot
from ..core.config import build
from ..tasks.translation_sample import draw_attention, example_lines, probe
from .task import PRESETS, Config, TransformerTask

__all__ = ["CLAIMS", "probe"]


def seq2seq_run(preset: str, seed: int) -> Run:
    """The attention seq2seq run of seq2seq's claims (named the same way, so it is shared)."""
    return Run.of("seq2seq", preset, seed=seed, model=dict(attention=True))


def steps_within(preset: str, seed: int, flops: float) -> int:
    """How many steps of the Transformer's preset fit in `flops` (its batches are the seq2seq's:
    the same data, seed and batch size)."""
    return TransformerTask(build(Config, PRESETS, preset, {"seed": seed})).steps_within(flops)


def measure(ctx: Context) -> Measured:
    rnn = ctx.runs([seq2seq_run(ctx.preset, s) for s in ctx.seeds])
    budgets = [r["probe"]["flops"] for r in rnn]
    steps = [steps_within(ctx.preset, s, b) for s, b in zip(ctx.seeds, budgets)]
    tf = ctx.runs([Run.of("transformer", ctx.preset, seed=s, steps=n) for s, n in zip(ctx.seeds, steps)])
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
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)

    return Measured(per_seed=per_seed, ours=ours, figure=figure,
                    measurements={"bleu_signature": tf[0]["probe"]["signature"],
                                  "examples": {"transformer": tf[0]["probe"]["examples"],
                                               "seq2seq": rnn[0]["probe"]["examples"]}},
                    examples=example_lines({f"Transformer (seed {ctx.seeds[0]})": tf[0]["probe"]["examples"],
                                            f"seq2seq (seed {ctx.seeds[0]})": rnn[0]["probe"]["examples"]}))


CLAIMS = [
    Claim("transformer", "beats-recurrence", "The Transformer translates better than recurrence for the same compute",
          "Vaswani et al. 2017, Table 2: on WMT'14 en-de the base Transformer reaches 27.3 BLEU with 3.3e18 "
          "training FLOPs, the recurrent GNMT+RL 24.6 with 2.3e19",
          "higher BLEU at a fraction of the training cost",
          "the Transformer, trained for as many FLOPs as the attention seq2seq's 300 steps took, reaches a "
          "higher test BLEU than the seq2seq",
          measure, budget_note="three attention seq2seq runs (shared with seq2seq's claims) and three Transformer "
                               "runs of the same training FLOPs: 20 s on 2 cores (AMD EPYC)",
          caption="left: at the same training FLOPs (the vertical line) the Transformer's BLEU is still below the "
                  "attention LSTM's and rising; right: what it attends to.",
          reference=Reference(
              0, 10, "milestones reproduce transformer --seeds 10",
              "Transformer 67-79 vs seq2seq 78-99 test BLEU at equal FLOPs (about 200 vs 300 steps; median -23.6)",
              "at d_model 64 a Transformer step costs about 1.5 times an attention-LSTM step in FLOPs, so it gets "
              "200 steps to the LSTM's 300 and is still learning; the paper's advantage is parallel hardware at "
              "scale, where its per-FLOP cost and its FLOPs per quality both win")),
]
