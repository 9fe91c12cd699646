"""Our DQN against stable-baselines3's, side by side in one process, on CartPole-v1.

    python benchmarks/dqn.py [--env-steps N] [--seed S] [--threads T]

Both use the RL Zoo's tuned CartPole-v1 hyper-parameters (rl-baselines3-zoo hyperparams/dqn.yml:
Adam 2.3e-3, batch 64, buffer 100,000, learning starts 1,000, train every 256 steps with 128
gradient steps, target update every 10 steps (SB3 counts environment steps, so the target is
refreshed before every round of updates, as our target_update 128 does), epsilon 1 -> 0.04 over
16% of 50,000 steps, 256x256 MLP, gradient norm clipped to 10). Both are evaluated by the same
function (10 episodes at epsilon 0.05) every 5,000 environment steps, with the clock paused.
Prints environment steps per second (training only) and the training wall-clock time until the
mean evaluation return first reaches 475, and the ratio ours/SB3 (target: at most 1.0).
Not a test: machines are noisy, and one seed of RL is noisier still.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from milestones.core.config import build  # noqa: E402
from milestones.core.trainer import train  # noqa: E402
from milestones.dqn.task import PRESETS, Config, DQNTask, play  # noqa: E402

TARGET = 475.0
EVAL_EVERY = 5000
# rl-baselines3-zoo hyperparams/dqn.yml, CartPole-v1, in our config's terms (SB3's gradient-norm
# clip of 10 included); kept here, not taken from a preset, so both sides stay identical
RL_ZOO = dict(learning_starts=1000, train_freq=256, gradient_steps=128, target_update=128, buffer_size=100_000,
              exploration_steps=8000, eps_start=1.0, eps_end=0.04, gamma=0.99, hidden=(256, 256), batch_size=64,
              lr=2.3e-3, optimizer="adam", schedule="constant", grad_clip=10.0)


class _Greedy(torch.nn.Module):
    def __init__(self, q_net: torch.nn.Module):
        super().__init__()
        self.q_net = q_net

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q_net(obs.float())


def run_ours(env_steps: int, seed: int) -> dict:
    cfg = build(Config, PRESETS, "small", dict(RL_ZOO, env_steps=env_steps, seed=seed, tensorboard=False,
                                               eval_interval=EVAL_EVERY, eval_episodes=10, eval_epsilon=0.05,
                                               log_every=128))
    task = DQNTask(cfg)
    evals, paused = [], [0.0]
    inner = task.evaluate

    def timed_eval(model, device):
        t = time.perf_counter()
        out = inner(model, device)
        paused[0] += time.perf_counter() - t
        evals.append((int(out["env_steps"]), out["eval_return"], time.perf_counter() - t0 - paused[0]))
        return out

    task.evaluate = timed_eval
    t0 = time.perf_counter()
    train(task, None, verbose=False)
    return {"seconds": time.perf_counter() - t0 - paused[0], "env_steps": task.env_steps, "evals": evals}


def run_sb3(env_steps: int, seed: int) -> dict:
    import gymnasium as gym
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    evals, paused = [], [0.0]

    class Eval(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % EVAL_EVERY == 0:
                t = time.perf_counter()
                rets = play(_Greedy(self.model.q_net), "CartPole-v1", 10, 0.05,
                            seed=10**6 + seed * 1000 + self.num_timesteps // 1000, device=torch.device("cpu"))
                paused[0] += time.perf_counter() - t
                evals.append((self.num_timesteps, sum(rets) / len(rets), time.perf_counter() - t0 - paused[0]))
            return True

    model = DQN("MlpPolicy", gym.make("CartPole-v1"), learning_rate=2.3e-3, batch_size=64, buffer_size=100_000,
                learning_starts=1000, gamma=0.99, target_update_interval=10, train_freq=256, gradient_steps=128,
                exploration_fraction=8000 / env_steps, exploration_final_eps=0.04,
                policy_kwargs=dict(net_arch=[256, 256]), seed=seed, device="cpu", verbose=0)
    t0 = time.perf_counter()
    model.learn(total_timesteps=env_steps, callback=Eval())
    return {"seconds": time.perf_counter() - t0 - paused[0], "env_steps": env_steps, "evals": evals}


def first_reach(evals: list) -> float | None:
    return next((secs for _, ret, secs in evals if ret >= TARGET), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env-steps", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"CartPole-v1, {args.env_steps:,} environment steps, seed {args.seed}, {args.threads} thread(s)", flush=True)
    results = {}
    for name, fn in (("ours", run_ours), ("stable-baselines3", run_sb3)):
        r = results[name] = fn(args.env_steps, args.seed)
        reach = first_reach(r["evals"])
        curve = " ".join(f"{ret:.0f}" for _, ret, _ in r["evals"])
        print(f"{name:<18} {r['env_steps'] / r['seconds']:7.0f} env steps/s   "
              f"reaches {TARGET:.0f} after {f'{reach:.1f} s' if reach else 'never'}   evals: {curve}",
              flush=True)
    a, b = (first_reach(results[k]["evals"]) for k in ("ours", "stable-baselines3"))
    sps = (results["ours"]["env_steps"] / results["ours"]["seconds"]) / \
        (results["stable-baselines3"]["env_steps"] / results["stable-baselines3"]["seconds"])
    print(f"speed ratio ours/SB3 (env steps per second): {sps:.2f}")
    if a and b:
        print(f"time-to-{TARGET:.0f} ratio ours/SB3: {a / b:.2f} (target <= 1.0): {'met' if a <= b else 'NOT met'}")
    else:
        print(f"time-to-{TARGET:.0f} ratio: undefined (ours {a}, SB3 {b}); try another --seed or more --env-steps")


if __name__ == "__main__":
    main()
