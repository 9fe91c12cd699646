"""`milestones sample gpt --run DIR "PROMPT"` (or `--pretrained HF_DIR`): continue a prompt,
printing each token as it is generated.

    --max-new-tokens N   how many tokens to add (default 200)
    --temperature T      0: always the most likely token (greedy); 1: the model's distribution
    --top-k K            sample among the K most likely tokens only (0: all)
    --top-p P            sample among the smallest set of tokens whose probability reaches P
    --seed S             the sampling seed (the same seed and prompt give the same text)
    --count N            N continuations, one after another

The prompt comes from the arguments (joined by spaces), or from standard input when there are
none and it is not a terminal; an empty prompt starts from a newline. A prompt longer than the
model's context keeps its last tokens, with a notice. The model's KV cache makes each new token
cost one position (gpt/model.py).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from ..core import hub
from ..core.checkpoint import Loaded
from ..core.config import NonNegative, Positive, Probability
from ..data import text as tx
from ..errors import UserError
from ..nn.decoding import input_major_weights
from . import convert

INPUTS = "the prompt (joined by spaces; standard input when none)"


@dataclass
class Options:
    max_new_tokens: Positive[int] = 200
    """Tokens to generate per sample."""
    temperature: NonNegative[float] = 0.8
    """Softmax temperature (0: greedy, always the most likely token)."""
    top_k: NonNegative[int] = 0
    """Sample among the k most likely tokens only (0: all)."""
    top_p: Probability = 1.0
    """Nucleus sampling: the smallest set of tokens whose probability reaches p (1: all)."""
    seed: NonNegative[int] = 0
    """Sampling seed."""
    pretrained: str = ""
    """A Hugging Face GPT-2 folder (config.json, model.safetensors, tokenizer) to sample from instead of --run."""
    device: Literal["cpu", "cuda"] = "cpu"
    """Where to run."""

    def check(self) -> None:
        if self.top_p == 0:
            raise ValueError("--top-p must be above 0")


def load_pretrained(opts: Options) -> Loaded:
    """A Hugging Face GPT-2 folder as a Loaded run (the `--pretrained` source)."""
    folder = hub.folder(opts.pretrained, "--pretrained")  # a folder, or a Hugging Face Hub name
    if not folder.is_dir():
        raise UserError(f"--pretrained {folder} is not a folder")
    model = convert.from_hf(folder)
    tokenizer = tx.BPETokenizer.from_files(folder)
    return Loaded(model, None, folder / "model.safetensors", "gpt", 0, tokenizer)


def applies(run_dir: Path) -> bool:
    """Whether a run has text to prompt with (runs on generated in-context sequences have none)."""
    return any(run_dir.glob("ckpt/*/tokenizer.json"))


def sample(run: Loaded, opts: Options, inputs: list[str], count: int | None, out: Path) -> None:
    model, tok = run.model, run.tokenizer
    if tok is None:
        raise UserError(f"{run.checkpoint} has no tokenizer.json: it was trained on generated sequences "
                        "(--dataset keyvalue), which have no text to prompt with")
    prompt = " ".join(inputs) if inputs else ("" if sys.stdin.isatty() else sys.stdin.read())
    ids = tok.encode(prompt or "\n")
    block = model.cfg.block_size
    if len(ids) > block:
        print(f"milestones: the prompt has {len(ids)} tokens, the context {block}: keeping the last {block}",
              file=sys.stderr)
        ids = ids[-block:]
    if opts.device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is available")
    device = torch.device(opts.device)
    model.to(device)
    generator = torch.Generator(device=device).manual_seed(opts.seed)
    prompt_ids = torch.tensor([ids], device=device)
    with input_major_weights(model):  # faster decoding on a CPU, for the whole session
        _stream(model, tok, prompt, prompt_ids, opts, count or 1, generator)


def _stream(model: torch.nn.Module, tok: tx.Tokenizer, prompt: str, prompt_ids: torch.Tensor, opts: Options,
            count: int, generator: torch.Generator) -> None:
    for n in range(count):
        if n:
            print("\n" + "-" * 40)
        sys.stdout.write(prompt)
        new: list[int] = []
        shown = ""
        for token in model.generate(prompt_ids, opts.max_new_tokens, opts.temperature, opts.top_k, opts.top_p,
                                    generator):
            new.append(int(token[0]))
            text = tok.decode(new)
            if not text.endswith("\ufffd"):  # a character whose bytes are not all out yet waits
                sys.stdout.write(text[len(shown):])
                sys.stdout.flush()
                shown = text
        sys.stdout.write(tok.decode(new)[len(shown):] + "\n")
        sys.stdout.flush()
