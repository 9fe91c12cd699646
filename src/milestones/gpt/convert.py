"""GPT-2 weights in Hugging Face's format, both ways: a `GPT2LMHeadModel` folder (config.json +
model.safetensors) into our GPT, and our GPT out to a folder `transformers` loads.

The key map is explicit, and every tensor's shape is checked against ours. GPT-2 stores its
projections as `Conv1D` modules, whose weights are (in, out), the transpose of `nn.Linear`'s; the
head is tied to the token embedding, so `lm_head.weight` may be absent from the file. Files saved
from the original OpenAI checkpoints name keys without the `transformer.` prefix and carry the
attention's causal-mask buffers (`attn.bias`, `attn.masked_bias`), which are not weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..core.checkpoint import read_reference_config, read_reference_weights
from ..errors import UserError
from .model import GPT, GPTConfig

# ours -> Hugging Face's, per block; True where the tensor is stored transposed (Conv1D)
BLOCK_KEYS = {
    "norm1.weight": ("ln_1.weight", False), "norm1.bias": ("ln_1.bias", False),
    "self_attn.in_proj.weight": ("attn.c_attn.weight", True), "self_attn.in_proj.bias": ("attn.c_attn.bias", False),
    "self_attn.out_proj.weight": ("attn.c_proj.weight", True), "self_attn.out_proj.bias": ("attn.c_proj.bias", False),
    "norm2.weight": ("ln_2.weight", False), "norm2.bias": ("ln_2.bias", False),
    "linear1.weight": ("mlp.c_fc.weight", True), "linear1.bias": ("mlp.c_fc.bias", False),
    "linear2.weight": ("mlp.c_proj.weight", True), "linear2.bias": ("mlp.c_proj.bias", False),
}
TOP_KEYS = {"embed.weight": "wte.weight", "positions.embedding.weight": "wpe.weight",
            "norm.weight": "ln_f.weight", "norm.bias": "ln_f.bias"}
GELU_TANH = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")


def key_map(cfg: GPTConfig) -> dict[str, tuple[str, bool]]:
    """Our parameter name -> (Hugging Face's name without the `transformer.` prefix, transposed)."""
    out = {ours: (theirs, False) for ours, theirs in TOP_KEYS.items()}
    for i in range(cfg.layers):
        out.update({f"blocks.{i}.{ours}": (f"h.{i}.{theirs}", t) for ours, (theirs, t) in BLOCK_KEYS.items()})
    return out


def read_config(folder: Path) -> GPTConfig:
    """Our config for a Hugging Face GPT-2 folder's config.json, or one line saying why not."""
    path = folder / "config.json"
    hf = read_reference_config(folder, "gpt2", "GPT-2")
    d = int(hf.get("n_embd", 768))
    if hf.get("n_inner") not in (None, 4 * d):
        raise UserError(f"{path}: an MLP of width {hf['n_inner']} (ours is 4 x n_embd = {4 * d})")
    if hf.get("activation_function", "gelu_new") not in GELU_TANH:
        raise UserError(f"{path}: activation {hf['activation_function']!r} (ours is GELU's tanh form, gelu_new)")
    if hf.get("scale_attn_by_inverse_layer_idx") or hf.get("scale_attn_weights", True) is False:
        raise UserError(f"{path}: attention scaled other than by 1/sqrt(d_head)")
    if hf.get("tie_word_embeddings", True) is False:
        raise UserError(f"{path}: an untied output head (ours is the token embedding)")
    if abs(float(hf.get("layer_norm_epsilon", 1e-5)) - 1e-5) > 1e-12:
        raise UserError(f"{path}: LayerNorm eps {hf['layer_norm_epsilon']} (ours is 1e-5)")
    try:
        cfg = GPTConfig(layers=int(hf.get("n_layer", 12)), heads=int(hf.get("n_head", 12)), d_model=d,
                        block_size=int(hf.get("n_positions", 1024)), vocab_size=int(hf.get("vocab_size", 50257)),
                        dropout=0.0, bias=True)
        cfg.check()
    except (TypeError, ValueError) as e:
        raise UserError(f"{path}: {e}") from None
    return cfg


def load_hf(folder: str | Path) -> tuple[GPTConfig, dict[str, torch.Tensor]]:
    """(config, our state dict) of a `GPT2LMHeadModel` / `GPT2Model` folder."""
    folder = Path(folder).expanduser()
    cfg = read_config(folder)
    weights = folder / "model.safetensors"
    theirs = read_reference_weights(folder)
    theirs = {k.removeprefix("transformer."): v for k, v in theirs.items()}
    ours: dict[str, torch.Tensor] = {}
    shapes = _shapes(cfg)
    for name, (key, transposed) in key_map(cfg).items():
        if key not in theirs:
            raise UserError(f"{weights} lacks {key} (is it a GPT-2 model?)")
        t = theirs[key].T if transposed else theirs[key]
        if tuple(t.shape) != tuple(shapes[name]):
            raise UserError(f"{weights}: {key} has shape {tuple(theirs[key].shape)}, its config asks for "
                            f"{tuple(shapes[name][::-1] if transposed else shapes[name])}")
        ours[name] = t.float().contiguous()
    head = theirs.get("lm_head.weight")
    if head is not None and not torch.equal(head, theirs["wte.weight"]):
        raise UserError(f"{weights}: lm_head differs from the token embedding (ours are tied)")
    return cfg, ours


def _shapes(cfg: GPTConfig) -> dict[str, tuple[int, ...]]:
    """Our parameters' shapes for `cfg`, without allocating them."""
    with torch.device("meta"):
        return {k: tuple(v.shape) for k, v in GPT(cfg).state_dict().items()}


def from_hf(folder: str | Path) -> GPT:
    """Our GPT with a Hugging Face GPT-2 folder's weights, in eval mode."""
    cfg, state = load_hf(folder)
    model = GPT(cfg)
    model.load_state_dict(state)
    return model.eval()


def export(model: GPT, out: Path, tokenizer: Any = None) -> Path:
    """Write `model` as a Hugging Face GPT-2 folder (`GPT2LMHeadModel.from_pretrained(out)` loads
    it), with the run's tokenizer.json when it is a BPE one."""
    from safetensors.torch import save_file

    cfg = model.cfg
    if not cfg.bias:
        raise UserError("this run was trained with --model.bias false; GPT-2's format has biases everywhere")
    state = model.state_dict()
    tensors = {f"transformer.{key}": (state[name].T if transposed else state[name]).detach().cpu().contiguous()
               for name, (key, transposed) in key_map(cfg).items()}
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": cfg.vocab_size,
        "n_positions": cfg.block_size, "n_embd": cfg.d_model, "n_layer": cfg.layers, "n_head": cfg.heads,
        "n_inner": None, "activation_function": "gelu_new", "resid_pdrop": cfg.dropout, "embd_pdrop": cfg.dropout,
        "attn_pdrop": cfg.dropout, "layer_norm_epsilon": 1e-5, "initializer_range": 0.02,
        "scale_attn_weights": True, "tie_word_embeddings": True, "use_cache": True,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    if tokenizer is not None and getattr(tokenizer, "kind", "") == "bpe":
        tokenizer.save(out / "tokenizer.json")
    return out
