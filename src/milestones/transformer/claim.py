"""The Transformer's claim in miniature: better translation than recurrence for the same training time.

Vaswani et al. 2017, Table 2: the base Transformer beat the best recurrent and convolutional
models on WMT'14 at a fraction of their training cost, because self-attention processes all
positions of a sentence at once where an RNN takes one step per word.

Here, per seed: the attention seq2seq of seq2seq's claims (Bahdanau's RNNsearch, the `small`
preset, 300 steps; the very same runs when both claims run in one process) sets the budget: the
Transformer (`small`: d_model 64, 2 + 2 layers, 4 heads) trains on the same data for as many
seconds of training as that run took, evaluation not counted. Time is each process's CPU time,
one thread per run, so that runs sharing a machine get the same compute for the same budget.
Holds if the median over seeds of (Transformer - seq2seq) test BLEU is above 0.

Measured (seeds 0-2): with 64 pairs per step, -2.6 (does not hold: the LSTM reached ~99 BLEU);
with 32, the preset now, +0.8 (holds, one seed at -9.4). Near the ceiling, and with a budget in
measured CPU time, the verdict is not stable; see the README.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from ..core.claims import Claim, Measured, median, parallel_map, pyplot
from ..core.trainer import train
from ..seq2seq import claim as s2s
from ..seq2seq.sample import attention_map, draw_attention
from .task import PRESETS, Config, TransformerTask


def config(preset: str, seed: int, budget: float) -> Config:
    return Config(**{**PRESETS[preset], "steps": 1_000_000}, time_budget=budget, clock="cpu", tensorboard=False,
                  seed=seed)


def _job(preset: str, seed: int, budget: float) -> dict[str, Any]:
    cfg = config(preset, seed, budget)
    task = TransformerTask(cfg)
    result = train(task, None, verbose=False)
    evals = [r for r in result.history if r["split"] == "eval"]
    s = task.score(result.model, torch.device("cpu"), "test", s2s.TEST_SENTENCES[preset])
    return {"seed": seed, "steps": [r["step"] for r in evals], "seconds": [r["train_seconds"] for r in evals],
            "valid_bleu": [r["bleu"] for r in evals], "test_bleu": s["bleu"], "test_chrf": s["chrf"],
            "by_length": s["by_length"], "signature": s["bleu_signature"], "examples": s["examples"],
            "heat": attention_map(task, result.model, s2s.HEAT_SENTENCE)}


def measure(preset: str, seeds: list[int], workers: int) -> Measured:
    rnn = s2s.runs(preset, seeds, workers, ("attention",))
    budgets = [r["seconds"][-1] for r in rnn]
    tf = parallel_map(_job, [dict(preset=preset, seed=s, budget=b) for s, b in zip(seeds, budgets)], workers)
    diffs = [t["test_bleu"] - r["test_bleu"] for t, r in zip(tf, rnn)]
    holds = median(diffs) > 0
    ours = ("test BLEU at equal training time, Transformer vs attention seq2seq: "
            + ", ".join(f"seed {t['seed']} ({b:.0f} s): {t['test_bleu']:.1f} vs {r['test_bleu']:.1f} "
                        f"({t['steps'][-1]} vs {r['steps'][-1]} steps)" for t, r, b in zip(tf, rnn, budgets))
            + f"; median difference {median(diffs):+.1f}")

    def figure(path: Path) -> None:
        plt = pyplot()
        fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1, 1.2]})
        for rs, color, label in ((tf, "C0", "Transformer"), (rnn, "C3", "seq2seq + attention (LSTM)")):
            for i, r in enumerate(rs):
                a0.plot(r["seconds"], r["valid_bleu"], "-o", ms=3, color=color, alpha=0.8,
                        label=label if i == 0 else None)
        a0.set_xlabel("training time (CPU seconds, one thread; evaluation not counted)")
        a0.set_ylabel("validation BLEU")
        a0.set_ylim(0, 102)
        a0.legend(fontsize=8)
        a0.set_title("BLEU against training time", fontsize=9)
        draw_attention(a1, tf[0]["heat"], f"Transformer, last decoder layer, mean of heads (seed {tf[0]['seed']})")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)

    return Measured(holds=holds, ours=ours, figure=figure,
                    measurements={"differences": diffs, "budgets_cpu_seconds": budgets,
                                  "transformer": [{k: v for k, v in r.items() if k != "heat"} for r in tf],
                                  "seq2seq_attention": [{k: v for k, v in r.items() if k != "heat"} for r in rnn],
                                  "bleu_signature": tf[0]["signature"],
                                  "settings": {"transformer": dataclasses.asdict(config(preset, 0, 0.0))
                                               | {"seed": "per run", "time_budget": "per seed"},
                                               "seq2seq": dataclasses.asdict(s2s.config(preset, 0, "attention"))
                                               | {"seed": "per run"}}})


CLAIMS = [
    Claim("transformer", "beats-recurrence", "The Transformer translates better than recurrence for the same time",
          "Vaswani et al. 2017, Table 2: on WMT'14 en-de the base Transformer reaches 27.3 BLEU with 3.3e18 "
          "training FLOPs, the recurrent GNMT+RL 24.6 with 2.3e19",
          "higher BLEU at a fraction of the training cost",
          "per seed, the Transformer trains for as many CPU seconds as the attention seq2seq's 300 steps took; the "
          "median over seeds of (Transformer - seq2seq) test BLEU is above 0",
          measure, budget_note="three attention seq2seq runs (shared with seq2seq's claims) and three Transformer "
                               "runs of the same training time: about 1.5 minutes on 2 cores"),
]
