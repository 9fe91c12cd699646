"""How good are a GAN's samples, measured without downloading anything.

2-D mixtures (the protocol of VEEGAN §5.1 and PacGAN §5): draw 2,500 samples; a sample is
high quality when it lies within 3 standard deviations of its nearest mode; a mode is covered
when at least 20 high-quality samples fall nearest to it.

Images: the Frechet distance of Heusel et al. 2017 (FID) and a score in the manner of the
Inception score of Salimans et al. 2016, both computed in the feature space of a *digit
classifier* (a small CNN, `JudgeNet`, trained once on the real training split by the shared
classification task and cached), not of Inception-v3, whose weights cannot be downloaded here.
The numbers are therefore not comparable with published FIDs; the report calls them
"classifier-feature FD". The classifier also tells which classes the samples show, so mode
collapse is visible.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from ..core.checkpoint import rng_state, set_rng_state
from ..core.config import FromData
from ..core.pool import one_thread
from ..core.trainer import train
from ..data.images import ImageData
from ..data.mixtures import Mixture
from ..optim import OptimConfig
from ..paths import cache_dir
from ..tasks.classification import ClassificationConfig, ClassificationTask

# -- 2-D mixtures ---------------------------------------------------------------------------------

MIXTURE_SAMPLES = 2500
MIN_HQ_PER_MODE = 20


def mode_coverage(samples: torch.Tensor, mixture: Mixture) -> dict[str, float]:
    """samples (N, 2) -> modes covered, fraction of high-quality samples."""
    dist = torch.cdist(samples.float(), mixture.centers)  # (N, K)
    nearest_d, nearest = dist.min(1)
    hq = nearest_d <= 3 * mixture.std
    counts = torch.bincount(nearest[hq], minlength=mixture.n_modes)
    return {"modes": float((counts >= MIN_HQ_PER_MODE).sum()), "hq": float(hq.float().mean())}


# -- Frechet distance and classifier score ------------------------------------------------------


def gaussian_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """features (N, F) -> mean (F,), unbiased covariance (F, F), in float64."""
    f = features.double()
    mu = f.mean(0)
    centred = f - mu
    return mu, centred.T @ centred / (len(f) - 1)


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """||mu1 - mu2||^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2)) between two Gaussians.

    Tr (C1 C2)^(1/2) is the sum of the square roots of the eigenvalues of C1 C2, which equal
    those of the symmetric PSD matrix C1^(1/2) C2 C1^(1/2); `eigvalsh` then needs no complex numbers."""
    w, v = torch.linalg.eigh(cov1)
    root1 = (v * w.clamp_min(0).sqrt()) @ v.T  # C1^(1/2)
    middle = root1 @ cov2 @ root1
    tr_covmean = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    return float((mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2 * tr_covmean)


def classifier_score(probs: torch.Tensor) -> float:
    """exp(E_x KL(p(y|x) || p(y))): from 1 (one class, or no confidence) to the number of classes."""
    p = probs.double().clamp_min(1e-12)
    marginal = p.mean(0, keepdim=True)
    return float(torch.exp((p * (p.log() - marginal.log())).sum(1).mean()))


# -- the judge: a digit classifier trained by the shared classification task ------------------


@dataclass
class JudgeConfig:
    in_channels: FromData[int] = 1
    """Image channels (from the data)."""
    n_classes: FromData[int] = 10
    """Classes (from the data)."""


class JudgeNet(nn.Module):
    """Three 3x3 convolutions with batch norm (the second and third stride 2), global average
    pooling to 64 features (the space the Frechet distance is measured in), a linear classifier."""

    def __init__(self, cfg: JudgeConfig):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = cfg.in_channels
        for c, stride in ((32, 1), (64, 2), (64, 2)):
            layers += [nn.Conv2d(c_in, c, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c),
                       nn.ReLU(inplace=True)]
            c_in = c
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, cfg.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean((2, 3))  # (B, C, H, W) -> (B, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))  # (B, n_classes)


@dataclass
class JudgeTaskConfig(ClassificationConfig):
    model: JudgeConfig = field(default_factory=JudgeConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="sgd", lr=0.1, weight_decay=5e-4))


class JudgeTask(ClassificationTask):
    name = "gan-judge"
    model_class = JudgeNet

    def model_config(self) -> JudgeConfig:
        return replace(self.cfg.model, in_channels=self.data.shape[0], n_classes=self.data.n_classes)


JUDGE_STEPS = 400


def _fingerprint(data: ImageData) -> str:
    h = hashlib.sha1()
    for t in (data.x_train, data.y_train):
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def judge_network(data: ImageData, verbose: bool = False) -> JudgeNet:
    """A digit classifier of `data`, trained with the shared trainer on the training split the first
    time and cached under ~/.cache/milestones (MILESTONES_CACHE) after that. It leaves every random
    generator as it found them, so a GAN run goes the same whether the judge was cached or not."""
    saved = rng_state()
    try:
        return _judge_network(data, verbose)
    finally:
        set_rng_state(saved)


def _judge_network(data: ImageData, verbose: bool) -> JudgeNet:
    net = JudgeNet(JudgeConfig(data.shape[0], data.n_classes))
    path = cache_dir() / f"gan-judge-cnn-{data.name}-{_fingerprint(data)}.safetensors"
    if path.exists():
        net.load_state_dict(load_file(str(path)))
        return net.eval()
    if verbose:
        print(f"training the digit classifier the metrics use (a small CNN, {JUDGE_STEPS} steps, cached after)",
              file=sys.stderr, flush=True)
    cfg = JudgeTaskConfig(steps=JUDGE_STEPS, batch_size=128, schedule="cosine", warmup_steps=20, log_every=50,
                          seed=0, device="cpu", tensorboard=False)
    # on one thread wherever it is trained (a claim's worker, a tour's main process, a user's train):
    # CPU kernels round differently with the thread count, and every GAN run's scores depend on it.
    # enable_grad: the first call may come from a GAN's evaluation, which runs under no_grad.
    with torch.enable_grad(), one_thread():
        result = train(JudgeTask(cfg, data), None, verbose=False)
    if verbose:
        print(f"digit classifier: test accuracy {result.final_eval.get('test_acc', float('nan')):.3f}",
              file=sys.stderr, flush=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    save_file({k: v.contiguous() for k, v in result.model.state_dict().items()}, str(tmp))
    os.replace(tmp, path)
    return result.model.cpu().eval()  # type: ignore[return-value]


@dataclass
class ImageJudge:
    """Features and class probabilities of images in the generator's [-1, 1] range."""

    net: nn.Module
    data: ImageData
    lo: float
    hi: float

    @torch.no_grad()
    def features_and_probs(self, images: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
        feats, probs = [], []
        for i in range(0, len(images), batch):
            x = images[i:i + batch].float().cpu()
            raw = (x + 1) / 2 * (self.hi - self.lo) + self.lo  # back to the data's own scale
            f = self.net.features((raw - self.data.mean) / self.data.std)  # (B, 64)
            feats.append(f)
            probs.append(F.softmax(self.net.fc(f), -1))
        return torch.cat(feats), torch.cat(probs)

    def real_stats(self, limit: int = 10_000) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.data.x_train[:limit].float()
        scaled = (x - self.lo) / (self.hi - self.lo) * 2 - 1
        feats, _ = self.features_and_probs(scaled)
        return gaussian_stats(feats)

    def score(self, images: torch.Tensor, real: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        """fd (classifier-feature Frechet distance to the real training split), score, and the
        number of classes the classifier finds among the samples (each at least 1% of them)."""
        feats, probs = self.features_and_probs(images)
        counts = torch.bincount(probs.argmax(1), minlength=self.data.n_classes)
        return {"fd": frechet_distance(*gaussian_stats(feats), *real), "score": classifier_score(probs),
                "classes": float((counts >= max(1, len(images) // 100)).sum())}
