"""seq2seq's claims in miniature, on the embedded English -> French number words.

1. Attention and sentence length (Bahdanau et al. 2015, Fig. 2): the fixed-vector encoder-decoder
   (RNNencdec) degrades as sentences grow, the attention model (RNNsearch) does not. Both are
   trained for the same number of steps with the same sizes; test BLEU is computed per
   source-length bucket. Holds for a seed if, on the longest bucket (16+ words), the attention
   model's BLEU exceeds the fixed-vector model's by at least 10 points.
2. Source reversal (Sutskever et al. 2014, §3.3): the fixed-vector model reading the source
   backwards. Holds for a seed if its test BLEU is higher than the forward model's.

Both claims share one set of runs: per seed, the forward and the reversed fixed-vector models
and the attention model. Test BLEU is sacrebleu's on detokenized text (signature in the
evidence), greedy decoding, on the first 500 test pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.claims import Claim, Context, Measured, Run, median
from ..core.config import build
from ..core.figures import pyplot, save_figure
from ..data import translation as tr
from ..tasks.translation_sample import draw_attention, example_lines, probe
from .task import PRESETS, Config

__all__ = ["CLAIMS", "probe"]

VARIANTS = {"fixed": dict(attention=False), "reversed": dict(attention=False, reverse_source=True),
            "attention": dict(attention=True)}
MIN_GAP = 10.0


def run(preset: str, seed: int, variant: str) -> Run:
    """`milestones train seq2seq --preset P --seed S` with the variant's model: the small preset
    trains 300 steps of 32 pairs."""
    return Run.of("seq2seq", preset, seed=seed, model=VARIANTS[variant])


def _runs(ctx: Context) -> dict[tuple[str, int], dict[str, Any]]:
    """Every variant on every seed; both claims share them (and the Transformer's compares with the
    attention runs)."""
    c = build(Config, PRESETS, ctx.preset)
    tr.load(c.dataset, c.data, c.lang, max_digits=c.max_digits, n_train=c.n_train)  # cached once, before the runs
    keys = [(v, seed) for seed in ctx.seeds for v in ("attention", "fixed", "reversed")]
    return dict(zip(keys, ctx.runs([run(ctx.preset, seed, v) for v, seed in keys])))


def _valid_curve(record: dict[str, Any]) -> tuple[list[int], list[float]]:
    rows = [r for r in record["history"] if r["split"] == "eval"]
    return [r["step"] for r in rows], [r["bleu"] for r in rows]


def measure_length(ctx: Context) -> Measured:
    done = _runs(ctx)
    probes = {k: r["probe"] for k, r in done.items()}
    present = [tr.bucket_name(i) for i in range(len(tr.BUCKETS))
               if tr.bucket_name(i) in probes[("fixed", ctx.seeds[0])]["by_length"]]
    longest = present[-1]  # 16+ words; shorter at the tiny preset, whose numbers have at most 6 digits
    per_seed = []
    for seed in ctx.seeds:
        a, f = probes[("attention", seed)], probes[("fixed", seed)]
        gap = a["by_length"][longest]["bleu"] - f["by_length"][longest]["bleu"]
        per_seed.append({"seed": seed, "holds": gap >= MIN_GAP, "attention": a["by_length"][longest]["bleu"],
                         "fixed": f["by_length"][longest]["bleu"], "gap": gap,
                         "attention_all": a["test_bleu"], "fixed_all": f["test_bleu"]})
    ours = (f"test BLEU on sources of {longest} words, attention vs fixed vector: "
            + ", ".join(f"{p['attention']:.1f} vs {p['fixed']:.1f}" for p in per_seed)
            + f" (median gap {median([p['gap'] for p in per_seed]):.1f}; all lengths "
            + f"{median([p['attention_all'] for p in per_seed]):.1f} vs "
            + f"{median([p['fixed_all'] for p in per_seed]):.1f})")

    def figure(path: Path) -> None:
        plt = pyplot()
        fig, (a0, a1) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1, 1.2]})
        for variant, color, label in (("attention", "C0", "attention (RNNsearch)"),
                                      ("fixed", "C3", "fixed vector (RNNencdec)")):
            rs = [probes[(variant, seed)] for seed in ctx.seeds]
            for r in rs:
                a0.plot(present, [r["by_length"].get(n, {}).get("bleu", float("nan")) for n in present], color=color,
                        alpha=0.35, lw=1)
            a0.plot(present, [median([r["by_length"][n]["bleu"] for r in rs if n in r["by_length"]]) for n in present],
                    "-o", color=color, lw=2, label=f"{label}, median of {len(rs)} seeds")
        a0.set_xlabel("source sentence length (English words)")
        a0.set_ylabel("test BLEU")
        a0.set_ylim(0, 102)
        a0.legend(fontsize=8)
        a0.set_title("BLEU by sentence length (Bahdanau et al. Fig. 2, in miniature)", fontsize=9)
        draw_attention(a1, probes[("attention", ctx.seeds[0])]["heat"],
                       f"where the attention model looked (seed {ctx.seeds[0]})")
        save_figure(fig, path, dpi=100)

    first = probes[("fixed", ctx.seeds[0])]
    return Measured(per_seed=per_seed, ours=ours, figure=figure,
                    measurements={"longest_bucket": longest, "bleu_signature": first["signature"],
                                  "bucket_bleu_signature": first["by_length"][longest]["signature"],
                                  "examples": {f"{v}/{seed}": probes[(v, seed)]["examples"]
                                               for v in ("attention", "fixed") for seed in ctx.seeds[:1]}},
                    examples=example_lines({f"{v} (seed {ctx.seeds[0]})": probes[(v, ctx.seeds[0])]["examples"]
                                            for v in ("attention", "fixed")}))


def measure_reversal(ctx: Context) -> Measured:
    done = _runs(ctx)
    per_seed = []
    for seed in ctx.seeds:
        r, f = done[("reversed", seed)]["probe"]["test_bleu"], done[("fixed", seed)]["probe"]["test_bleu"]
        per_seed.append({"seed": seed, "holds": r - f > 0, "reversed": r, "forward": f, "difference": r - f})
    ours = ("test BLEU of the fixed-vector model, source reversed vs forward: "
            + ", ".join(f"{p['reversed']:.1f} vs {p['forward']:.1f}" for p in per_seed)
            + f" (median difference {median([p['difference'] for p in per_seed]):+.1f})")

    def figure(path: Path) -> None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for variant, color, label in (("reversed", "C2", "source reversed"), ("fixed", "C3", "source forward")):
            for i, seed in enumerate(ctx.seeds):
                ax.plot(*_valid_curve(done[(variant, seed)]), "-o", ms=3, color=color, alpha=0.8,
                        label=label if i == 0 else None)
        ax.set_xlabel("training step")
        ax.set_ylabel("validation BLEU")
        ax.legend(fontsize=8)
        ax.set_title("Fixed-vector seq2seq: reading the source backwards (Sutskever et al. §3.3)", fontsize=9)
        save_figure(fig, path, dpi=100)

    first = ctx.seeds[0]
    return Measured(per_seed=per_seed, ours=ours, figure=figure,
                    measurements={"bleu_signature": done[("fixed", first)]["probe"]["signature"]},
                    examples=example_lines({f"{label} (seed {first})": done[(v, first)]["probe"]["examples"]
                                            for v, label in (("reversed", "reversed"), ("fixed", "forward"))}))


CLAIMS = [
    Claim(
        milestone="seq2seq",
        name="attention-long-sentences",
        title="Attention keeps translation quality on long sentences",
        paper="Bahdanau et al. 2015, Fig. 2: RNNencdec's BLEU falls with sentence length; RNNsearch's does not",
        paper_value="RNNsearch-50 26.75 vs RNNencdec-50 17.82 BLEU (WMT'14 en-fr, all sentences)",
        rule=(f"on the longest source bucket (16+ words), the attention model's test BLEU exceeds the fixed-vector "
              f"model's by at least {MIN_GAP:g} points (same sizes, same number of steps)"),
        measure=measure_length,
        budget_note=("nine runs of 300 steps (three models x three seeds, shared with the source-reversal claim): 31 "
                     "s on 2 cores (AMD EPYC)"),
        caption=("left: the blue attention model keeps its BLEU on the longest sentences while the red fixed-vector "
                 "model stays near zero; right: the dark cells run down the diagonal, each French word looking at the "
                 "English words it translates."),
        why="a 64-unit fixed vector cannot hold a 16-word number; attention reads each word when it needs it",
    ),
    Claim(
        milestone="seq2seq",
        name="source-reversal",
        title="Reversing the source helps the fixed-vector model",
        paper="Sutskever et al. 2014 §3.3: reversing the source sentences raised test BLEU from 25.9 to 30.6",
        paper_value="25.9 -> 30.6 BLEU",
        rule="the fixed-vector model's test BLEU is higher with the source reversed than forward",
        measure=measure_reversal,
        budget_note="shares its runs with attention-long-sentences",
        caption=("the green reversed-source curves climb well above the red forward ones, which stay near zero "
                 "validation BLEU: with the source read backwards the first words to translate are the last the "
                 "encoder read."),
        why="reading the source backwards puts the first words side by side with the first words to write",
    ),
]
