"""DQN's claims in miniature: control learned from reward alone; replay and the target network.

The paper (Mnih et al. 2015): one network, trained from pixels and game score alone, reaches
human-level play on many Atari games; Extended Data Table 3 shows the scores collapse when
experience replay or the separate target network is removed (e.g. Breakout 316.8 with both,
240.7 without the target network, 10.2 without replay, 3.2 without either).

Ours, on CartPole-v1 (return 500 at most, one point per step the pole stays up), with the
`small` preset: the RL Zoo's tuned CartPole settings (Adam 2.3e-3, batch 64, 256x256 MLP,
epsilon 1 -> 0.04 over 8,000 steps) with a quarter of their updates (256 environment steps,
then 32 updates; the target copied before each round), for CPU time. Evaluation: 10 episodes at epsilon 0.05 every 5,000 environment steps.
  learns-cartpole  full DQN; the mean evaluation return first reaches 475 within the budget
                   (50,000 steps, inside the 100,000 the claim allows), in the median over seeds;
                   the random policy's return is measured beside it.
  ablation         full DQN vs --no-replay vs --no-target at the same budget; each run's score
                   is its mean evaluation return over the second half of training (later
                   evaluations, robust to one lucky or unlucky evaluation).
Both claims use the same full-DQN runs; the second claim trains only the two ablations.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..core.claims import Claim, Measured, median, parallel_map, pyplot
from ..core.trainer import train
from .task import PRESETS, Config, make_task, play

TARGET = 475.0
VARIANTS = {"full": {}, "no-replay": {"no_replay": True}, "no-target": {"no_target": True}}


def _config(preset: str, seed: int, variant: str) -> Config:
    cfg = dataclasses.replace(Config(), **PRESETS["tiny" if preset == "tiny" else "small"], seed=seed,
                              tensorboard=False, **VARIANTS[variant])
    if preset == "tiny":
        cfg = dataclasses.replace(cfg, env_steps=3000, eval_interval=1000, eval_episodes=3)
    cfg.check()
    return cfg


def _job(preset: str, seed: int, variant: str) -> dict:
    result = train(make_task(_config(preset, seed, variant)), None, verbose=False)
    evals = [(int(r["env_steps"]), r["eval_return"]) for r in result.history
             if r["split"] == "eval" and "eval_return" in r]
    return {"seed": seed, "variant": variant, "evals": evals, "seconds": result.seconds}


@lru_cache(maxsize=4)
def _runs(preset: str, seeds: tuple[int, ...], workers: int, variants: tuple[str, ...]) -> tuple[dict, ...]:
    jobs = [dict(preset=preset, seed=s, variant=v) for v in variants for s in seeds]
    return tuple(parallel_map(_job, jobs, workers))


def _random_return(episodes: int = 100) -> float:
    """CartPole under a uniformly random policy (epsilon 1)."""
    dummy = torch.nn.Linear(4, 2)
    return float(np.mean(play(dummy, "CartPole-v1", episodes, epsilon=1.0, seed=12_345, device=torch.device("cpu"))))


def _first_reach(evals: list[tuple[int, float]]) -> int | None:
    return next((step for step, ret in evals if ret >= TARGET), None)


def _curve_figure(runs: list[dict], random_return: float, title: str, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for (variant, color) in zip(VARIANTS, ("C0", "C3", "C1")):
        mine = [r for r in runs if r["variant"] == variant]
        if not mine:
            continue
        steps = [s for s, _ in mine[0]["evals"]]
        curves = np.array([[ret for _, ret in r["evals"]] for r in mine])
        for c in curves:
            ax.plot(steps, c, color=color, alpha=0.25, lw=0.8)
        ax.plot(steps, np.median(curves, axis=0), color=color, lw=2, label=f"{variant} (median of {len(mine)})")
    ax.axhline(TARGET, color="gray", ls="--", lw=1, label=f"target {TARGET:.0f}")
    ax.axhline(random_return, color="black", ls=":", lw=1, label=f"random policy ({random_return:.0f})")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean evaluation return")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def measure_learns(preset: str, seeds: list[int], workers: int) -> Measured:
    runs = list(_runs(preset, tuple(seeds), workers, ("full",)))
    random_return = _random_return()
    reach = [_first_reach(r["evals"]) for r in runs]
    best = [max(ret for _, ret in r["evals"]) for r in runs]
    budget = _config(preset, 0, "full").env_steps
    # median over seeds of "steps to reach the target", a seed that never reaches it counting as never
    reached = sorted(x if x is not None else float("inf") for x in reach)
    median_reach = reached[len(reached) // 2]
    holds = median_reach <= min(budget, 100_000)
    per_seed = ", ".join(f"{x:,}" if x is not None else "never" for x in reach)
    ours = (f"median seed reaches {TARGET:.0f} at {median_reach:,.0f} steps" if holds else
            f"the median seed does not reach {TARGET:.0f} in {budget:,} steps") + \
        f" (per seed: {per_seed}; best evaluations {', '.join(f'{b:.0f}' for b in best)}); random policy {random_return:.1f}"

    return Measured(holds=holds, ours=ours,
                    figure=lambda p: _curve_figure(runs, random_return, "DQN learns CartPole-v1 from reward alone", p),
                    measurements={"target": TARGET, "budget_env_steps": budget, "first_reach": reach,
                                  "best_eval": best, "random_return": random_return,
                                  "evals": {r["seed"]: r["evals"] for r in runs},
                                  "seconds_per_run": [round(r["seconds"], 1) for r in runs]})


def _late_mean(evals: list[tuple[int, float]], budget: int) -> float:
    late = [ret for step, ret in evals if step > budget / 2]
    return float(np.mean(late))


def measure_ablation(preset: str, seeds: list[int], workers: int) -> Measured:
    full = list(_runs(preset, tuple(seeds), workers, ("full",)))
    others = list(_runs(preset, tuple(seeds), workers, ("no-replay", "no-target")))
    runs = full + others
    budget = _config(preset, 0, "full").env_steps
    scores: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for r in runs:
        scores[r["variant"]].append(_late_mean(r["evals"], budget))
    med = {v: median(s) for v, s in scores.items()}
    holds = med["full"] > med["no-replay"] and med["full"] > med["no-target"]
    ours = ", ".join(f"{v} {m:.0f}" for v, m in med.items()) + \
        " (median over seeds of the mean evaluation return over the second half of training)"
    random_return = _random_return()
    return Measured(holds=holds, ours=ours,
                    figure=lambda p: _curve_figure(runs, random_return, "Without replay or a target network", p),
                    measurements={"budget_env_steps": budget, "late_mean_return": scores, "median": med,
                                  "evals": {f"{r['variant']}/{r['seed']}": r["evals"] for r in runs}})


CLAIMS = [
    Claim("dqn", "learns-cartpole", "DQN learns control from reward alone",
          "Nature 2015, Fig. 3 and Extended Data Table 2: one network learns 49 Atari games from pixels "
          "and score, at human level in 29; here CartPole-v1, whose best return is 500",
          "human-level on 29 of 49 games",
          f"in the median over seeds, the mean evaluation return (10 episodes, epsilon 0.05) reaches "
          f"{TARGET:.0f} within the run's budget of at most 100,000 environment steps",
          measure_learns,
          budget_note="three runs of 50,000 environment steps and 6,100 updates each: about 2.5 minutes on 2 "
                      "cores, over the ~90 s aimed at"),
    Claim("dqn", "ablation", "Experience replay and the target network both matter",
          "Nature 2015, Extended Data Table 3: removing replay or the target network cuts scores sharply "
          "(Breakout 316.8 with both, 240.7 without the target network, 10.2 without replay)",
          "316.8 vs 240.7 / 10.2",
          "at the same budget, the full DQN's score (mean evaluation return over the second half of "
          "training) exceeds both the no-replay and the no-target variants' in the median over seeds",
          measure_ablation,
          budget_note="six more runs (two variants, three seeds) besides the full runs of the first claim: "
                      "about 4 minutes on 2 cores, over the ~90 s aimed at"),
]
