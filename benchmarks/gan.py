"""DCGAN training speed on the CPU: images per second, with torch.compile off and on.

    python benchmarks/gan.py [--size 28] [--width 64] [--batch 64] [--steps 20] [--repeats 3] [--threads T]

One training step is the shared trainer's: a discriminator update on a batch of real images and
a batch of fakes, then a generator update on fresh noise (gan/task.py), with our Adam. "compile"
wraps the generator and the discriminator in `torch.compile` (the optimizers stay eager); the
compilation time is reported apart and not counted. Eager and compiled steps are timed in
interleaved repeats in one process. Not a test: machines are noisy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from milestones.adam.optim import Adam  # noqa: E402
from milestones.gan.model import DCGANDiscriminator, DCGANGenerator, dcgan_init, discriminator_loss, generator_loss  # noqa: E402


def make(size: int, width: int, z_dim: int):
    torch.manual_seed(0)
    g, d = DCGANGenerator(z_dim, (1, size, size), width), DCGANDiscriminator((1, size, size), width)
    dcgan_init(g)
    dcgan_init(d)
    opt_g = Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    return g, d, opt_g, opt_d


def step_fn(g, d, opt_g, opt_d, G, D, batch: int, z_dim: int, real: torch.Tensor):
    """G, D: the modules to call (compiled or not); g, d: their parameters' owners."""

    def step() -> None:
        with torch.no_grad():
            fake = G(torch.randn(batch, z_dim))
        discriminator_loss(D(real), D(fake)).backward()
        opt_d.step()
        opt_d.zero_grad(set_to_none=True)
        opt_g.zero_grad(set_to_none=True)
        generator_loss(D(G(torch.randn(batch, z_dim)))).backward()
        opt_g.step()
        opt_d.zero_grad(set_to_none=True)
        opt_g.zero_grad(set_to_none=True)

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--z-dim", type=int, default=100)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    real = torch.rand(args.batch, 1, args.size, args.size) * 2 - 1
    print(f"DCGAN {args.size}x{args.size}, width {args.width}, batch {args.batch}, {args.threads} thread(s), "
          f"torch {torch.__version__}", flush=True)

    g, d, og, od = make(args.size, args.width, args.z_dim)
    eager = step_fn(g, d, og, od, g, d, args.batch, args.z_dim, real)
    g2, d2, og2, od2 = make(args.size, args.width, args.z_dim)
    compiled = step_fn(g2, d2, og2, od2, torch.compile(g2), torch.compile(d2), args.batch, args.z_dim, real)
    eager()
    t = time.perf_counter()
    for _ in range(3):  # compiles the forward and backward graphs (and the no-grad variant)
        compiled()
    print(f"compilation (first 3 steps): {time.perf_counter() - t:.1f} s", flush=True)

    def rate(step) -> float:
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        return args.steps * args.batch / (time.perf_counter() - t0)

    a, b = [], []
    for _ in range(args.repeats):
        a.append(rate(eager))
        b.append(rate(compiled))
    ea, cb = statistics.median(a), statistics.median(b)
    print(f"eager     {ea:8.1f} images/s")
    print(f"compiled  {cb:8.1f} images/s   speed-up {cb / ea:.2f}x")


if __name__ == "__main__":
    main()
