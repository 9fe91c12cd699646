"""The paper-scale paths on a CUDA GPU, each for its first steps: a prepared script for a lent GPU.

    python benchmarks/cuda_smoke.py [--out DIR] [--steps N] [--only NAME,...]
    python benchmarks/cuda_smoke.py --check      # the same commands at the tiny preset on the CPU

Runs `milestones train NAME --preset paper` for a few steps on the GPU, once with `--amp bf16` and
once with `--amp fp16` (the gradient scaler's path), for every milestone, on generated data where
the paper's needs a download (a 256 px ImageFolder for AlexNet, CIFAR-10's binary layout
for ResNet and SimCLR, text files for GPT and BERT, sentence pairs for the translators); the
batches are cut to fit one GPU and the length to a few steps: the model, recipe and code path are the
paper preset's. Then the FSDP path (`--parallel fsdp`, GPT and BERT: its sharded checkpoint and a
resume from it), and, with two GPUs or more, the same under torchrun over nccl, and DDP with
`--sync-bn` (ResNet). Prints one line per run (status, seconds, last loss, loss scale, peak GPU
memory from the run's log) and writes them to DIR/smoke.json. Each run has a time limit; a
failure does not stop the others.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_data(root: Path) -> dict[str, Path]:
    """Small stand-ins for the data the paper presets read (random, so only the path is tested)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    out: dict[str, Path] = {}
    folder = root / "imagefolder"
    if not folder.exists():
        for split, n in (("train", 48), ("test", 16)):
            for label in ("a", "b", "c", "d"):
                (folder / split / label).mkdir(parents=True, exist_ok=True)
                for i in range(n // 4):
                    Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(
                        folder / split / label / f"{i}.png")
    out["imagefolder"] = folder
    cifar = root / "cifar"
    if not cifar.exists():
        cifar.mkdir(parents=True)
        for name, n in (("data_batch_1.bin", 2048), ("test_batch.bin", 512)):
            rows = np.concatenate([rng.integers(0, 10, (n, 1)), rng.integers(0, 255, (n, 3072))], axis=1)
            (cifar / name).write_bytes(rows.astype(np.uint8).tobytes())
    out["cifar"] = cifar
    text = root / "text"
    if not text.exists():
        text.mkdir(parents=True)
        import inspect

        import torch

        words = inspect.getsource(torch.nn.modules.module) * 3  # a few hundred KB of English and code
        (text / "corpus.txt").write_text(words)
    out["text"] = text
    pairs = root / "pairs.tsv"
    if not pairs.exists():
        lines = [f"{i} plus {i + 1}\t{i + 1} et {i}" for i in range(4000)]
        pairs.write_text("\n".join(lines) + "\n")
    out["pairs"] = pairs
    return out


def plans(data: dict[str, Path], steps: int) -> list[tuple[str, list[str]]]:
    """(milestone, options after --preset paper): the paper preset, cut to fit a few steps on one GPU."""
    short = ["--steps", str(steps), "--eval-every", "0", "--ckpt-every", "0", "--log-every", "1",
             "--tensorboard", "false"]
    return [
        ("alexnet", ["--data", str(data["imagefolder"]), "--batch-size", "32", *short]),
        ("resnet", ["--data", str(data["cifar"]), *short]),
        ("adam", short),
        ("gan", short),  # DCGAN on the embedded MNIST digits (the preset's)
        ("simclr", ["--data", str(data["cifar"]), "--batch-size", "256", *short]),
        ("seq2seq", ["--data", str(data["pairs"]), *short]),
        ("transformer", ["--data", str(data["pairs"]), "--batch-size", "64", *short]),
        ("bert", ["--data", str(data["text"]), "--vocab", "4000", "--batch-size", "16", *short]),
        ("gpt", ["--data", str(data["text"]), "--bpe-vocab", "4000", "--batch-size", "16", "--grad-accum", "1",
                 *short]),
        ("dqn", ["--env-steps", "3000", "--learning-starts", "1000", "--buffer-size", "5000", "--eval-interval",
                 "0", "--ckpt-every", "0", "--log-every", "100", "--tensorboard", "false"]),
    ]


def last_row(run: Path) -> dict:
    try:
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    except OSError:
        return {}
    train = [r for r in rows if r.get("split") == "train"]
    return train[-1] if train else {}


def run(cmd: list[str], out: Path, timeout: int, env: dict) -> dict:
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
        status = "ok" if p.returncode == 0 else f"exit {p.returncode}"
        tail = (p.stderr or "").strip().splitlines()[-3:]
    except subprocess.TimeoutExpired:
        status, tail = f"timeout {timeout}s", []
    row = last_row(out)
    return {"status": status, "seconds": round(time.time() - t0, 1), "loss": row.get("loss"),
            "loss_scale": row.get("loss_scale"), "tail": tail if status != "ok" else []}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "runs/cuda_smoke"))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--timeout", type=int, default=240)
    ap.add_argument("--check", action="store_true", help="the same commands at the tiny preset on the CPU")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MILESTONES_CACHE": str(out / "cache")}
    import torch

    gpus = torch.cuda.device_count()
    if not gpus and not args.check:
        sys.exit("no CUDA GPU here; --check runs the commands at the tiny preset on the CPU")
    if gpus:
        print(f"{gpus} x {torch.cuda.get_device_name(0)}, bf16 {torch.cuda.is_bf16_supported()}, torch "
              f"{torch.__version__}", flush=True)
    data = make_data(out / "data")
    preset, device = ("tiny", "cpu") if args.check else ("paper", "cuda")
    only = set(filter(None, args.only.split(",")))
    results = []

    def go(label: str, cmd: list[str], folder: Path) -> None:
        r = {"run": label, **run(cmd, folder, args.timeout, env)}
        results.append(r)
        print(f"{label:38s} {r['status']:12s} {r['seconds']:6.1f}s  loss {r['loss']}  scale {r['loss_scale']}",
              *(f"\n    {line}" for line in r["tail"]), flush=True)
        (out / "smoke.json").write_text(json.dumps(results, indent=1))

    py = [sys.executable, "-m", "milestones", "train"]
    amps = ("off",) if args.check else ("bf16", "fp16")
    for name, opts in plans(data, args.steps):
        if only and name not in only:
            continue
        for amp in amps:
            if amp == "fp16" and name == "seq2seq":
                continue  # cuDNN's LSTM runs fp16; the CPU's does not (said in one line there)
            folder = out / "runs" / f"{name}-{amp}"
            go(f"{name} --amp {amp}", [*py, name, "--preset", preset, "--device", device, "--amp", amp, *opts,
                                       "--out", str(folder)], folder)
    for name in ("gpt", "bert"):
        if only and name not in only:
            continue
        opts = dict(plans(data, args.steps))[name]
        folder = out / "runs" / f"{name}-fsdp"
        base = [*py, name, "--preset", preset, "--device", device, "--parallel", "fsdp", *opts, "--out", str(folder)]
        go(f"{name} --parallel fsdp (1 process)", base, folder)
        go(f"{name} --parallel fsdp --resume", [*py, name, "--resume", "--steps", str(args.steps + 2), "--out",
                                                str(folder)], folder)
        if gpus >= 2:
            n = str(min(gpus, 8))
            tr = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", n, "-m", "milestones", "train"]
            folder = out / "runs" / f"{name}-fsdp-{n}"
            go(f"{name} fsdp x{n} nccl", [*tr, name, "--preset", preset, "--parallel", "fsdp", *opts, "--out",
                                          str(folder)], folder)
    if gpus >= 2 and (not only or "resnet" in only):
        n = str(min(gpus, 8))
        tr = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", n, "-m", "milestones", "train"]
        folder = out / "runs" / f"resnet-ddp-syncbn-{n}"
        go(f"resnet ddp --sync-bn x{n} nccl", [*tr, "resnet", "--preset", preset, "--sync-bn", "true",
                                               *dict(plans(data, args.steps))["resnet"], "--out", str(folder)], folder)
    bad = [r["run"] for r in results if r["status"] != "ok"]
    print(f"{len(results) - len(bad)} of {len(results)} ran" + (f"; failed: {', '.join(bad)}" if bad else ""))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
