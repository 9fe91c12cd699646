"""Our DQN against stable-baselines3's on CartPole-v1, and against a plain loop on MinAtar's frames.

    python benchmarks/dqn.py [--env-steps N] [--seed S] [--threads T]
    python benchmarks/dqn.py --env MinAtar/Breakout-v1 [--env-steps N] [--seed S] [--threads T]

Both use the RL Zoo's tuned CartPole-v1 hyper-parameters (rl-baselines3-zoo hyperparams/dqn.yml:
Adam 2.3e-3, batch 64, buffer 100,000, learning starts 1,000, train every 256 steps with 128
gradient steps, target update every 10 steps (SB3 counts environment steps, so the target is
refreshed before every round of updates, as our target_update 128 does), epsilon 1 -> 0.04 over
16% of 50,000 steps, 256x256 MLP, gradient norm clipped to 10). Both are evaluated by the same
function (10 episodes at epsilon 0.05) every 5,000 environment steps, with the clock paused.
Prints environment steps per second (training only) and the training wall-clock time until the
mean evaluation return first reaches 475, and the ratio ours/SB3 (target: at most 1.0).
Not a test: machines are noisy, and one seed of RL is noisier still.

With a MinAtar id: our trainer with the small preset's MinAtar settings (MinAtar's network and
DQN settings, one update every 4 frames) against the same network and update rule written as
one plain loop in the manner of MinAtar's examples/dqn.py (torch.optim.RMSprop(centered=True), a
replay of observation pairs in numpy arrays, the same `minatar` environment). Both train N frames
(default 40,000: 35,000 of them with updates), with no evaluation on the clock, and the script
prints frames and updates per second (the median of --repeats interleaved runs, after a warm-up
run of each side, so that neither pays the imports and first kernels) and the ratio ours/plain
(target: at least 1.0).
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
from milestones.data import rl  # noqa: E402
from milestones.dqn.task import PRESETS, Config, DQNTask, play, presets_for  # noqa: E402

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


def minatar_ours(env: str, frames: int, seed: int) -> dict:
    cfg = build(Config, presets_for({"env": env}), "small", dict(env=env, env_steps=frames, seed=seed,
                                                                  tensorboard=False, eval_interval=0))
    task = DQNTask(cfg)
    task.evaluate = lambda model, device: {"eval_return": 0.0}  # the run's end: not on the clock
    t0 = time.perf_counter()
    train(task, None, verbose=False)
    return {"seconds": time.perf_counter() - t0, "frames": task.env_steps, "updates": cfg.steps}


def minatar_plain(env_id: str, frames: int, seed: int) -> dict:
    """MinAtar's DQN as one loop: act every frame, one update every 4 frames from 5,000 on, the target
    copied every 1,000 updates; the settings of the small preset's MinAtar entry."""
    import numpy as np

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = rl.make_env(env_id)
    obs, _ = env.reset(seed=seed)
    h, w, c = obs.shape
    n_actions = env.action_space.n

    def network() -> torch.nn.Module:
        return torch.nn.Sequential(torch.nn.Conv2d(c, 16, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                   torch.nn.Linear(16 * (h - 2) * (w - 2), 128), torch.nn.ReLU(),
                                   torch.nn.Linear(128, n_actions))

    def q(net: torch.nn.Module, x: np.ndarray) -> torch.Tensor:
        return net(torch.as_tensor(x).float().permute(0, 3, 1, 2))

    online, target = network(), network()
    target.load_state_dict(online.state_dict())
    opt = torch.optim.RMSprop(online.parameters(), lr=2.5e-4, alpha=0.95, eps=0.01, centered=True)
    cap = 100_000
    states = np.zeros((cap, h, w, c), dtype=bool)
    next_states = np.zeros((cap, h, w, c), dtype=bool)
    actions = np.zeros(cap, dtype=np.int64)
    rewards = np.zeros(cap, dtype=np.float32)
    dones = np.zeros(cap, dtype=np.float32)
    updates = 0
    t0 = time.perf_counter()
    for t in range(frames):
        eps = 1.0 + min(1.0, t / 100_000) * (0.1 - 1.0)
        if rng.random() < eps:
            a = int(rng.integers(n_actions))
        else:
            with torch.no_grad():
                a = int(q(online, obs[None]).argmax(1))
        nxt, r, term, trunc, _ = env.step(a)
        i = t % cap
        states[i], next_states[i], actions[i], rewards[i], dones[i] = obs, nxt, a, r, float(term)
        obs = env.reset()[0] if term or trunc else nxt
        if t >= 5000 and t % 4 == 0:
            idx = rng.integers(0, min(t + 1, cap), size=32)
            with torch.no_grad():
                y = torch.as_tensor(rewards[idx]) + 0.99 * (1 - torch.as_tensor(dones[idx])) * \
                    q(target, next_states[idx]).max(1).values
            pred = q(online, states[idx]).gather(1, torch.as_tensor(actions[idx])[:, None]).squeeze(1)
            loss = torch.nn.functional.smooth_l1_loss(pred, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            updates += 1
            if updates % 1000 == 0:
                target.load_state_dict(online.state_dict())
    return {"seconds": time.perf_counter() - t0, "frames": frames, "updates": updates}


def minatar(args: argparse.Namespace) -> None:
    import statistics

    print(f"{args.env}, {args.env_steps:,} frames, seed {args.seed}, {args.threads} thread(s), "
          f"{args.repeats} interleaved repeats after a warm-up of each (imports, first kernels)", flush=True)
    sides = {"ours": minatar_ours, "plain loop": minatar_plain}
    for fn in sides.values():
        fn(args.env, 5200, args.seed)
    seconds: dict[str, list[float]] = {k: [] for k in sides}
    counts = {}
    for _ in range(args.repeats):
        for name, fn in sides.items():
            r = fn(args.env, args.env_steps, args.seed)
            seconds[name].append(r["seconds"])
            counts[name] = (r["frames"], r["updates"])
    speed = {}
    for name in sides:
        sec = statistics.median(seconds[name])
        frames, updates = counts[name]
        speed[name] = frames / sec
        print(f"{name:<12} {frames / sec:7.0f} frames/s   {updates / sec:6.0f} updates/s   ({frames:,} frames, "
              f"{updates:,} updates; median {sec:.1f} s of {', '.join(f'{x:.1f}' for x in seconds[name])})", flush=True)
    ratio = speed["ours"] / speed["plain loop"]
    print(f"speed ratio ours/plain loop (frames per second): {ratio:.2f} (target >= 1.0): "
          f"{'met' if ratio >= 1.0 else 'NOT met'}")


def first_reach(evals: list) -> float | None:
    return next((secs for _, ret, secs in evals if ret >= TARGET), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="CartPole-v1", help="CartPole-v1 (against SB3) or a MinAtar id (a plain loop)")
    ap.add_argument("--env-steps", type=int, default=None, help="default: 50,000 (CartPole), 40,000 (MinAtar)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="MinAtar: interleaved repeats of each side")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if rl.is_minatar(args.env):
        args.env_steps = args.env_steps or 40_000
        return minatar(args)
    if args.env != "CartPole-v1":
        ap.error(f"--env {args.env}: the benchmark runs CartPole-v1 or a MinAtar id")
    args.env_steps = args.env_steps or 50_000
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
