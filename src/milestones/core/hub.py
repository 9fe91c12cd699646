"""Model names of the Hugging Face Hub (`gpt2`, `bert-base-uncased`,
`sentence-transformers/all-MiniLM-L6-v2`), where a folder is expected (`--init-from`, `--pretrained`).

Optional: nothing by default reads the Hub, and a folder needs no network or package. A name that
is not a folder here is looked up through `huggingface_hub` (the `hub` extra; without it, one line
naming the pip command): downloaded when the Hub can be reached, found in the local Hugging Face
cache when it cannot or when HF_HUB_OFFLINE is set, and otherwise one line saying how to get the
folder. Only what a model folder needs is fetched (its
config, safetensors weights and tokenizer files); a repository whose weights are only pickled
(`pytorch_model.bin`) is refused, since unpickling runs whatever the file holds.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import UserError

NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")  # `gpt2` or `owner/name`
FILES = ["config.json", "*.safetensors", "*.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
         "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt"]


def folder(name: str, flag: str) -> Path:
    """`name` as a folder: the path itself when it exists (or is not a Hub name), else the Hub model's
    files in the local Hugging Face cache, fetched there first when the Hub can be reached."""
    path = Path(name).expanduser()
    if path.exists() or not NAME.match(name) or name.endswith((".json", ".txt", ".safetensors")):
        return path
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import (
            EntryNotFoundError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:
        raise UserError(f"{flag} {name}: no such folder; a Hugging Face Hub name needs the huggingface_hub package: "
                        "pip install huggingface_hub") from None
    try:
        local = Path(snapshot_download(name, allow_patterns=FILES))
    except LocalEntryNotFoundError:
        raise UserError(f"{flag} {name}: no such folder, and the model is not in the local Hugging Face cache with "
                        "the Hub out of reach (offline); fetch it where there is a network (hf download "
                        f"{name}) or give its folder") from None
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError):
        raise UserError(f"{flag} {name}: no such folder here, nor model on the Hugging Face Hub") from None
    except OSError as e:  # the network, or the cache's disk
        raise UserError(f"{flag} {name}: no such folder, and fetching it from the Hub failed: "
                        f"{str(e).splitlines()[0][:160]}") from None
    if not any(local.glob("*.safetensors")):
        raise UserError(f"{flag} {name}: the Hub repository has no safetensors weights (only pickled ones, which "
                        "are never loaded: they can run code)")
    return local
