"""`milestones sample dqn --run DIR`: play episodes with a trained Q-network and save a GIF of one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..core.checkpoint import Loaded
from .task import play


@dataclass
class Options:
    """dqn's sample takes nothing besides --run, --count (episodes, default 3) and --out."""


INPUTS = None  # no positional arguments


def sample(run: Loaded, opts: Options, inputs: list[str], count: int | None, out: Path) -> None:
    cfg, model = run.config, run.model
    env_kw = dict(frame_stack=cfg.frame_stack, sticky_actions=cfg.sticky_actions)
    frames: list[np.ndarray] = []
    episodes = count or 3
    returns = play(model, cfg.env, episodes, cfg.eval_epsilon, seed=2**20 + cfg.seed, device=torch.device("cpu"),
                   frames=frames, **env_kw)
    print(f"{cfg.env}: {episodes} episodes with epsilon {cfg.eval_epsilon} from {run.checkpoint}")
    for i, r in enumerate(returns):
        print(f"  episode {i + 1}: return {r:g}")
    print(f"  mean {np.mean(returns):.1f} (std {np.std(returns):.1f})")
    out.mkdir(parents=True, exist_ok=True)
    gif = out / "episode.gif"
    images = [Image.fromarray(f) for f in frames[::2]]  # every other frame keeps the file small
    tmp = gif.with_suffix(".tmp.gif")
    images[0].save(tmp, save_all=True, append_images=images[1:], duration=40, loop=0)
    tmp.replace(gif)
    print(f"GIF of episode 1 ({len(frames)} frames): {gif}")
