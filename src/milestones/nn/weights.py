"""Loading a reference library's state dict into one of our models whose parameters carry the same
names: every key and every shape must match, and a mismatch names what differs (AlexNet's and
ResNet's torchvision weights)."""

from __future__ import annotations

import torch
from torch import nn


def load_exactly(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """Load `state_dict` into `model` when both have exactly the same keys and shapes; ValueError
    naming the keys (the first five each way) or the shape that differs otherwise."""
    ours = model.state_dict()
    if set(ours) != set(state_dict):
        raise ValueError(f"key mismatch: missing {sorted(set(ours) - set(state_dict))[:5]}, "
                         f"unexpected {sorted(set(state_dict) - set(ours))[:5]}")
    for k, v in state_dict.items():
        if ours[k].shape != v.shape:
            raise ValueError(f"{k}: shape {tuple(v.shape)} does not fit ours {tuple(ours[k].shape)}")
    model.load_state_dict(state_dict)
