"""`milestones sample bert --run DIR "The capital of France is [MASK]."` (or `--pretrained HF_DIR`,
or `--pretrained minilm`): the most likely fillers of each [MASK], with their probabilities.

A fine-tuned run (`--objective classify`) predicts instead: each input (or each line of standard
input when there is none) gets its label and probability. Text pairs are written
`text_a<TAB>text_b`, as in the training TSV.

    --top-k K    fillers (or labels) to show per [MASK] (or per input); default 5
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from ..core import hub
from ..core.checkpoint import Loaded
from ..core.config import Positive
from ..errors import UserError
from ..tasks.masked_lm import Packed, pair
from ..tasks.text_classification import batch_of
from . import convert
from .task import MINILM, hf_tokenizer, minilm_folder

INPUTS = "texts with [MASK] to fill; for a fine-tuned run, texts to label (standard input when none)"


@dataclass
class Options:
    top_k: Positive[int] = 5
    """Fillers (or labels) to show, most likely first."""
    pretrained: str = ""
    """A Hugging Face BERT folder (config.json, model.safetensors, vocab.txt), or `minilm`, instead of --run."""
    device: Literal["cpu", "cuda"] = "cpu"
    """Where to run."""


def load_pretrained(opts: Options) -> Loaded:
    """A Hugging Face BERT folder as a Loaded run (the `--pretrained` source)."""
    folder = minilm_folder("--pretrained") if opts.pretrained == MINILM else hub.folder(opts.pretrained, "--pretrained")
    if not folder.is_dir():
        raise UserError(f"--pretrained {folder} is not a folder")
    cfg, state, absent = convert.load_hf(folder)
    from .model import Bert

    model = Bert(cfg)
    model.load_state_dict(state, strict=False)
    loaded = Loaded(model.eval(), None, folder / "model.safetensors", "bert", 0, hf_tokenizer(folder))
    loaded.absent = absent  # type: ignore[attr-defined]
    return loaded


def _texts(inputs: list[str]) -> list[str]:
    if inputs:
        return [" ".join(inputs)] if not any("\t" in t for t in inputs) else inputs
    if sys.stdin.isatty():
        raise UserError('give a text, e.g. milestones sample bert --run DIR "The capital of France is [MASK]."')
    return [line for line in sys.stdin.read().splitlines() if line.strip()]


def _encode(tok, texts: list[str], max_len: int) -> dict[str, torch.Tensor]:
    """Texts (a tab separates a pair) as one batch cut to its longest row: tokens, types, pad."""
    rows = []
    for t in texts:
        a, _, b = t.partition("\t")
        rows.append(pair(tok.encode(a), tok.encode(b) if b else [], tok.cls, tok.sep, max_len))
    packed = Packed.of(rows, [0] * len(rows), max_len, tok.pad)
    return batch_of(packed.rows(torch.arange(len(rows))))


def _device(opts: Options) -> torch.device:
    if opts.device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is available")
    return torch.device(opts.device)


@torch.no_grad()
def sample(run: Loaded, opts: Options, inputs: list[str], count: int | None, out: Path) -> None:
    model, tok = run.model, run.tokenizer
    device = _device(opts)
    model.to(device).eval()
    texts = _texts(inputs)
    if model.cfg.n_classes:
        _predict(run, opts, texts, device)
        return
    if "mlm.dense.weight" in getattr(run, "absent", []):
        raise UserError(f"{run.checkpoint.parent} has no masked-word head (a BertModel folder); fill-mask needs "
                        "BertForPreTraining or BertForMaskedLM weights")
    for text in texts:
        if "[MASK]" not in text:
            raise UserError(f"no [MASK] in {text!r}: write [MASK] where a word should be filled in")
        b = {k: v.to(device) for k, v in _encode(tok, [text], model.cfg.max_len).items()}
        h = model(b["tokens"], b["types"], b["pad"])[0]  # (T, D)
        where = (b["tokens"][0] == tok.mask).nonzero().flatten()
        if len(where) == 0:
            raise UserError(f"[MASK] in {text!r} did not survive tokenization (is the vocabulary BERT's?)")
        probs = model.mlm_logits(h[where]).float().softmax(-1).cpu()  # (masks, V)
        print(text)
        for n, p in enumerate(probs):
            top = p.topk(min(opts.top_k, len(p)))
            fills = "  ".join(f"{tok.piece(int(i))} {float(v):.3f}" for v, i in zip(top.values, top.indices))
            print(f"  [MASK] {n + 1}: {fills}")


def _predict(run: Loaded, opts: Options, texts: list[str], device: torch.device) -> None:
    labels_file = run.checkpoint / "labels.json" if run.checkpoint.is_dir() else None
    names = json.loads(labels_file.read_text()) if labels_file and labels_file.is_file() else \
        [str(i) for i in range(run.model.cfg.n_classes)]
    model, tok = run.model, run.tokenizer
    for start in range(0, len(texts), 64):
        chunk = texts[start:start + 64]
        b = {k: v.to(device) for k, v in _encode(tok, chunk, model.cfg.max_len).items()}
        probs = model.classify(model(b["tokens"], b["types"], b["pad"])).float().softmax(-1).cpu()
        for text, p in zip(chunk, probs):
            top = p.topk(min(opts.top_k, len(p)))
            best = "  ".join(f"{names[int(i)]} {float(v):.3f}" for v, i in zip(top.values, top.indices))
            print(f"{best}\t{text}")
