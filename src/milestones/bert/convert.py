"""BERT weights in Hugging Face's format, both ways: a `BertModel`, `BertForPreTraining` or
`BertForMaskedLM` folder (config.json + model.safetensors) into our Bert, and our Bert out to a
`BertForPreTraining` folder that `transformers` loads.

The key map is explicit and every tensor's shape is checked. Hugging Face keeps the query, key and
value projections apart; ours are one (3 d, d) matrix (nn/attention.py), so the three are stacked.
Files converted from the original TensorFlow checkpoints name LayerNorm parameters `gamma` and
`beta`; `bert.` prefixes the encoder in the pre-training models. A BertModel folder has no MLM or
NSP head (and may have no pooler): those keep their fresh initialisation, and `load_hf` says which.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..core.checkpoint import read_reference_config, read_reference_weights
from ..errors import UserError
from .model import Bert, BertConfig

TOP_KEYS = {
    "embed.word.weight": "embeddings.word_embeddings.weight",
    "embed.position.weight": "embeddings.position_embeddings.weight",
    "embed.token_type.weight": "embeddings.token_type_embeddings.weight",
    "embed.norm.weight": "embeddings.LayerNorm.weight", "embed.norm.bias": "embeddings.LayerNorm.bias",
}
LAYER_KEYS = {
    "self_attn.out_proj.weight": "attention.output.dense.weight",
    "self_attn.out_proj.bias": "attention.output.dense.bias",
    "norm1.weight": "attention.output.LayerNorm.weight", "norm1.bias": "attention.output.LayerNorm.bias",
    "linear1.weight": "intermediate.dense.weight", "linear1.bias": "intermediate.dense.bias",
    "linear2.weight": "output.dense.weight", "linear2.bias": "output.dense.bias",
    "norm2.weight": "output.LayerNorm.weight", "norm2.bias": "output.LayerNorm.bias",
}
HEAD_KEYS = {  # optional: a BertModel folder has none of these
    "pooler.weight": "pooler.dense.weight", "pooler.bias": "pooler.dense.bias",
    "mlm.dense.weight": "cls.predictions.transform.dense.weight",
    "mlm.dense.bias": "cls.predictions.transform.dense.bias",
    "mlm.norm.weight": "cls.predictions.transform.LayerNorm.weight",
    "mlm.norm.bias": "cls.predictions.transform.LayerNorm.bias",
    "mlm.bias": "cls.predictions.bias",
    "nsp.weight": "cls.seq_relationship.weight", "nsp.bias": "cls.seq_relationship.bias",
}


def read_config(folder: Path) -> BertConfig:
    """Our config for a Hugging Face BERT folder's config.json, or one line saying why not."""
    path = folder / "config.json"
    hf = read_reference_config(folder, "bert", "BERT")
    if hf.get("hidden_act", "gelu") != "gelu":
        raise UserError(f"{path}: activation {hf['hidden_act']!r} (ours is GELU's exact form, 'gelu')")
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise UserError(f"{path}: {hf['position_embedding_type']!r} positions (ours are absolute, learned)")
    if abs(float(hf.get("layer_norm_eps", 1e-12)) - 1e-12) > 1e-15:
        raise UserError(f"{path}: LayerNorm eps {hf['layer_norm_eps']} (ours is 1e-12)")
    try:
        cfg = BertConfig(layers=int(hf.get("num_hidden_layers", 12)), heads=int(hf.get("num_attention_heads", 12)),
                         d_model=int(hf.get("hidden_size", 768)), d_ff=int(hf.get("intermediate_size", 3072)),
                         max_len=int(hf.get("max_position_embeddings", 512)),
                         type_vocab=int(hf.get("type_vocab_size", 2)), vocab_size=int(hf.get("vocab_size", 30522)),
                         dropout=float(hf.get("hidden_dropout_prob", 0.1)))
        cfg.check()
    except (TypeError, ValueError) as e:
        raise UserError(f"{path}: {e}") from None
    return cfg


def _normalise(key: str) -> str:
    """Hugging Face's key without the `bert.` prefix, with TensorFlow's LayerNorm names renamed."""
    key = key.removeprefix("bert.")
    if key.endswith(".gamma"):
        return key[: -len("gamma")] + "weight"
    if key.endswith(".beta"):
        return key[: -len("beta")] + "bias"
    return key


