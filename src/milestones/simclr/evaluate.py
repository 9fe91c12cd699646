"""How SimCLR's representation is judged (Chen et al. 2020, §B.6 and §4.2).

    features      h for every example, with the encoder in eval mode and no gradient: the frozen
                  encoder, its weights and BatchNorm statistics untouched
    knn_accuracy  the monitor during pre-training: each test example's class by a vote of its k
                  nearest training examples in cosine similarity, each vote weighted by
                  exp(sim / tau) (Wu et al. 2018's weighted kNN, k 20, tau 0.1)
    linear_probe  linear evaluation: a logistic-regression classifier fitted on frozen features
                  (standardised), scored on the test set

The probe fits scikit-learn's LogisticRegression (L-BFGS, C 1) on the features: the paper trains
a linear layer with SGD/LARS and Nesterov momentum on ImageNet; on a few thousand examples the
convex problem has one solution, which L-BFGS finds without a learning rate to choose.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


@torch.no_grad()
def features(encoder: nn.Module, x: torch.Tensor, device: torch.device | str = "cpu",
             batch: int = 512) -> torch.Tensor:
    """h (N, D) on the CPU, the encoder in eval mode (its mode restored afterwards)."""
    was = encoder.training
    encoder.eval()
    try:
        return torch.cat([encoder(x[i:i + batch].to(device)).float().cpu() for i in range(0, len(x), batch)])
    finally:
        encoder.train(was)


def knn_accuracy(train_h: torch.Tensor, train_y: torch.Tensor, test_h: torch.Tensor, test_y: torch.Tensor,
                 k: int = 20, temperature: float = 0.1, chunk: int = 1024) -> float:
    """Weighted k-nearest-neighbour accuracy in cosine similarity."""
    a, b = F.normalize(train_h, dim=1), F.normalize(test_h, dim=1)
    n_classes = int(max(train_y.max(), test_y.max())) + 1
    k = min(k, len(a))
    right = 0
    for i in range(0, len(b), chunk):
        sim = b[i:i + chunk] @ a.T  # (n, N_train)
        top, idx = sim.topk(k, dim=1)
        votes = torch.zeros(len(top), n_classes).scatter_add_(1, train_y[idx], (top / temperature).exp())
        right += int((votes.argmax(1) == test_y[i:i + chunk]).sum())
    return right / len(b)


def linear_probe(train_h: torch.Tensor, train_y: torch.Tensor, test_h: torch.Tensor, test_y: torch.Tensor,
                 c: float = 1.0) -> float:
    """Test accuracy of a logistic regression fitted on (standardised) frozen features."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    mean, std = train_h.mean(0), train_h.std(0).clamp_min(1e-6)
    xtr, xte = ((train_h - mean) / std).numpy(), ((test_h - mean) / std).numpy()
    with threadpool_limits(torch.get_num_threads()):  # BLAS threads as many as torch's (one in claim workers)
        clf = LogisticRegression(C=c, max_iter=2000).fit(xtr, train_y.numpy())
    return float((clf.predict(xte) == test_y.numpy()).mean())


def flat(x: torch.Tensor) -> torch.Tensor:
    """Raw inputs as features (N, C*H*W or C*L): the probe's "no learning" baseline."""
    return x.reshape(len(x), -1).float()
