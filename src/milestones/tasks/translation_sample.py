"""Translating with a trained run, and drawing where its decoder looked: the `sample` verb of
seq2seq and the Transformer, and the attention pictures of their claims.

    milestones sample seq2seq --run DIR "four hundred and twelve" [--beam K] [--attention PNG]

Sentences come from the arguments, or from standard input (one per line) when there are none.
`--beam K` searches with the run's length penalty (default: the run's --beam); `--attention PNG`
draws the decoder's attention over the source for the first sentence (Bahdanau et al. Fig. 3;
the Transformer's last decoder layer, averaged over heads). The tokenizer is the one saved with
the checkpoint.
"""

from __future__ import annotations

import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..core.checkpoint import Loaded
from ..core.claims import Run
from ..core.config import NonNegative
from ..core.figures import pyplot, save_figure
from ..core.trainer import Result
from ..data import translation as tr
from ..errors import UserError
from .translation import TranslationTask, translate

INPUTS = "sentences to translate (or one per line on standard input)"


@dataclass
class Options:
    beam: NonNegative[int] = 0
    """Beam width (0: the run's own --beam; 1: greedy)."""
    attention: str = ""
    """Draw the attention over the source for the first sentence into this PNG file."""


def has_attention(model: Any) -> bool:
    """The Transformer, and seq2seq with Bahdanau's attention (not Sutskever's fixed vector)."""
    return getattr(model.cfg, "attention", True)


def attention_map(model: Any, tok: Any, sentence: str, max_len: int = 100) -> dict[str, Any]:
    """Greedy translation of one sentence with the decoder's attention over the source at each
    step: {"source": tokens as the model reads them, "output": tokens, "weights": (T, S) list}."""
    ids = tr.encode(tok, [sentence], max_len - 1)
    src = tr.pad(ids, eos=True)
    model.eval()
    rows, out = [], []
    with torch.no_grad():
        st = model.start(src)
        y = torch.tensor([tr.BOS])
        for _ in range(2 * src.shape[1] + 10):
            logp, st = model.step(y, st, need_weights=True)
            y = logp.argmax(-1)
            rows.append(st["alpha"][0].tolist())
            out.append(int(y))
            if int(y) == tr.EOS:
                break
    words = [tok.id_to_token(i) for i in ids[0]]
    if getattr(model.cfg, "reverse_source", False):
        words = words[::-1]  # the order the encoder read them in
    return {"source": words + ["</s>"], "output": [tok.id_to_token(i) if i != tr.EOS else "</s>" for i in out],
            "weights": rows}


def draw_attention(ax: Any, m: dict[str, Any], title: str = "") -> Any:
    """The (output x source) attention weights as a grey map, 0 white to 1 black; returns the image
    (for a colour bar)."""
    w = torch.tensor(m["weights"])  # (T, S)
    im = ax.imshow(w, cmap="gray_r", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(m["source"])))
    ax.set_xticklabels([t.replace("▁", "") for t in m["source"]], rotation=90, fontsize=7)
    ax.set_yticks(range(len(m["output"])))
    ax.set_yticklabels([t.replace("▁", "") for t in m["output"]], fontsize=7)
    ax.set_xlabel("source (English)")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title, fontsize=9)
    return im


def _print(source: str, ours: str, reference: str | None, tty: bool, columns: int = 2) -> None:
    """One translation: tab-separated (source, ours[, reference, ok|WRONG]) for a pipe, under a header
    line that names the columns (`sample` prints it); on a terminal, a block with the reference from
    num2words beside ours."""
    verdict = None if reference is None else "ok" if ours == reference else "WRONG"
    if not tty:
        row = [source, ours] + ([reference, verdict or ""] if reference is not None else [])
        print("\t".join(row + [""] * (columns - len(row))))  # every row as many cells as the header
        return
    print(source)
    print(f"  ours       {ours}" + (f"   [{verdict}]" if verdict else ""))
    if reference is not None:
        print(f"  reference  {reference}   (num2words)")


