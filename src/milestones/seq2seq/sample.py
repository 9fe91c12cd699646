"""`milestones sample seq2seq --run DIR "four hundred and twelve"`: translate with a trained run.

Sentences come from the arguments, or from standard input (one per line) when there are none.
Options after the sentences' command: `--beam K` (beam search with the run's length penalty;
default: the run's --beam), `--attention PNG` (draw where the decoder looked, for the first
sentence: Bahdanau et al. Fig. 3). The tokenizer is the one saved with the checkpoint. The
Transformer's sample (transformer/sample.py) is this one with its own task.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

from ..core import checkpoint as ckpt
from ..core.claims import pyplot
from ..core.config import UserError
from ..data import translation as tr
from .task import TOKENIZER_FILE, TranslationTask


def attention_map(task: TranslationTask, model: Any, sentence: str) -> dict[str, Any]:
    """Greedy translation of one sentence with the decoder's attention over the source at each
    step: {"source": tokens as the model reads them, "output": tokens, "weights": (T, S) list}."""
    ids = tr.encode(task.tok, [sentence], task.cfg.max_len - 1)
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
    words = [task.tok.id_to_token(i) for i in ids[0]]
    if getattr(task.cfg, "reverse_source", False):
        words = words[::-1]  # the order the encoder read them in
    return {"source": words + ["</s>"], "output": [task.tok.id_to_token(i) if i != tr.EOS else "</s>" for i in out],
            "weights": rows}


def draw_attention(ax: Any, m: dict[str, Any], title: str = "") -> None:
    w = torch.tensor(m["weights"])  # (T, S)
    ax.imshow(w, cmap="gray_r", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(m["source"])))
    ax.set_xticklabels([t.replace("▁", "") for t in m["source"]], rotation=90, fontsize=7)
    ax.set_yticks(range(len(m["output"])))
    ax.set_yticklabels([t.replace("▁", "") for t in m["output"]], fontsize=7)
    ax.set_xlabel("source (English)")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title, fontsize=9)


def _take(args: list[str], flag: str) -> str | None:
    if flag in args:
        i = args.index(flag)
        if i + 1 >= len(args):
            raise UserError(f"{flag} needs a value")
        value = args[i + 1]
        del args[i:i + 2]
        return value
    return None


def run_sample(task_cls: type, cfg: Any, checkpoint: Path, count: int | None, out: Path, args: list[str]) -> None:
    beam = _take(args, "--beam")
    picture = _take(args, "--attention")
    unknown = [a for a in args if a.startswith("--")]
    if unknown:
        raise UserError(f"unknown option {unknown[0]}: sample takes sentences, --beam K, --attention PNG, --run, --out")
    if beam is not None and (not beam.isdigit() or int(beam) < 1):
        raise UserError(f"--beam must be a whole number of at least 1, not {beam!r}")
    sentences = [a for a in args if a.strip()]
    if not sentences:
        if sys.stdin.isatty():
            raise UserError('give sentences to translate, e.g. "four hundred and twelve", or pipe them in, one per line')
        sentences = [line.strip() for line in sys.stdin if line.strip()]
        if not sentences:
            raise UserError("no sentences on standard input")
    if count is not None:
        sentences = sentences[:count]
    tok = tr.load_tokenizer(checkpoint / TOKENIZER_FILE)
    task = task_cls(cfg, tokenizer=tok)
    model = task.build_model()
    ckpt.load_weights(checkpoint, model)
    model.eval()
    for s, t in zip(sentences, task.translate(model, sentences, torch.device("cpu"),
                                              beam=int(beam) if beam else None)):
        print(f"{s}\t{t}")
    if picture:
        path = Path(picture)
        path.parent.mkdir(parents=True, exist_ok=True)
        m = attention_map(task, model, sentences[0])
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(1.2 + 0.3 * len(m["source"]), 1.2 + 0.3 * len(m["output"])))
        draw_attention(ax, m, f"{task.name}: attention while translating")
        fig.tight_layout()
        tmp = path.with_suffix(".tmp.png")
        fig.savefig(tmp, dpi=110)
        plt.close(fig)
        tmp.replace(path)
        print(f"attention map: {path}", file=sys.stderr)


def sample(cfg: Any, checkpoint: Path, count: int | None, out: Path, args: list[str]) -> None:
    from .task import Seq2SeqTask

    if not cfg.attention:
        _refuse_attention(args)
    run_sample(Seq2SeqTask, cfg, checkpoint, count, out, args)


def _refuse_attention(args: list[str]) -> None:
    if "--attention" in args:
        raise UserError("this run is the fixed-vector model (--attention false): it has no attention to draw")
