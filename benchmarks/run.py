"""Side-by-side speed of our implementations against the references, in one process.

    python benchmarks/run.py [--repeats N] [--threads T]

Times, with the same thread count on both sides and interleaved repeats (so drift in the
machine's speed hits both alike), one training step of:
  AlexNet      ours (single-tower config) vs torchvision.models.alexnet, 224x224, batch 16
  ResNet-18    ours vs torchvision.models.resnet18, 224x224, batch 32
  Adam step    ours vs torch.optim.Adam(foreach=True) over ResNet-18's parameters
and prints each ratio ours/reference (target: at most 1.05). Not a test: machines are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torchvision  # noqa: E402

from milestones.adam.optim import Adam  # noqa: E402
from milestones.alexnet.model import AlexNet, AlexNetConfig  # noqa: E402
from milestones.resnet.model import resnet  # noqa: E402


def train_step(model, x, y, opt):
    opt.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


def timed(fn, warmup=1):
    for _ in range(warmup):
        fn()
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def compare(name, ours, ref, repeats):
    a, b = [], []
    for _ in range(repeats):  # interleaved
        a.append(timed(ours, 0))
        b.append(timed(ref, 0))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"{name:<34} ours {ma * 1000:9.1f} ms   reference {mb * 1000:9.1f} ms   ratio {ma / mb:5.2f}", flush=True)
    return ma / mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {args.threads} threads, "
          f"median of {args.repeats} interleaved repeats")

    x = torch.randn(16, 3, 224, 224)
    y = torch.randint(0, 1000, (16,))
    mine, ref = AlexNet(AlexNetConfig.torchvision()), torchvision.models.alexnet()
    o1, o2 = torch.optim.SGD(mine.parameters(), lr=0.01), torch.optim.SGD(ref.parameters(), lr=0.01)
    for f in (lambda: train_step(mine, x, y, o1), lambda: train_step(ref, x, y, o2)):
        f()
    ratios = {"alexnet": compare("AlexNet train step (b16, 224px)", lambda: train_step(mine, x, y, o1),
                                 lambda: train_step(ref, x, y, o2), args.repeats)}

    x = torch.randn(32, 3, 224, 224)
    y = torch.randint(0, 1000, (32,))
    mine, ref = resnet(18), torchvision.models.resnet18()
    o1, o2 = torch.optim.SGD(mine.parameters(), lr=0.01), torch.optim.SGD(ref.parameters(), lr=0.01)
    for f in (lambda: train_step(mine, x, y, o1), lambda: train_step(ref, x, y, o2)):
        f()
    ratios["resnet18"] = compare("ResNet-18 train step (b32, 224px)", lambda: train_step(mine, x, y, o1),
                                 lambda: train_step(ref, x, y, o2), args.repeats)

    pa = [p.detach().clone().requires_grad_() for p in resnet(18).parameters()]
    pb = [p.detach().clone().requires_grad_() for p in pa]
    for p, q in zip(pa, pb):
        p.grad = torch.randn_like(p)
        q.grad = p.grad.clone()
    oa, ob = Adam(pa, lr=1e-3), torch.optim.Adam(pb, lr=1e-3, foreach=True)
    oa.step()
    ob.step()

    def many(opt):
        return lambda: [opt.step() for _ in range(10)]

    ratios["adam"] = compare("Adam step x10 (ResNet-18 params)", many(oa), many(ob), args.repeats)
    worst = max(ratios.values())
    print(f"worst ratio {worst:.2f} (target <= 1.05): {'met' if worst <= 1.05 else 'NOT met'}")


if __name__ == "__main__":
    main()
