"""NT-Xent, SimCLR's contrastive loss (Chen, Kornblith, Norouzi, Hinton 2020, §2.1, Eq. 1).

A batch of N images gives 2N views, two per image. Each view's positive is its partner; the
other 2N - 2 views are its negatives. With sim(u, v) = u.v / (|u| |v|) and temperature tau,

    l(i, j) = -log exp(sim(z_i, z_j) / tau) / sum_{k != i} exp(sim(z_i, z_k) / tau)

and the loss is the mean of l over all 2N ordered positive pairs: a 2N-way cross-entropy per view
whose target is its partner, with its own similarity left out. Parity: tests/test_simclr.py
against lightly's NTXentLoss and an explicit loop over pairs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def similarities(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(2N, 2N) cosine similarities over tau with each view's own left out (-inf), and the index of
    each view's partner (2N,)."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2N, D), unit rows
    logits = z @ z.T / temperature  # (2N, 2N)
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))  # k != i
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)  # view i's positive
    return logits, partner


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """The loss of two views (N, D) each, row i of z1 and of z2 from the same image."""
    if temperature <= 0:
        raise ValueError(f"the temperature must be above 0, got {temperature}")
    logits, partner = similarities(z1, z2, temperature)
    return F.cross_entropy(logits.to(torch.promote_types(logits.dtype, torch.float32)), partner)  # bf16 -> fp32


@torch.no_grad()
def pair_accuracy(z1: torch.Tensor, z2: torch.Tensor) -> float:
    """The share of the 2N views whose most similar other view is their partner (the task NT-Xent
    trains, scored as a 2N-1-way classification)."""
    logits, partner = similarities(z1.float(), z2.float(), 1.0)
    return float((logits.argmax(1) == partner).float().mean())