def load_hf(folder: str | Path) -> tuple[BertConfig, dict[str, torch.Tensor], list[str]]:
    """(config, our state dict, the names of our heads the folder did not have)."""
    folder = Path(folder).expanduser()
    cfg = read_config(folder)
    weights = folder / "model.safetensors"
    theirs = {_normalise(k): v for k, v in read_reference_weights(folder).items()}
    if "cls.predictions.bias" not in theirs and "cls.predictions.decoder.bias" in theirs:
        theirs["cls.predictions.bias"] = theirs["cls.predictions.decoder.bias"]
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in Bert(cfg).state_dict().items()}
    ours: dict[str, torch.Tensor] = {}

    def take(name: str, tensor: torch.Tensor, key: str) -> None:
        if tuple(tensor.shape) != shapes[name]:
            raise UserError(f"{weights}: {key} has shape {tuple(tensor.shape)}, its config asks for {shapes[name]}")
        ours[name] = tensor.float().contiguous()

    required = dict(TOP_KEYS)
    for i in range(cfg.layers):
        required.update({f"layers.{i}.{o}": f"encoder.layer.{i}.{t}" for o, t in LAYER_KEYS.items()})
    for name, key in required.items():
        if key not in theirs:
            raise UserError(f"{weights} lacks {key} (is it a BERT model?)")
        take(name, theirs[key], key)
    for i in range(cfg.layers):  # query, key and value, stacked as our one input projection
        parts = [f"encoder.layer.{i}.attention.self.{p}" for p in ("query", "key", "value")]
        for what in ("weight", "bias"):
            keys = [f"{p}.{what}" for p in parts]
            missing = [k for k in keys if k not in theirs]
            if missing:
                raise UserError(f"{weights} lacks {missing[0]} (is it a BERT model?)")
            take(f"layers.{i}.self_attn.in_proj.{what}", torch.cat([theirs[k] for k in keys]), keys[0])
    absent = []
    for name, key in HEAD_KEYS.items():
        if key in theirs:
            take(name, theirs[key], key)
        else:
            absent.append(name)
    return cfg, ours, absent


def from_hf(folder: str | Path, n_classes: int = 0) -> Bert:
    """Our Bert with a Hugging Face BERT folder's weights (heads it lacks freshly initialised)."""
    cfg, state, _ = load_hf(folder)
    if n_classes:
        cfg = BertConfig(**{**cfg.__dict__, "n_classes": n_classes})
    model = Bert(cfg)
    model.load_state_dict(state, strict=False)
    return model.eval()


def export(model: Bert, out: Path, tokenizer: object = None) -> Path:
    """Write `model` as a Hugging Face `BertForPreTraining` folder, with the run's vocab.txt when it
    has a WordPiece tokenizer that can write one."""
    from safetensors.torch import save_file

    cfg, state = model.cfg, model.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for name, key in {**TOP_KEYS, **{k: v for k, v in HEAD_KEYS.items() if not k.startswith(("mlm", "nsp"))}}.items():
        tensors[f"bert.{key}"] = state[name]
    for i in range(cfg.layers):
        for o, t in LAYER_KEYS.items():
            tensors[f"bert.encoder.layer.{i}.{t}"] = state[f"layers.{i}.{o}"]
        for what in ("weight", "bias"):
            q, k, v = state[f"layers.{i}.self_attn.in_proj.{what}"].chunk(3)
            for part, t in (("query", q), ("key", k), ("value", v)):
                tensors[f"bert.encoder.layer.{i}.attention.self.{part}.{what}"] = t
    for name, key in HEAD_KEYS.items():
        if name.startswith(("mlm", "nsp")):
            tensors[key] = state[name]
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(out / "model.safetensors"),
              metadata={"format": "pt"})
    config = {
        "architectures": ["BertForPreTraining"], "model_type": "bert", "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model, "num_hidden_layers": cfg.layers, "num_attention_heads": cfg.heads,
        "intermediate_size": cfg.d_ff, "hidden_act": "gelu", "hidden_dropout_prob": cfg.dropout,
        "attention_probs_dropout_prob": cfg.dropout, "max_position_embeddings": cfg.max_len,
        "type_vocab_size": cfg.type_vocab, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
        "position_embedding_type": "absolute", "tie_word_embeddings": True,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))
    save_vocab = getattr(tokenizer, "save_vocab", None)
    if save_vocab is not None:
        save_vocab(out / "vocab.txt")
    return out
