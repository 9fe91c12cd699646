"""BERT's claims in miniature: pre-training then fine-tuning beats training from scratch when labels
are scarce (Devlin et al. 2019, Table 1 and the paper's argument), shown two ways on the embedded
task (classify a standard-library docstring by its package, 7 packages, 50 test docstrings each;
data/labelled.py) at 16 labelled docstrings per package (the paper preset adds 64), each beside a
bag-of-words baseline (TF-IDF of words, sublinear counts, logistic regression with C 10, on the
same labels).

1. few-labels, with real pre-training: all-MiniLM-L6-v2 (6 layers, hidden 384: Microsoft's MiniLM
   distilled from a large pre-trained model, then trained by sentence-transformers on a billion
   sentence pairs; installed from PyPI, no download at run time) fine-tuned in our BERT, against the
   same architecture and vocabulary from random initialisation, trained alike: 50 steps of 8
   sequences of 32 tokens (3.6 epochs of the 112 docstrings; the paper fine-tunes for 2-4), AdamW
   lr 3e-4, warm-up 5 steps. Holds for a seed if the fine-tuned
   MiniLM beats the one from scratch by at least 20 points at 16 labels per package.

2. own-pretraining, with our pre-training on the embedded corpus: a small BERT (2 layers, hidden
   128, 4 heads, a 4,000-piece WordPiece learned by our deterministic merge loop, data/text.py
   `learn_pieces`) pre-trained by masked language modelling on English from
   the standard library (docstrings, comments, pydoc topics; 4 M characters) for 1,000 steps of 64
   sequences of 32 tokens (lr 1e-3), then fine-tuned for 200 steps of 16 (lr 1e-3), against the
   same model and tokenizer from scratch, trained alike. Holds for a seed if pre-training adds at
   least 5 points at 16 labels per package. The scale of pre-training is the paper's whole point
   (BERT-base saw 3.3 B words for 1 M steps of 256 sequences); this one sees about 2 M tokens.
   One pre-training serves every seed (it runs with the first seed), as the paper's restarts
   shared one pre-trained checkpoint and varied only the fine-tuning (Devlin et al. §5.1: "the
   same pre-trained checkpoint but ... different fine-tuning data shuffling and classifier layer
   initialization"): a seed is a fine-tuning seed. What differs: the scale (2 M tokens against
   3.3 B words), one corpus of docstrings and comments instead of books and Wikipedia, and the
   downstream task (7-way docstring classification standing in for GLUE).

Settings were piloted on seeds 100-102 and fixed with the rules before seeds 0-2 were measured;
the first claim's runs start beside the second's pre-training run, to keep both cores busy. Until
the test-budget rework both claims also fine-tuned at 64 labels per package for the figure alone
(the rules read 16); the small preset now measures 16 only, and the references say what 64 gave.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.claims import Claim, Context, Measured, Run, median
from ..core.figures import pyplot, save_figure
from ..core.store import keep_model
from ..core.trainer import Result
from ..data import labelled
from ..paths import in_cache

__all__ = ["CLAIMS", "probe", "tfidf_accuracy"]

LABELS = {"tiny": (4,), "small": (16,), "paper": (16, 64)}  # labelled docstrings per package; the rules read the first
MINILM_MARGIN = 20.0  # points, claim 1
OWN_MARGIN = 5.0  # points, claim 2
PROBES = ["the function returns a [MASK] of strings.", "raise an [MASK] if the file does not exist.",
          "this module provides [MASK] for parsing email messages."]

# Fine-tuning: (steps, batch) by labels per class; learning rates by learner (piloted on seeds 100-102)
FINE_TUNE = {  # learner -> steps, batch, learning rate
    "tiny": {"minilm": (4, 8, 3e-4), "ours": (4, 8, 1e-3)},
    "small": {"minilm": (50, 8, 3e-4), "ours": (200, 16, 1e-3)},  # minilm: 100 steps until the test-budget rework
    "paper": {"minilm": (300, 16, 3e-4), "ours": (600, 16, 1e-3)},
}
SEQ_LEN = {"tiny": 32, "small": 32, "paper": 128}
TEST_PER_CLASS = 50
MINILM_SIZES = dict(layers=6, heads=12, d_model=384, d_ff=1536, max_len=512)
PRETRAIN = {
    "tiny": dict(steps=20, batch_size=8, vocab=500, seq_len=32, eval_every=10, eval_batches=2,
                 model=dict(layers=1, heads=2, d_model=32, d_ff=64, max_len=32), optim=dict(lr=1e-3)),
    "small": dict(steps=1000, batch_size=64, vocab=4000, seq_len=32, eval_every=250, eval_batches=10,
                  warmup_steps=100, model=dict(layers=2, heads=4, d_model=128, d_ff=512, max_len=128),
                  optim=dict(lr=1e-3)),
    "paper": dict(steps=100_000, batch_size=256, vocab=8000, seq_len=128, eval_every=5000, eval_batches=20,
                  warmup_steps=5000, model=dict(layers=4, heads=8, d_model=256, d_ff=1024, max_len=128),
                  optim=dict(lr=5e-4)),
}


@torch.no_grad()
def fill_masks(model: Any, tok: Any, texts: list[str], k: int = 3) -> list[str]:
    """Each text with its [MASK] replaced by the model's k best fillers: "a / b / c"."""
    from ..tasks.masked_lm import pair

    out = []
    model.eval()
    for text in texts:
        left, _, right = text.partition("[MASK]")
        ids, _ = pair([*tok.encode(left), tok.mask, *tok.encode(right)], [], tok.cls, tok.sep, model.cfg.max_len)
        x = torch.tensor([ids])
        h = model(x)[0, ids.index(tok.mask)]
        best = model.mlm_logits(h).topk(k).indices.tolist()
        out.append(text.replace("[MASK]", "[" + " / ".join(tok.piece(i) for i in best) + "]"))
    return out


