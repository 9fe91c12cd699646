"""GPT's claims in miniature: loss falls smoothly with scale, few-shot ability grows with scale, and
induction heads, which copy from the context, need two layers.

1. Scaling (Brown et al. 2020 §3, Fig. 3.1; Kaplan et al. 2020): validation loss follows a power
   law in model size. Ours: five character-level models of the standard library, 2 layers, widths
   16 to 128 (heads of 16 dimensions), each trained on the same 400 x 16 windows of 64 characters
   (410k tokens), AdamW lr 2e-3. N is the non-embedding parameter count (Kaplan's). Holds for a seed
   if the validation loss falls strictly with N across the five, and L(N) = a N^-alpha + c (c >= 0)
   fitted to that seed's five losses explains them: R^2 >= 0.98 with alpha > 0. The figure is the
   paper's log-log plot, with the law fitted to the medians over seeds.

2. Few-shot ability grows with scale (Brown et al. §1, Fig. 1.2, and §3): GPT-3 measured models of
   1.3B, 13B and 175B parameters, all trained on the same 300B tokens of text, on tasks given in the
   prompt with 0, 1 or up to 100 examples (Fig. 1.2: removing random symbols from a word); the
   larger the model, the more its accuracy climbs with examples ("larger models make increasingly
   efficient use of in-context information").
   Ours: sequences of 8 key-value pairs, each sequence a fresh random mapping of 8 keys to 8 values
   (data/keyvalue.py), so the answer to a key is in the context or nowhere; an s-shot query is a
   key whose value has been shown s times before in that sequence. Four 2-layer models, widths 16,
   32, 64 and 128 (two heads each), trained alike on the same 128k sequences (1,000 steps of 128,
   AdamW lr 3e-3, no weight decay), measured at 0 to 3 shots on the same held-out sequences.
   Counting is a trap: at s shots the answer has been seen s times, so guessing the value seen most
   often, without reading the key, already scores 13/36/68/95% at 0/1/2/3 shots (the task reports it
   as counting_{s}shot). What a model takes from the context beyond counting shows best at one
   shot, where counting helps least.
   Holds for a seed if zero-shot accuracy is within 5 points of chance (1/8) for every size, the
   one-shot accuracy beyond counting rises with size (no size more than 2 points, about three
   standard errors of the evaluation, below the next smaller one), and the largest model's is at
   least 20 points above the smallest's.
   What differs: GPT-3 learned in context from text it was never trained on the task with; ours is
   trained on the task's distribution (a fresh mapping per sequence, so what it learns is how to
   read a context, not any answer), because in-context ability from text alone needs far more
   tokens than a CPU run has. Sizes span 8x in width (about 60x in non-embedding parameters), not
   135x; shots go to 3, not 100. Attention-only blocks (no MLPs): recall from the context is
   attention's work, and without MLPs the runs cost half as much. GPT-3's curves rise smoothly with
   size; ours jump: a model either leaves the counting plateau within the budget, abruptly (a phase
   change, as when induction heads form), or stays on it.
   Beyond counting is not all reading: in the pilot a 1-layer attention-only model of width 128,
   which cannot tie a value to the key before it (that takes a head in a second layer that sees
   what the first one wrote), reached 58% at one shot, 22 points above counting (the 2-layer: 75%),
   by using how often keys and values recur (guessing among the values seen as often as the key
   scores 41%); what grows with size is in-context accuracy beyond the simplest statistic, as in
   GPT-3, and not only the induction circuit.
   Piloted on seeds 100 and 101, then the rule was fixed: one-shot accuracy beyond counting -0/-0/-0/
   +39 and -4/+0/+0/+21 points from width 16 to 128; with 1,500 steps width 64 left the plateau
   too; with heads of 16 dimensions no size left it within 1,000 steps. A first design (16 keys, 16
   values, 12 pairs, widths 8-64, one head, the gain of the mean of 1-3 shots over 0) held on 9 of
   10 seeds and was withdrawn: every size sat on its counting baseline (6/24/50/85% at width 64
   against counting's 6/24/51/88%), so what grew with size was counting, not reading the context.
   Measured on seeds 0-9: holds 10 of 10 (beyond counting at one shot, width 128: +37 to +41 in
   every seed; width 64: 0 to +23, off the plateau in 5 seeds; widths 16 and 32 on it).

3. Induction heads need two layers (Olsson et al. 2022, "In-context Learning and Induction
   Heads", after Elhage et al. 2021, "A Mathematical Framework for Transformer Circuits"): on
   sequences of random tokens in which a segment recurs, attention-only Transformers of two or more
   layers learn to copy the repeat, in a sudden phase change early in training, while one-layer
   models cannot. The circuit takes two heads in two layers: a previous-token head writes into
   each position the token before it, and an induction head in a later layer, at the current
   token, attends to the position whose previous token matches it (the token after the earlier
   occurrence) and copies that token. One layer cannot compose the two.
   What Olsson et al. did: small attention-only Transformers of one to six layers (and models with
   MLPs, up to 13B parameters) trained on text, contexts of 8,192 tokens, 10B tokens each. In every
   model of two or more layers, a few billion tokens in, the training loss shows a bump: in a short
   window induction heads form and the in-context learning score (the loss of the 500th token of a
   context minus the 50th's) jumps; one-layer models show neither. Elhage et al.'s test of the
   circuit is a sequence of random tokens repeated: a 2-layer model predicts the repeat, a 1-layer
   model cannot.
   Ours (data/repeats.py): sequences of 32 tokens drawn uniformly from 64 symbols, in which a
   segment of 8 to 15 tokens recurs at a random later lag, both drawn anew for every sequence, so
   no position or fixed lag tells where the copy is. A 1- and a 2-layer attention-only GPT, width
   64 with 4 heads, trained alike: 6,000 steps of 64 sequences (12M tokens), AdamW lr 3e-3 after a
   50-step warm-up, constant, no weight decay. The measure is the accuracy on the repeated tokens
   after the first (the first follows a random token, so nothing points to it); the task also
   reports each head's previous-token score (mean weight on the position before) and induction
   score (mean weight on the token to copy), and the figure shows the loss on the repeated tokens
   over training with each seed's phase change marked (the first evaluation half-way from chance to
   the final accuracy) and, on one held-out sequence, the maps of the two heads. Holds for a seed
   if the 2-layer model's accuracy is at least 60% and at least 40 points above the 1-layer
   model's.
   What differs: Olsson et al. watched the change happen in models trained on text; ours trains
   on the repeated random tokens themselves (Elhage et al.'s test data), 12M tokens in contexts of
   32, so the change is read off the accuracy on the repeat rather than off a bump in a text loss.
   Attention-only, as Olsson et al.'s small models: with MLPs (pilot seeds 101 and 105) the 2-layer
   model changed at about 1,500 steps and copied 82%, so MLPs do not change the result (on seed 101,
   where the attention-only model climbed slowly, they even shortened the wait), but each step cost
   about twice as much.
   Why the run is as long as it is: before the change both depths sit on a plateau (predicting
   tokens already seen in the sequence; about 23% here, 11-12% with sequences of 64), and how long
   the plateau lasts is a matter of chance and of the context's length (Zucchet et al. 2025 find
   power laws in the sequence length; Musat et al. 2025 about quadratic). The first design (64
   tokens, segments 16-30, 2 heads, batch 16, lr 1e-3, 2,500 steps) held on 1 of 10 seeds: trained
   8,000 steps (seeds 300-309), the change came at steps 3,000-7,500 on 7 of 10. The pilot then
   (seeds 100-109; each setting's step of the change, half-way from chance to the end):
   - 64 tokens, batch 64, lr 3e-3, 4 heads: 750-1,500 on seeds 100, 102, 103 and 104; none on 101
     (22% at 5,000 steps) and 105 (24% at 4,000); with 8 heads none by 2,500 on 101 and 105; at lr
     1e-2 the loss went to log 64 (uniform) by step 750 and stayed there.
   - 64 tokens, batch 32, lr 1e-3, 8 heads: 1,000-1,250 on seeds 100 and 103, none on 101 and 102
     by 2,500.
   - 32 tokens, segments 8-15, batch 64, lr 3e-3, 4 heads (the claim's settings), 4,000 steps, 77 s
     a run on one core: an abrupt change at 1,000-2,000 on seeds 102-105, 107 and 109 (83-93% at
     the end of their runs); a slow climb on 100, 101, 106 and 108, past 60% at steps 2,250-4,250 and at
     76-85% at step 6,000 (80-86% at 8,000); the 1-layer model 23% at 4,000 steps (seeds 100, 101).
     6,000 steps give the slowest pilot seed half as long again as it needed.
   Measured on seeds 0-9: holds 10 of 10 (2 layers 81-99% against 1 layer's 21-23%; the change at
   steps 1,000-1,750 on eight seeds, 2,500 and 2,750 on the two that climbed slowly; 12M tokens, 19
   s a thousand steps on one core). The lag-1 head scores are high on some seeds (seed 4: 0.97 and
   0.95) and near uniform on others (seed 2: 0.10 and 0.02, while it copies 90%): there the circuit
   formed shifted. Read off seed 2's model on 512 held-out sequences, each of three layer-2 heads
   attends, from inside the copy, most often three positions after the token to copy (the argmax
   on 2,063-2,088 of 5,321 copied tokens), so their keys must hold the tokens three and four
   back, which layer-1 heads attending that far back write; the match and the copy are the
   same. The scores measure the textbook circuit only, and the figure's maps show the seed where
   it is clearest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.claims import Claim, Context, Measured, Run, median
from ..core.figures import pyplot, save_figure
from ..core.trainer import Result
from .model import count_parameters

__all__ = ["CLAIMS", "probe", "power_law"]


PROMPT = "def "


def probe(task: Any, result: Result, run: Run) -> dict[str, Any]:
    """The model's size and training tokens; for a text model, what it writes after PROMPT (greedy,
    80 characters); for repeated segments, its heads' previous-token and induction scores and, on
    one held-out example, the maps of its strongest heads of each kind (`example`)."""
    cfg = task.model_config()
    out = {"non_embedding": count_parameters(cfg) - (cfg.vocab_size + cfg.block_size) * cfg.d_model,
           "parameters": count_parameters(cfg), "tokens": result.step * task.cfg.batch_size * task.seq_len}
    if task.tokenizer is None and task.cfg.dataset == "repeats":
        out["heads"] = heads = task.head_scores(result.model.eval())
        out["example"] = _example_maps(task, result.model, heads)
    if task.tokenizer is not None:
        ids = torch.tensor([task.tokenizer.encode(PROMPT)])
        with torch.no_grad():
            new = [int(t[0]) for t in result.model.eval().generate(ids, 80, temperature=0.0)]
        out["sample"] = PROMPT + task.tokenizer.decode(new)
    return out


def _example_maps(task: Any, model: Any, heads: dict[str, list[list[float]]]) -> dict[str, Any]:
    """The attention maps (T, T) of layer 1's strongest previous-token head and the last layer's
    strongest induction head on the first held-out sequence, and where its copy lies (the query
    positions whose next token is copied: start, length)."""
    batch = task.held_out(0)
    maps = model.attention(batch["x"][:1])  # per layer (1, H, T, T)
    previous = int(np.argmax(heads["previous"][0]))
    induction = int(np.argmax(heads["induction"][-1]))
    inside = (batch["repeat"][0] >= 0).nonzero().flatten()
    return {"previous": maps[0][0, previous].numpy().round(3).tolist(), "previous_head": previous,
            "induction": maps[-1][0, induction].numpy().round(3).tolist(), "induction_head": induction,
            "copy": [int(inside[0]), len(inside)]}


def power_law(n: list[float], loss: list[float]) -> dict[str, float]:
    """L(N) = a N^-alpha + c fitted by least squares on L, c >= 0 (a loss has a floor, the text's
    entropy): for each c on a grid below the smallest loss, a and alpha come from a straight line
    through log(L - c) against log N; the c with the smallest squared error on L wins."""
    x, y = np.log(np.asarray(n, float)), np.asarray(loss, float)
    best: dict[str, float] = {}
    for c in np.linspace(0.0, y.min() * 0.999, 2000):
        slope, intercept = np.polyfit(x, np.log(y - c), 1)
        pred = np.exp(intercept + slope * x) + c
        sse = float(((y - pred) ** 2).sum())
        if not best or sse < best["sse"]:
            best = {"a": float(np.exp(intercept)), "alpha": float(-slope), "c": float(c), "sse": sse}
    best["r2"] = 1.0 - best["sse"] / float(((y - y.mean()) ** 2).sum())
    return best


def _parts_met(per_seed: list[dict[str, Any]], parts: dict[str, Callable[[dict[str, Any]], bool]]) -> str:
    """How many seeds met each part of a rule, in words: "parts of the rule met: A 3, B 1 of 3 seeds"."""
    counts = ", ".join(f"{name} {sum(bool(met(p)) for p in per_seed)}" for name, met in parts.items())
    return f"parts of the rule met: {counts} of {len(per_seed)} seeds"


# -- 1. scaling -----------------------------------------------------------------------------------

SCALING = {
    "tiny": dict(widths=(8, 16, 24, 32), steps=20, block_size=16, batch_size=8, eval_batches=2),
    "small": dict(widths=(16, 32, 64, 96, 128), steps=400, block_size=64, batch_size=16, eval_batches=20),
    "paper": dict(widths=(64, 128, 256, 384, 512), steps=4000, block_size=256, batch_size=32, eval_batches=40),
}
MIN_R2 = 0.98


def scaling_run(preset: str, width: int, seed: int) -> Run:
    s = SCALING[preset]
    return Run.of("gpt", preset, seed=seed, steps=s["steps"], batch_size=s["batch_size"], warmup_steps=s["steps"] // 10,
                  eval_every=0, eval_batches=s["eval_batches"], optim=dict(lr=2e-3),
                  model=dict(layers=2, d_model=width, heads=max(1, width // 16), block_size=s["block_size"]))


def measure_scaling(ctx: Context) -> Measured:
    widths = SCALING[ctx.preset]["widths"]
    keys = [(w, seed) for w in sorted(widths, reverse=True) for seed in ctx.seeds]  # the largest first
    records = dict(zip(keys, ctx.runs([scaling_run(ctx.preset, w, seed) for w, seed in keys])))
    n = [records[(w, ctx.seeds[0])]["probe"]["non_embedding"] for w in widths]
    per_seed = []
    for seed in ctx.seeds:
        loss = [records[(w, seed)]["final"]["val_loss"] for w in widths]
        fit = power_law(n, loss)
        falls = all(b < a for a, b in zip(loss, loss[1:]))
        per_seed.append({"seed": seed, "holds": falls and fit["r2"] >= MIN_R2 and fit["alpha"] > 0,
                         "falls": falls, "val_loss": loss, "alpha": fit["alpha"], "c": fit["c"], "r2": fit["r2"]})
    med = [median([p["val_loss"][i] for p in per_seed]) for i in range(len(widths))]
    fit = power_law(n, med)
    tokens = records[(widths[0], ctx.seeds[0])]["probe"]["tokens"]
    ours = ("validation loss (nats per character) by non-embedding parameters, medians: "
            + ", ".join(f"{x / 1e3:.0f}k {v:.3f}" for x, v in zip(n, med))
            + f"; L(N) = {fit['a']:.3g} N^-{fit['alpha']:.3f} + {fit['c']:.2f}, R^2 {fit['r2']:.4f}; per seed R^2 "
            + ", ".join(f"{p['r2']:.4f}" for p in per_seed) + f" ({tokens / 1e3:.0f}k training tokens each)")

    def figure(path: Path) -> None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4.4))
        for i, p in enumerate(per_seed):
            ax.plot(n, p["val_loss"], "o", color="C0", alpha=0.35, ms=4, label="each seed" if i == 0 else None)
        ax.plot(n, med, "o", color="C0", ms=7, label="median over seeds")
        grid = np.geomspace(min(n) / 2, max(n) * 4, 100)
        ax.plot(grid, fit["a"] * grid ** -fit["alpha"] + fit["c"], "--", color="C3",
                label=f"L = {fit['a']:.2f} N^-{fit['alpha']:.3f} + {fit['c']:.2f} (R^2 {fit['r2']:.3f})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
            axis(plt.FormatStrFormatter("%.1f"))
        ax.set_xlabel("non-embedding parameters N")
        ax.set_ylabel("validation loss (nats / character)")
        ax.set_title(f"Loss falls smoothly with model size ({tokens / 1e3:.0f}k tokens each; cf. GPT-3 Fig. 3.1)",
                     fontsize=10)
        ax.legend(fontsize=8)
        save_figure(fig, path)

    first = ctx.seeds[0]
    samples = [f"{records[(w, first)]['probe']['parameters']:>9,} parameters: "
               + repr(records[(w, first)]["probe"].get("sample", "")) for w in (widths[0], widths[-1])]
    return Measured(per_seed=per_seed, ours=ours, figure=figure,
                    examples=[f'after {PROMPT!r}, greedy (seed {first}):', *samples],
                    measurements={"widths": list(widths), "non_embedding": n, "median_loss": med, "fit": fit})


# -- 2. few-shot ability grows with scale -------------------------------------------------------------

FEW_SHOT = {
    "tiny": dict(widths=(4, 8, 12, 16), steps=20, batch_size=16, eval_batches=2),
    "small": dict(widths=(16, 32, 64, 128), steps=1000, batch_size=128, eval_batches=20),
    "paper": dict(widths=(64, 128, 256, 512), steps=10000, batch_size=128, eval_batches=40),
}
FS_KEYS = FS_VALUES = FS_PAIRS = 8
SHOTS = (0, 1, 2, 3)
FS_HEADS = 2
ZERO_SHOT_SLACK = 5.0  # points from chance that zero-shot may be
MIN_SPREAD = 20.0  # points: the largest model's one-shot accuracy beyond counting above the smallest's
NOISE = 2.0  # points: a smaller model above a larger one by less is evaluation noise, not an inversion


def few_shot_run(preset: str, width: int, seed: int) -> Run:
    s = FEW_SHOT[preset]
    return Run.of("gpt", preset, seed=seed, dataset="keyvalue", kv_keys=FS_KEYS, kv_values=FS_VALUES,
                  kv_pairs=FS_PAIRS, steps=s["steps"], batch_size=s["batch_size"], warmup_steps=s["steps"] // 30,
                  eval_every=s["steps"] // 5, eval_batches=s["eval_batches"], optim=dict(lr=3e-3, weight_decay=0.0),
                  model=dict(layers=2, d_model=width, heads=FS_HEADS, mlp=False, block_size=2 * FS_PAIRS))


def measure_few_shot(ctx: Context) -> Measured:
    widths = FEW_SHOT[ctx.preset]["widths"]
    chance = 100 / FS_VALUES
    keys = [(w, seed) for w in sorted(widths, reverse=True) for seed in ctx.seeds]  # the largest first
    records = dict(zip(keys, ctx.runs([few_shot_run(ctx.preset, w, seed) for w, seed in keys])))
    acc = {k: [100 * r["final"][f"acc_{s}shot"] for s in SHOTS] for k, r in records.items()}
    first = records[(widths[0], ctx.seeds[0])]["final"]
    counting = [100 * first[f"counting_{s}shot"] for s in SHOTS]  # the same held-out sequences in every run
    n = [records[(w, ctx.seeds[0])]["probe"]["non_embedding"] for w in widths]
    per_seed = []
    for seed in ctx.seeds:
        rows = [acc[(w, seed)] for w in widths]
        beyond = [a[1] - counting[1] for a in rows]  # one-shot accuracy beyond counting, by size
        at_chance = all(abs(a[0] - chance) <= ZERO_SHOT_SLACK for a in rows)
        rises = all(b >= a - NOISE for a, b in zip(beyond, beyond[1:]))
        spread = beyond[-1] - beyond[0]
        per_seed.append({"seed": seed, "holds": at_chance and rises and spread >= MIN_SPREAD,
                         "zero_shot_at_chance": at_chance, "rises_with_size": rises, "spread": spread,
                         "beyond_counting": beyond, "accuracy": rows})
    med = [[median([acc[(w, seed)][s] for seed in ctx.seeds]) for s in range(len(SHOTS))] for w in widths]
    med_beyond = [median([p["beyond_counting"][i] for p in per_seed]) for i in range(len(widths))]
    ours = (f"accuracy at 0/1/2/3 shots (chance {chance:.1f}%; counting the values seen gives "
            + "/".join(f"{v:.0f}" for v in counting) + "%), medians: "
            + "; ".join(f"width {w} ({x / 1e3:.1f}k) " + "/".join(f"{v:.0f}" for v in m) + "%"
                        for w, x, m in zip(widths, n, med))
            + "; one-shot accuracy beyond counting per seed: "
            + ", ".join("/".join(f"{g:+.0f}" for g in p["beyond_counting"]) for p in per_seed)
            + " points; " + _parts_met(per_seed, {"zero-shot at chance": lambda p: p["zero_shot_at_chance"],
                                                 "rises with size": lambda p: p["rises_with_size"],
                                                 f"largest at least {MIN_SPREAD:.0f} above smallest":
                                                     lambda p: p["spread"] >= MIN_SPREAD}))

    def figure(path: Path) -> None:
        plt = pyplot()
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
        colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(widths)))
        for w, x, m, color in zip(widths, n, med, colors):
            for seed in ctx.seeds:
                ax.plot(SHOTS, acc[(w, seed)], "-", color=color, alpha=0.2)
            ax.plot(SHOTS, m, "-o", color=color, label=f"{x / 1e3:.1f}k parameters (width {w})")
        ax.plot(SHOTS, counting, "--", color="gray", label="counting the values seen (keys unread)")
        ax.axhline(chance, color="gray", ls=":", label=f"chance ({chance:.1f}%)")
        ax.set_ylim(0, 100)
        ax.set_xticks(SHOTS)
        ax.set_xlabel("earlier examples of the key in the context (shots)")
        ax.set_ylabel("accuracy on the value (%)")
        ax.set_title("Larger models use examples in the context better (cf. GPT-3 Fig. 1.2)", fontsize=10)
        ax.legend(fontsize=7)
        for i, p in enumerate(per_seed):
            bx.plot(n, p["beyond_counting"], "o-", color="C0", alpha=0.3, ms=3, label="each seed" if i == 0 else None)
        bx.plot(n, med_beyond, "o-", color="C0", ms=7, label="median over seeds")
        bx.axhline(0, color="gray", ls="--", lw=0.8)
        bx.set_xscale("log")
        bx.set_xlabel("non-embedding parameters N")
        bx.set_ylabel("one-shot accuracy beyond counting (points)")
        bx.set_title("One-shot accuracy beyond counting appears with size", fontsize=10)
        bx.legend(fontsize=8)
        save_figure(fig, path)

    return Measured(per_seed=per_seed, ours=ours, figure=figure,
                    measurements={"widths": list(widths), "non_embedding": n, "median_accuracy": med,
                                  "median_beyond_counting": med_beyond, "counting": counting, "chance": chance})


# -- 3. induction heads need two layers ----------------------------------------------------------------

INDUCTION = {
    "tiny": dict(d_model=16, heads=2, steps=20, batch_size=8, lr=1e-3, warmup=0, eval_every=2, eval_batches=2,
                 vocab=16, length=32, repeat=(4, 8)),
    "small": dict(d_model=64, heads=4, steps=6000, batch_size=64, lr=3e-3, warmup=50, eval_every=250,
                  eval_batches=16, vocab=64, length=32, repeat=(8, 15)),
    "paper": dict(d_model=128, heads=2, steps=10000, batch_size=32, lr=1e-3, warmup=200, eval_every=1000,
                  eval_batches=32, vocab=256, length=256, repeat=(32, 100)),
}
MIN_COPY = 60.0  # %: the 2-layer model's accuracy on the repeated tokens after the first
MIN_GAP = 40.0  # points: ... above the 1-layer model's


def induction_run(preset: str, layers: int, seed: int) -> Run:
    s = INDUCTION[preset]
    shortest, longest = s["repeat"]
    return Run.of("gpt", preset, seed=seed, dataset="repeats", rep_vocab=s["vocab"], rep_length=s["length"],
                  rep_min=shortest, rep_max=longest, steps=s["steps"], batch_size=s["batch_size"], schedule="constant",
                  warmup_steps=s["warmup"], eval_every=s["eval_every"], eval_batches=s["eval_batches"],
                  optim=dict(lr=s["lr"], weight_decay=0.0),
                  model=dict(layers=layers, d_model=s["d_model"], heads=s["heads"], mlp=False,
                             block_size=s["length"]))


def measure_induction(ctx: Context) -> Measured:
    chance = 100 / INDUCTION[ctx.preset]["vocab"]
    keys = [(layers, seed) for layers in (2, 1) for seed in ctx.seeds]
    records = dict(zip(keys, ctx.runs([induction_run(ctx.preset, layers, seed) for layers, seed in keys])))
    copy = {k: 100 * r["final"]["acc_repeat"] for k, r in records.items()}
    per_seed = []
    for seed in ctx.seeds:
        two, one = copy[(2, seed)], copy[(1, seed)]
        heads2, heads1 = records[(2, seed)]["probe"]["heads"], records[(1, seed)]["probe"]["heads"]
        per_seed.append({"seed": seed, "holds": two >= MIN_COPY and two - one >= MIN_GAP, "two_layers": two,
                         "one_layer": one, "first_token": 100 * records[(2, seed)]["final"]["acc_first"],
                         "previous_head": max(heads2["previous"][0]), "induction_head": max(heads2["induction"][-1]),
                         "one_layer_induction": max(heads1["induction"][0]),
                         "phase_change": _phase_change(records[(2, seed)]["history"], chance)})
    uniform = 2 / INDUCTION[ctx.preset]["length"]
    ours = ("accuracy on the repeated tokens after the first (chance "
            + f"{chance:.1f}%), 2 vs 1 layers per seed: "
            + ", ".join(f"{p['two_layers']:.0f} vs {p['one_layer']:.0f}" for p in per_seed)
            + f"%; the 2-layer model's strongest heads (uniform attention gives {uniform:.2f}): previous-token "
            + "/".join(f"{p['previous_head']:.2f}" for p in per_seed) + " in layer 1, induction "
            + "/".join(f"{p['induction_head']:.2f}" for p in per_seed) + " in layer 2 (1 layer's best: "
            + "/".join(f"{p['one_layer_induction']:.2f}" for p in per_seed) + "); the first repeated token "
            + "/".join(f"{p['first_token']:.0f}" for p in per_seed) + "%; the 2 layers' phase change (half-way "
            + "from chance) at step " + "/".join(str(p["phase_change"] or "none") for p in per_seed) + "; "
            + _parts_met(per_seed, {f"2 layers at least {MIN_COPY:.0f}%": lambda p: p["two_layers"] >= MIN_COPY,
                                    f"{MIN_GAP:.0f} points above 1 layer":
                                        lambda p: p["two_layers"] - p["one_layer"] >= MIN_GAP}))

    def figure(path: Path) -> None:
        plt = pyplot()
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), gridspec_kw={"width_ratios": [1.3, 1, 1]})
        ax = axes[0]
        for layers, color in ((1, "C0"), (2, "C3")):
            for i, seed in enumerate(ctx.seeds):
                rows = [h for h in records[(layers, seed)]["history"] if h["split"] == "eval"]
                ax.plot([h["step"] for h in rows], [h["loss_repeat"] for h in rows], "-", color=color, alpha=0.6,
                        label=f"{layers} layer{'s' if layers > 1 else ''}" if i == 0 else None)
        marked = [(p["phase_change"], records[(2, p["seed"])]["history"]) for p in per_seed if p["phase_change"]]
        for j, (step, history) in enumerate(marked):  # each 2-layer seed's phase change, where it came
            loss = next(h["loss_repeat"] for h in history if h["split"] == "eval" and h["step"] == step)
            ax.plot([step], [loss], "o", color="C3", mfc="white", ms=6,
                    label="phase change (half-way from chance)" if j == 0 else None)
        ax.axhline(np.log(100 / chance), color="gray", ls=":", label="chance (log V)")
        ax.set_xlabel("training step")
        ax.set_ylabel("loss on repeated tokens after the first (nats)")
        ax.set_title("A plateau, then for 2 layers a sudden drop: the phase change", fontsize=10)
        ax.legend(fontsize=8)
        # the maps of the seed whose heads are clearest: on some seeds the circuit forms shifted (layer-1
        # heads a few positions back, layer-2 heads as many after the earlier occurrence), which the
        # lag-1 scores miss and a map of it would not show as the textbook circuit
        held = [p for p in per_seed if p["holds"]] or per_seed
        shown = max(held, key=lambda p: min(p["previous_head"], p["induction_head"]))["seed"]
        example = records[(2, shown)]["probe"]["example"]
        for bx, key, what in ((axes[1], "previous", "layer 1's previous-token head"),
                              (axes[2], "induction", "layer 2's induction head")):
            bx.imshow(np.asarray(example[key]), cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
            start, length = example["copy"]
            for x in (start - 0.5, start + length - 0.5):
                bx.axhline(x, color="C3", lw=0.6, ls="--")
            bx.set_xlabel("attended position")
            bx.set_ylabel("query position (dashes: the copy)")
            bx.set_title(f"{what} (head {example[key + '_head']}, seed {shown})", fontsize=10)
        save_figure(fig, path)

    return Measured(per_seed=per_seed, ours=ours, figure=figure,
                    measurements={"chance": chance, "uniform_attention": uniform,
                                  "two_layers": [p["two_layers"] for p in per_seed],
                                  "one_layer": [p["one_layer"] for p in per_seed]})


def _phase_change(history: list[dict[str, Any]], chance: float) -> int | None:
    """The first evaluation step at which the accuracy on repeated tokens was past half-way from
    chance to its final value, if it rose at all (None: it did not leave the plateau)."""
    rows = [(h["step"], 100 * h["acc_repeat"]) for h in history if h["split"] == "eval"]
    final = rows[-1][1]
    if final < chance + 20:
        return None
    return next(step for step, acc in rows if acc >= (chance + final) / 2)


CLAIMS = [
    Claim(
        milestone="gpt",
        name="scaling",
        title="Loss falls smoothly with scale",
        paper=("Brown et al. 2020 §3, Fig. 3.1 (after Kaplan et al. 2020): validation loss follows a power law in "
               "model size over more than two orders of magnitude"),
        paper_value="L = 2.57 C^-0.048 in compute; Kaplan et al.: L(N) = (N / 8.8e13)^-0.076",
        rule=(f"on the standard library's characters, five 2-layer models (widths 16 to 128) trained on the same "
              f"tokens: validation loss falls strictly with parameters, and a power law L = a N^-alpha + c fitted "
              f"to the seed's losses has alpha > 0 and R^2 >= {MIN_R2}"),
        measure=measure_scaling,
        budget_note="fifteen runs (five widths, three seeds): about 60 s on 2 cores (AMD EPYC)",
        caption=("the dots falling in a straight-ish line on log axes as the parameter count grows, and the fitted "
                 "power law with its floor running through them."),
        why=("at a fixed 410k characters each doubling of width lowers the validation loss, and a power law with a "
             "floor fits the five sizes; the exponent varies with the seed because five points over 1.8 decades "
             "constrain alpha and the floor together loosely, and the larger models are still improving, so the law "
             "bends less than it would at convergence (Kaplan et al.'s 0.076 is for models trained much longer)"),
    ),
    Claim(
        milestone="gpt",
        name="few-shot-scale",
        title="Few-shot ability grows with scale",
        paper=("Brown et al. 2020 §1, Fig. 1.2 and §3: larger models make increasingly efficient use of in-context "
               "information; the gap between zero-shot and few-shot accuracy grows with model size"),
        paper_value=("Fig. 1.2 (removing random symbols from a word, 0 to 100 examples in the context): the 175B "
                     "model's accuracy climbs steeply with examples, the 13B model's less, the 1.3B model's barely"),
        rule=(f"on sequences of {FS_PAIRS} pairs of fresh random {FS_KEYS}-key to {FS_VALUES}-value mappings, four "
              f"2-layer models (widths 16 to 128) trained alike: zero-shot accuracy within {ZERO_SHOT_SLACK:.0f} "
              f"points of chance ({100 / FS_VALUES:.1f}%) for every size, one-shot accuracy beyond what counting the "
              f"values seen gives rising with size (no size more than {NOISE:.0f} points below the next smaller), and "
              f"the largest model's at least {MIN_SPREAD:.0f} points above the smallest's"),
        measure=measure_few_shot,
        budget_note="twelve runs (four widths, three seeds): about 2.5 minutes on 2 cores (Intel Xeon)",
        caption=("left: GPT-3 Fig. 1.2's plot, accuracy against examples in the context, one line per size, with the "
                 "dashed line a reader that only counts the values would reach; right: how far each size's one-shot "
                 "accuracy rises above counting."),
        why=("all four sizes start at chance and climb with examples in the context, the larger ones higher. At s "
             "shots the answer has been seen s times, so a reader that ignores the keys and guesses the value seen "
             "most often already scores 36% at one shot: the two smaller models sit on that line, width 64 leaves it "
             "on some seeds and width 128 on every seed. Unlike GPT-3's smooth curves ours jump: a model leaves the "
             "counting plateau abruptly, or not within the budget"),
    ),
    Claim(
        milestone="gpt",
        name="induction",
        title="Induction heads need two layers",
        paper=("Olsson et al. 2022 (In-context Learning and Induction Heads), after Elhage et al. 2021: "
               "attention-only models of two or more layers form induction heads, in a sudden phase change early in "
               "training, and then copy repeated random tokens; one-layer models cannot"),
        paper_value=("Elhage et al. 2021: on repeated random tokens the 2-layer attention-only model's loss on the "
                     "second copy falls far below the 1-layer model's, which stays near the unigram level"),
        rule=(f"on random tokens (vocabulary {INDUCTION['small']['vocab']}, sequences of "
              f"{INDUCTION['small']['length']}) in which a segment of {INDUCTION['small']['repeat'][0]} to "
              f"{INDUCTION['small']['repeat'][1]} tokens recurs at a random later offset, a 1- and a 2-layer "
              f"attention-only model trained alike ({INDUCTION['small']['steps']:,} steps): the 2-layer model's "
              f"accuracy on the repeated tokens after the first at least {MIN_COPY:.0f}% and at least "
              f"{MIN_GAP:.0f} points above the 1-layer model's"),
        measure=measure_induction,
        budget_note="six runs (1 and 2 layers, three seeds): about 5 minutes on 2 cores (AMD EPYC)",
        caption=("left: the loss on the repeated tokens, on a plateau, then falling for two layers (the phase change, "
                 "each seed's marked with a circle: abrupt on most seeds, a slower climb on some) and never for one; "
                 "middle and right: on one held-out sequence, a layer-1 head attending one position back (where the "
                 "first occurrences lie), and a layer-2 head attending, from inside the copy, to the token after the "
                 "earlier occurrence of the current one: a diagonal in the copy's rows, the lag to the left of the "
                 "main one."),
        why=("both depths first sit on a plateau (21-23% on the repeated tokens, by predicting tokens already seen in "
             "the sequence); the 2-layer model then leaves it, abruptly on eight seeds of ten (at steps 1,000-1,750) "
             "and in a slower climb on two, as a layer-1 head learns to attend one position back and a layer-2 head "
             "to the token after the earlier occurrence of the current one (on some seeds the same circuit shifted a "
             "few positions, which the lag-1 scores miss), and copies 81-99%; the 1-layer model, which cannot compose "
             "two heads, stays on the plateau. How long the plateau lasts is a matter of chance and of the context's "
             "length: with sequences of 64 it outlasted 2,500 steps on nine seeds of ten; with sequences of 32, 6,000 "
             "steps give the slowest pilot seed half as long again as it needed"),
    ),
]