def sample(run: Loaded, opts: Options, inputs: list[str], count: int | None, out: Path) -> None:
    cfg, model = run.config, run.model
    if opts.attention and not has_attention(model):
        raise UserError("this run is the fixed-vector model (--model.attention false): it has no attention to draw")
    sentences = [a for a in inputs if a.strip()]
    if not sentences:
        if sys.stdin.isatty():
            raise UserError('give sentences to translate, e.g. "four hundred and twelve", or pipe them in, '
                            'one per line')
        sentences = [line.strip() for line in sys.stdin if line.strip()]
        if not sentences:
            raise UserError("no sentences on standard input")
    if count is not None:
        sentences = sentences[:count]
    beam = opts.beam or cfg.beam
    for s in sentences:
        unknown = tr.unknown_words(run.tokenizer, s)
        if unknown:
            print(f"milestones: {', '.join(repr(w) for w in unknown)} not in this run's vocabulary (read as "
                  f"[UNK]): the model knows only the words of its training data", file=sys.stderr)
    numbers = not cfg.data and cfg.dataset == "numbers"  # the embedded corpus: num2words gives the reference
    tty = sys.stdout.isatty()
    if not tty:  # a pipe gets a table: its header names the columns
        print("\t".join(["source", "ours"] + (["reference", "verdict"] if numbers else [])))
    for s, t in zip(sentences, translate(model, run.tokenizer, sentences, torch.device("cpu"), beam,
                                         cfg.length_penalty, cfg.max_len)):
        _print(s, t, tr.reference_translation(s, cfg.lang) if numbers else None, tty, 4 if numbers else 2)
    if opts.attention:
        path = Path(opts.attention)
        path.parent.mkdir(parents=True, exist_ok=True)
        m = attention_map(model, run.tokenizer, sentences[0], cfg.max_len)
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(max(5.5, 2.6 + 0.32 * len(m["source"])),
                                        max(3.5, 2.0 + 0.3 * len(m["output"]))))
        im = draw_attention(ax, m)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label="attention weight")
        ax.set_title("\n".join(textwrap.wrap(f"{run.milestone}: where the decoder looked while translating "
                                             f"\"{sentences[0]}\"", 60)), fontsize=9)
        save_figure(fig, path, dpi=110)
        print(f"attention map: {path}", file=sys.stderr)


# -- what the translation claims record from a trained run ---------------------------------------


def example_lines(outputs: dict[str, list[dict[str, str]]]) -> list[str]:
    """The same test sentences as each labelled model translated them, beside the reference, each
    output marked "ok" (equal to the reference) or "WRONG"."""
    first = next(iter(outputs.values()))
    width = max(len("reference"), *map(len, outputs))
    lines: list[str] = []
    for i, ex in enumerate(first):
        lines += [f"{'source':<{width}}  {ex['source']}", f"{'reference':<{width}}  {ex['reference']}"]
        for label, examples in outputs.items():
            out = examples[i]["output"]
            lines.append(f"{label:<{width}}  {out}  [{'ok' if out == ex['reference'] else 'WRONG'}]")
        lines.append("")
    return lines[:-1]


TEST_SENTENCES = {"tiny": 100, "small": 500, "paper": 0}  # 0: the whole test split
HEAT_SENTENCE = "three hundred and forty-one million, two hundred and six thousand, nine hundred and eighty"


def probe(task: TranslationTask, result: Result, run: Run) -> dict[str, Any]:
    """Test BLEU and chrF (overall and by source length; greedy decoding), a few examples, the
    run's training FLOPs, and, for a model with attention, where it looked in one long sentence."""
    model = result.model
    s = task.score(model, torch.device("cpu"), "test", TEST_SENTENCES.get(run.preset, 0))
    out = {"test_bleu": s["bleu"], "test_chrf": s["chrf"], "by_length": s["by_length"],
           "signature": s["bleu_signature"], "examples": s["examples"], "flops": task.flops_of(result.step)}
    if has_attention(model):
        out["heat"] = attention_map(model, task.tok, HEAT_SENTENCE, task.cfg.max_len)
    return out