def probe(task: Any, result: Result, run: Run) -> dict[str, Any]:
    """A pre-training run saves its model (as `milestones train --out` would) for the fine-tuning
    runs, and records what it predicts for a few masked words."""
    if task.cfg.objective != "mlm":
        return {}
    folder = keep_model(task, result, run)
    return {"folder": in_cache(folder), "fills": fill_masks(result.model, task.tok, PROBES)}


def tfidf_accuracy(k: int, seed: int, test_per_class: int) -> float:
    """The bag-of-words baseline on the same K labels per class a fine-tuning run of `seed` sees."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    pool, test = labelled.docstring_task(test_per_class)
    train = labelled.per_class(pool, k, seed, "the docstring task")
    vec = TfidfVectorizer(sublinear_tf=True)
    clf = LogisticRegression(C=10.0, max_iter=2000).fit(vec.fit_transform(train.a), train.y)
    return float((clf.predict(vec.transform(test.a)) == np.asarray(test.y)).mean())


def fine_tune(preset: str, learner: str, k: int, seed: int, init_from: str = "") -> Run:
    """A fine-tuning run; the two learners a claim compares are trained alike (steps, batch, lr)."""
    steps, batch, lr = FINE_TUNE[preset]["minilm" if learner.startswith("minilm") else "ours"]
    more: dict[str, Any] = {}
    if learner == "minilm":
        more["init_from"] = "minilm"
    elif learner == "minilm-scratch":
        more.update(vocab_file="minilm", model=MINILM_SIZES)
    else:
        p = PRETRAIN[preset]
        more.update(vocab=p["vocab"], model=p["model"])
        if learner == "ours":
            more["init_from"] = init_from
    return Run.of("bert", preset, more, objective="classify", seed=seed, labels_per_class=k, steps=steps,
                  batch_size=batch, seq_len=SEQ_LEN[preset], test_per_class=TEST_PER_CLASS,
                  warmup_steps=max(1, steps // 10), eval_every=0, optim=dict(lr=lr))


def pretrain(preset: str, seed: int) -> Run:
    return Run.of("bert", preset, PRETRAIN[preset], objective="mlm", seed=seed)


def _accuracies(ctx: Context, learners: tuple[str, str], init: dict[int, str] | None = None) -> dict:
    ks = LABELS[ctx.preset]
    todo = _fine_tune_runs(ctx, learners, init)
    records = dict(zip([(learner, k, seed) for learner, k, seed, _ in todo], ctx.runs([r for *_, r in todo])))
    acc = {key: 100 * r["final"]["test_acc"] for key, r in records.items()}
    for k in ks:
        for seed in ctx.seeds:
            acc[("tf-idf", k, seed)] = 100 * tfidf_accuracy(k, seed, TEST_PER_CLASS)
    return acc


NAMES = {"minilm": "MiniLM fine-tuned", "minilm-scratch": "same architecture, from scratch",
         "ours": "our small BERT, pre-trained", "ours-scratch": "our small BERT, from scratch",
         "tf-idf": "TF-IDF + logistic regression"}
COLORS = {"minilm": "C3", "minilm-scratch": "C0", "ours": "C2", "ours-scratch": "C1", "tf-idf": "gray"}


def _verdicts(ctx: Context, acc: dict, better: str, worse: str, margin: float) -> tuple[list[dict], str]:
    ks = LABELS[ctx.preset]
    per_seed = []
    for seed in ctx.seeds:
        row = {"seed": seed}
        for learner in (better, worse, "tf-idf"):
            row[learner] = [round(acc[(learner, k, seed)], 1) for k in ks]
        row["gain"] = round(acc[(better, ks[0], seed)] - acc[(worse, ks[0], seed)], 1)
        row["holds"] = row["gain"] >= margin
        per_seed.append(row)
    med = {learner: [median([acc[(learner, k, s)] for s in ctx.seeds]) for k in ks]
           for learner in (better, worse, "tf-idf")}
    ours = (f"test accuracy at {' / '.join(map(str, ks))} labels per class, medians: "
            + "; ".join(f"{NAMES[n]} {' / '.join(f'{x:.1f}' for x in v)}%" for n, v in med.items())
            + f"; gain at {ks[0]} per seed: " + ", ".join(f"{p['gain']:+.1f}" for p in per_seed))
    return per_seed, ours


def _accuracy_panel(ax: Any, ctx: Context, acc: dict, learners: tuple[str, ...]) -> None:
    """Per number of labels a group of learners: each seed a dot, the median a bar."""
    ks = LABELS[ctx.preset]
    width = 0.8 / len(learners)
    for j, learner in enumerate(learners):
        for i, k in enumerate(ks):
            x = i + (j - (len(learners) - 1) / 2) * width
            ys = [acc[(learner, k, s)] for s in ctx.seeds]
            ax.bar(x, median(ys), width * 0.9, color=COLORS[learner], alpha=0.45,
                   label=NAMES[learner] if i == 0 else None)
            ax.plot([x] * len(ys), ys, "o", color=COLORS[learner], ms=4)
    ax.axhline(100 / len(labelled.PACKAGES), color="gray", ls=":", label="chance")
    ax.set_xticks(range(len(ks)), [f"{k} per package" for k in ks])
    ax.set_ylim(0, 100)
    ax.set_xlabel(f"labelled docstrings (bars: median over seeds {_seeds(ctx)}; dots: each seed)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)


def _seeds(ctx: Context) -> str:
    return f"{ctx.seeds[0]}-{ctx.seeds[-1]}" if len(ctx.seeds) > 1 else str(ctx.seeds[0])


def _fine_tune_runs(ctx: Context, learners: tuple[str, str], init: dict[int, str] | None = None) -> list:
    return [(learner, k, seed, fine_tune(ctx.preset, learner, k, seed, (init or {}).get(seed, "")))
            for learner in learners for k in reversed(LABELS[ctx.preset]) for seed in ctx.seeds]


def measure_minilm(ctx: Context) -> Measured:
    # With runs side by side, the other claim's pre-training run goes beside these (the runner keeps
    # its record, so that claim finds it trained); only this claim's runs are its evidence. On one
    # worker it would only delay them (and the tests' one-seed check may not run that claim at all).
    minilm = [r for *_, r in _fine_tune_runs(ctx, ("minilm", "minilm-scratch"))]
    ctx.train(([pretrain(ctx.preset, ctx.seeds[0])] if ctx.workers > 1 else []) + minilm)
    acc = _accuracies(ctx, ("minilm", "minilm-scratch"))
    per_seed, ours = _verdicts(ctx, acc, "minilm", "minilm-scratch", MINILM_MARGIN)

    def figure(path: Path) -> None:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(7, 4.4))
        _accuracy_panel(ax, ctx, acc, ("minilm", "minilm-scratch", "tf-idf"))
        ax.set_title("Pre-trained (MiniLM) vs from scratch, same architecture (cf. BERT Table 1)", fontsize=10)
        save_figure(fig, path)

    return Measured(per_seed=per_seed, ours=ours, figure=figure,
                    measurements={"accuracy": {f"{a}/{k}/{s}": v for (a, k, s), v in acc.items()}})


def measure_own(ctx: Context) -> Measured:
    first = ctx.seeds[0]
    pre_run = pretrain(ctx.preset, first)  # one pre-training; every seed fine-tunes from it
    (pre,) = ctx.runs([pre_run])
    acc = _accuracies(ctx, ("ours", "ours-scratch"), {s: pre["probe"]["folder"] for s in ctx.seeds})
    per_seed, ours = _verdicts(ctx, acc, "ours", "ours-scratch", OWN_MARGIN)
    mlm = pre["final"]["val_mlm_acc"]
    fills = pre["probe"]["fills"]
    ours += (f"; one pre-training (seed {first}) for every seed, held-out masked-word accuracy after it "
             f"{100 * mlm:.1f}%; it fills: " + " | ".join(fills))

    def figure(path: Path) -> None:
        plt = pyplot()
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.6))
        _accuracy_panel(ax, ctx, acc, ("ours", "ours-scratch", "tf-idf"))
        ax.set_title("Our pre-training on the standard library's English", fontsize=10)
        rows = [h for h in pre["history"] if h["split"] == "train"]
        bx.plot([h["step"] for h in rows], [h["loss"] for h in rows], color="C2", alpha=0.6,
                label="training (masked words)")
        rows = [h for h in pre["history"] if h["split"] == "eval"]
        bx.plot([h["step"] for h in rows], [h["val_loss"] for h in rows], "o--", color="C3", ms=3, label="held out")
        bx.set_xlabel("pre-training step")
        bx.set_ylabel("MLM loss (nats)")
        bx.set_title(f"Masked-word loss during pre-training (seed {first}, shared by every seed)", fontsize=10)
        bx.legend(fontsize=8)
        bx.text(0.2, 0.8, "what it predicts:\n" + "\n".join(fills), transform=bx.transAxes,
                fontsize=7, va="top", family="monospace", bbox=dict(facecolor="white", alpha=0.85, lw=0))
        save_figure(fig, path)

    return Measured(per_seed=per_seed, ours=ours, figure=figure,
                    measurements={"accuracy": {f"{a}/{k}/{s}": v for (a, k, s), v in acc.items()},
                                  "val_mlm_acc": mlm, "fills": fills, "pretraining": pre_run.command()},
                    examples=["what our pre-trained model puts in each [MASK] (its three likeliest words):", *fills])


CLAIMS = [
    Claim(
        milestone="bert",
        name="few-labels",
        title="Pre-training then fine-tuning beats training from scratch when labels are scarce",
        paper=("Devlin et al. 2019 Table 1 and §5: pre-trained BERT fine-tuned on each GLUE task beats the prior "
               "state of the art by 7.7 points on average; the gain is largest on the smallest data sets"),
        paper_value=("GLUE score 80.5, 7.7 points above the prior state of the art (abstract); Table 1: BERT-large "
                     "82.1 vs OpenAI GPT 75.1 on average"),
        rule=(f"on the docstring task (7 packages), all-MiniLM-L6-v2 fine-tuned in our BERT beats the same "
              f"architecture from random initialisation, trained alike, by at least {MINILM_MARGIN:.0f} points of "
              f"test accuracy at the smallest budget (16 labelled docstrings per package)"),
        measure=measure_minilm,
        budget_note=("six fine-tuning runs of a 6-layer BERT (20 s each) beside the next claim's pre-training run "
                     "(100 s): about 2 minutes on 2 cores (Intel Xeon)"),
        caption=("the pre-trained model's bar far above the from-scratch one, with the bag-of-words baseline beside "
                 "them; each dot is a seed."),
        why=("the pre-trained network starts with features that separate the packages, so 50 steps of 8 on 112 "
             "docstrings (3.6 epochs; the paper fine-tunes for 2-4) suffice; the same six post-LN layers from random "
             "weights, given the same 50 steps, do not leave chance. Until the test-budget rework the runs were 100 "
             "steps (7 epochs; the pilot on seeds 100-102 gave the same verdict at 50): then the network from scratch "
             "reached 18.0-37.1% (median 28.7) against MiniLM's 66.6-75.7% (median 71.6), gains +34.6 to +49.4, 10 of "
             "10; and at 64 labels per package, measured then for the figure alone, MiniLM 74.3-81.4% (median 78.7) "
             "vs 14.3-19.7%, with the bag of words ahead of MiniLM (82.0 vs 78.7): package names and identifiers in "
             "docstrings are strong word-level cues"),
    ),
    Claim(
        milestone="bert",
        name="own-pretraining",
        title="Our own pre-training on the standard library helps fine-tuning",
        paper=("Devlin et al. 2019 §3.1 and Table 1: masked-language-model pre-training on unlabelled text (3.3 B "
               "words) is what lifts the fine-tuned scores"),
        paper_value=("GLUE average 80.5 with pre-training; Table 6: larger pre-trained models score higher on every "
                     "task"),
        rule=(f"a small BERT (2 layers, hidden 128) pre-trained by masked language modelling on the standard "
              f"library's English, then fine-tuned, beats the same model from scratch by at least {OWN_MARGIN:.0f} "
              f"points of test accuracy at 16 labelled docstrings per package"),
        measure=measure_own,
        budget_note=("one pre-training run (beside the previous claim's runs) and six small fine-tuning runs: about "
                     "20 s more on 2 cores (Intel Xeon)"),
        caption=("left: our one-minute pre-training gives no gain over training from scratch; right: its masked-word "
                 "loss falls but stays high, the model has learned word frequencies."),
        why=("a minute of one core (1,000 steps of 64 sequences of 32 tokens, about 2 M tokens) teaches the model "
             "word frequencies, not language: its masked-word accuracy stays near 20% and its fillers are function "
             "words, and fine-tuning from those weights is no better than from random ones (gains -6.3 to +2.0, "
             "median -4.0). The MiniLM claim shows what pre-training at scale (billions of tokens) gives the same "
             "kind of network. Pilots on seeds 100-102 also tried 1,500 steps of 64-token sequences (MLM accuracy "
             "22%, +8 points on one seed), a 2,000-piece vocabulary without dropout at lr 2e-3 (21%: -3 to -9 "
             "points), and shorter or longer fine-tuning. With a pre-training per seed (as measured until the "
             "test-budget rework) the ten gains were -13.4 to +1.7, 0 of 10. The recording before this one, made "
             "with a WordPiece vocabulary from tokenizers' trainer (which changed from one training to the next), "
             "held on one seed of ten (+5.1): fine-tuning noise around no effect"),
    ),
]
