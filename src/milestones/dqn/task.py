"""DQN's training task: the environment loop, replay and target network inside the shared trainer.

Mnih et al. 2015, Methods and Algorithm 1. One trainer step is one gradient update on a
minibatch from replay; the task's `batch()` first lets the agent act in its environments
(every `gradient_steps` updates it collects `train_freq` more environment steps with an
epsilon-greedy policy) and syncs the target network every `target_update` updates. The loss is
the Huber loss between Q(s, a) and r + gamma max_a' Q_target(s', a') (the paper's clipping of
the error term to [-1, 1] is exactly the Huber loss's gradient), with no bootstrap past a
terminal state. On Atari the rewards are clipped to their sign (Methods, "Training details").

Ablations of the Nature paper's Extended Data Table 3: `--no-replay` keeps only the latest
`train_freq` steps in replay (updates see fresh, correlated experience only); `--no-target`
bootstraps from the online network itself (as if the target were synced every update).

Resume restores the networks (online and target), optimizer, update and environment-step
counters (hence epsilon), episode statistics and every RNG. With `--save-replay` (on in the
small preset, where replay is at most 40 MB) it also restores the replay buffer and, where the
environments can be saved (classic control and MinAtar: plain Python and numpy, written to
envs.pkl and read back by `rl.load_envs`, which builds nothing but environment classes and numpy
arrays), the running episodes, their observations and returns: the resumed run is then the
uninterrupted one, bit for bit. Otherwise the buffer is refilled with `learning_starts` fresh
steps and the environments start new episodes (Atari's emulator state is not saved).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.config import NonNegative, Positive, Probability, Resumable, RunConfig, flatten
from ..core.task import Shard, Task
from ..data import rl
from ..errors import UserError
from ..optim import OptimConfig
from ..optim import build as build_optimizer
from .model import QAgent, QNetConfig
from .replay import ReplayBuffer


@dataclass
class Config(RunConfig):
    env: str = "CartPole-v1"
    """gymnasium id with a discrete action space: CartPole-v1, Acrobot-v1, ALE/Pong-v5, MinAtar/Breakout-v1, ...
    The small preset has the RL Zoo's tuned settings for CartPole-v1 (a quarter of its updates), Acrobot-v1
    and MountainCar-v0, and MinAtar's for its five games (MinAtar/Asterix-v1, Breakout, Freeway,
    Seaquest, SpaceInvaders); any other id gets CartPole's."""
    env_steps: Resumable[Positive[int]] = 50_000
    """Environment steps to train for (the number of updates follows from it: see steps)."""
    n_envs: Positive[int] = 1
    """Environments stepped side by side (in turn, in this process: data/rl.py EnvLoop)."""
    buffer_size: Positive[int] = 100_000
    """Replay memory capacity in transitions (the paper: 1,000,000)."""
    learning_starts: NonNegative[int] = 1000
    """Environment steps collected before the first update."""
    train_freq: Positive[int] = 256
    """Environment steps collected (per environment) between rounds of updates (the paper: 4)."""
    gradient_steps: Positive[int] = 128
    """Updates per round (the paper: 1)."""
    target_update: Positive[int] = 128
    """Updates between copies of the online network into the target network (the paper's C)."""
    gamma: Probability = 0.99
    """Discount factor."""
    eps_start: Resumable[Probability] = 1.0
    """Initial exploration epsilon."""
    eps_end: Resumable[Probability] = 0.04
    """Final exploration epsilon."""
    exploration_steps: Resumable[NonNegative[int]] = 8000
    """Environment steps over which epsilon falls linearly from eps-start to eps-end."""
    eval_epsilon: Resumable[Probability] = 0.05
    """Epsilon of the evaluation episodes (the paper: 0.05)."""
    eval_episodes: Resumable[Positive[int]] = 10
    """Episodes per evaluation."""
    eval_interval: Resumable[NonNegative[int]] = 5000
    """Environment steps between evaluations (0: only at the end)."""
    no_replay: bool = False
    """Ablation: replay holds only the latest train-freq steps."""
    no_target: bool = False
    """Ablation: bootstrap from the online network (no target network)."""
    clip_rewards: bool = False
    """Clip rewards to their sign (on by default for Atari in the paper preset)."""
    frame_stack: Positive[int] = 4
    """Atari: processed frames stacked into one observation."""
    sticky_actions: Probability = 0.0
    """Atari: probability of repeating the previous action (the 2015 paper: 0). MinAtar's games keep their
    own, 0.1 (their paper's)."""
    save_replay: Resumable[bool] = False
    """Write the replay buffer (and, but for Atari, the environments) into checkpoints, so that --resume
    continues exactly (on in the small preset; the paper preset's is 7 GB, so off there)."""
    model: QNetConfig = field(default_factory=QNetConfig)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(name="adam", lr=1e-3))

    @property
    def steps(self) -> int:
        """Gradient updates (one trainer step each): (env-steps - learning-starts) / (train-freq x n-envs)
        rounds of gradient-steps updates. Set --env-steps instead."""
        return (self.env_steps - self.learning_starts) // (self.train_freq * self.n_envs) * self.gradient_steps

    @property
    def eval_every(self) -> int:
        """Updates between evaluations, from --eval-interval environment steps. Set --eval-interval instead."""
        return self.eval_interval // (self.train_freq * self.n_envs) * self.gradient_steps

    def check(self) -> None:
        if not self.eps_end <= self.eps_start:
            raise ValueError(f"--eps-end {self.eps_end} must not exceed --eps-start {self.eps_start}")
        per_round = self.train_freq * self.n_envs
        if self.env_steps < self.learning_starts + per_round:
            raise ValueError(f"--env-steps {self.env_steps} leaves no room for updates: it must be at least "
                             f"--learning-starts + --train-freq x --n-envs = {self.learning_starts + per_round}")


PRESETS = {
    "tiny": dict(env_steps=1200, learning_starts=200, train_freq=100, gradient_steps=10, target_update=20,
                 buffer_size=2000, exploration_steps=500, eval_interval=500, eval_episodes=2, batch_size=32,
                 save_replay=True,
                 schedule="constant", grad_clip=10.0, model=dict(hidden=(32,)), optim=dict(lr=1e-3)),
    # the RL Zoo's tuned CartPole-v1 settings (rl-baselines3-zoo, hyperparams/dqn.yml) unchanged: 128
    # updates per 256 environment steps, the target copied before each round; about 65 s a run on one
    # core. (A quarter of the updates, this preset's until issue 26, reached 475 within 50,000 steps on
    # 7 of 10 seeds; the Zoo's rate did on 9 of the pilot seeds 100-109.) benchmarks/dqn.py runs the same.
    "small": dict(env_steps=50_000, learning_starts=1000, train_freq=256, gradient_steps=128, target_update=128,
                  buffer_size=100_000, exploration_steps=8000, eps_end=0.04, batch_size=64, schedule="constant",
                  grad_clip=10.0, eval_interval=5000, log_every=128, model=dict(hidden=(256, 256)),
                  save_replay=True, optim=dict(lr=2.3e-3)),
    # the Nature configuration (Extended Data Table 1); frames counted after the 4x action repeat
    "paper": dict(env="ALE/Pong-v5", env_steps=50_000_000, buffer_size=1_000_000, learning_starts=50_000,
                  train_freq=4, gradient_steps=1, target_update=10_000, exploration_steps=1_000_000,
                  eps_end=0.1, batch_size=32, schedule="constant", clip_rewards=True, eval_interval=250_000,
                  eval_episodes=30, ckpt_every=250_000, log_every=1000, save_replay=False,
                  # RMSProp with squared-gradient momentum 0.95 and min squared gradient 0.01, centred as
                  # DeepMind's DQN code is (the gradient's running mean subtracted; MinAtar's examples too;
                  # the 0.01 is added after the square root, as torch.optim's, not under it as DeepMind's)
                  optim=dict(name="rmsprop_centered", lr=2.5e-4, alpha=0.95, eps=0.01)),
}


# The RL Zoo's tuned settings for the other classic-control tasks (rl-baselines3-zoo,
# hyperparams/dqn.yml), taken by the small preset when --env names one: its n_timesteps as
# env_steps, exploration_fraction x n_timesteps as exploration_steps, and its target update interval
# (in environment steps) as updates (x gradient_steps / train_freq). Settings given on the command
# line win. (LunarLander's need the box2d package, which is not a dependency.)
ENVIRONMENTS = {
    "Acrobot-v1": dict(env_steps=100_000, learning_starts=0, train_freq=4, gradient_steps=4, target_update=250,
                       buffer_size=50_000, exploration_steps=12_000, eps_end=0.1, gamma=0.99, batch_size=128,
                       optim=dict(lr=6.3e-4), model=dict(hidden=(256, 256))),
    "MountainCar-v0": dict(env_steps=120_000, learning_starts=1000, train_freq=16, gradient_steps=8,
                           target_update=300, buffer_size=10_000, exploration_steps=24_000, eps_end=0.07, gamma=0.98,
                           batch_size=128, optim=dict(lr=4e-3), model=dict(hidden=(256, 256))),
}
# MinAtar's five games (Young & Tian 2019, §4 and examples/dqn.py): batch 32, replay 100,000, the
# target copied every 1,000 updates, epsilon from 1 to 0.1 over 100,000 frames, replay starting at
# 5,000, centred RMSProp at 2.5e-4 (squared-gradient decay 0.95, eps 0.01), Huber loss, no clipping;
# MinAtar's own sticky actions (0.1). What a CPU changes: one update every 4 frames (Nature's rate;
# MinAtar's: every frame) and 500,000 frames (MinAtar's paper: 5 million), about 8 minutes on one
# core; evaluated every 25,000 frames. Chosen on Breakout pilots, seeds 100-105 (dqn/claim.py).
MINATAR = dict(env_steps=500_000, learning_starts=5000, train_freq=4, gradient_steps=1, target_update=1000,
               buffer_size=100_000, exploration_steps=100_000, eps_end=0.1, gamma=0.99, batch_size=32,
               grad_clip=0.0, eval_interval=25_000, eval_episodes=10, log_every=500,
               optim=dict(name="rmsprop_centered", lr=2.5e-4, alpha=0.95, eps=0.01))
ENVIRONMENTS.update({f"MinAtar/{game}-v1": MINATAR for game in ("Asterix", "Breakout", "Freeway", "Seaquest",
                                                                 "SpaceInvaders")})


def presets_for(overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The presets, the small one with the tuned settings of the environment asked for. An MLP's
    widths given for frames (which get a CNN) are one line."""
    env = overrides.get("env")
    if "model.hidden" in overrides and isinstance(env, str) and (rl.is_minatar(env) or rl.is_atari(env)):
        network = "MinAtar's CNN (conv 16 3x3, 128 units)" if rl.is_minatar(env) else "the Nature CNN"
        raise UserError(f"--model.hidden sets the widths of the MLP for vector observations; {env}'s frames get "
                        f"{network}, which it does not change")
    if env not in ENVIRONMENTS:
        return PRESETS
    return {**PRESETS, "small": flatten(PRESETS["small"]) | flatten(ENVIRONMENTS[env])}


class DQNTask(Task):
    watch = ("episode_return", "eval_return", "loss", "epsilon")
    name = "dqn"
    model_class = QAgent

    def __init__(self, cfg: Config):
        super().__init__(cfg)
        self.cfg: Config = cfg
        env_kw = dict(frame_stack=cfg.frame_stack, sticky_actions=cfg.sticky_actions)
        self.envs, self.spec = rl.make_vec(cfg.env, cfg.n_envs, **env_kw)
        self.env_kw = env_kw
        capacity = cfg.train_freq * cfg.n_envs if cfg.no_replay else cfg.buffer_size
        self.buffer = ReplayBuffer(max(capacity, (cfg.frame_stack + 2) * cfg.n_envs), cfg.n_envs,
                                   self.spec.obs_shape, self.spec.obs_dtype, self.spec.frame_stack)
        self.gen = torch.Generator().manual_seed(cfg.seed)  # exploration and minibatch draws
        self.env_steps = 0
        self.episodes = 0
        self.returns: list[float] = []  # finished training episodes' (unclipped) returns
        self.model: QAgent | None = None
        self.device = torch.device("cpu")
        self.obs: np.ndarray | None = None
        self.ep_return = np.zeros(cfg.n_envs)
        self._resumed_obs: np.ndarray | None = None  # the running episodes' observations, from a checkpoint
        self._saved_episodes: tuple[Any, Any] = (None, None)  # (observations, returns) in the checkpoint's state

    # -- the trainer's hooks ---------------------------------------------------------------------
    def model_config(self) -> QNetConfig:
        return replace(self.cfg.model, obs_shape=self.spec.obs_shape, n_actions=self.spec.n_actions)

    def build_optimizers(self, model: nn.Module) -> dict[str, torch.optim.Optimizer]:
        return {"model": build_optimizer(self.cfg.optim, model.online.parameters())}  # type: ignore[union-attr]

    def attach(self, model: nn.Module, device: torch.device) -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            raise UserError("dqn trains in one process (its environment loop is sequential); run it without torchrun")
        self.model, self.device = model, device  # type: ignore[assignment]
        if self._resumed_obs is not None:  # the environments and their episodes came back from the checkpoint
            self.obs = self._resumed_obs
        else:
            self.obs, _ = self.envs.reset(seed=self.cfg.seed * 100_003 + self.episodes)
            self.ep_return[:] = 0
        n = self.cfg.n_envs
        if self.env_steps < self.cfg.learning_starts:  # a fresh run: fill replay before the first update
            self.collect(math.ceil((self.cfg.learning_starts - self.env_steps) / n))
        elif len(self.buffer) == 0:  # resumed without a saved buffer: refill it
            self.collect(math.ceil(self.cfg.learning_starts / n))

    def before_step(self, step: int) -> None:
        """Act when a round of updates begins (`--train-freq` environment steps, stored in replay), and
        copy the online network to the target when due: once per optimizer step, before its batches."""
        assert self.model is not None, "attach() was not called"
        if step % self.cfg.gradient_steps == 0:
            self.collect(self.cfg.train_freq)
        if step % self.cfg.target_update == 0:
            self.model.sync_target()

    def batch(self, step: int, shard: Shard) -> Any:
        """A micro-batch sampled from replay."""
        return self.buffer.sample(shard.size(self.cfg.batch_size), self.gen)

    def loss(self, model: nn.Module, batch: Any, phase: str) -> tuple[torch.Tensor, dict[str, float]]:
        obs, actions, rewards, next_obs, terminated = batch
        q = model(obs).gather(1, actions[:, None]).squeeze(1)  # (B, n_actions) -> (B,)
        with torch.no_grad():
            bootstrap = self.model.online if self.cfg.no_target else self.model.target  # type: ignore[union-attr]
            q_next = bootstrap(next_obs).max(dim=1).values  # (B,)
            target = rewards + self.cfg.gamma * (1.0 - terminated) * q_next
        loss = F.smooth_l1_loss(q, target)  # Huber with delta 1: the paper's error clipping
        recent = self.returns[-20:]
        metrics = {"q": q.detach().mean(), "epsilon": self.epsilon(), "env_steps": float(self.env_steps)}
        if recent:
            metrics["episode_return"] = float(np.mean(recent))
        return loss, metrics

    def progress(self, step: int) -> tuple[int, int, str]:
        """Environment steps, the budget a DQN run is set by (`--env-steps`)."""
        return self.env_steps, self.cfg.env_steps, "env_steps"

    def test_metrics(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """The evaluation episodes' returns, without the step counter (a fresh task's, not the run's), and
        beside them a random policy's over as many episodes from the same starts: what learning adds."""
        out = {k: v for k, v in self.evaluate(model, device).items() if k != "env_steps"}
        random = play(model, self.cfg.env, self.cfg.eval_episodes, 1.0, seed=10**6 + self.cfg.seed * 1000,
                      device=device, **self.env_kw)
        return out | {"random_return": float(np.mean(random))}

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        returns = play(model, self.cfg.env, self.cfg.eval_episodes, self.cfg.eval_epsilon,
                       seed=10**6 + self.cfg.seed * 1000 + self.env_steps // 1000, device=device, **self.env_kw)
        return {"eval_return": float(np.mean(returns)), "eval_return_std": float(np.std(returns)),
                "env_steps": float(self.env_steps)}

    def state_dict(self) -> dict[str, Any]:
        state = {"env_steps": self.env_steps, "episodes": self.episodes, "returns": list(self.returns),
                 "gen": self.gen.get_state(), "ep_return": self.ep_return.tolist()}
        if self.obs is not None:
            state["obs"] = torch.from_numpy(np.ascontiguousarray(self.obs))
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.env_steps, self.episodes = int(state["env_steps"]), int(state["episodes"])
            self.returns = [float(r) for r in state["returns"]]
            self.gen.set_state(state["gen"])
            self._saved_episodes = (state.get("obs"), state.get("ep_return"))

    def save_files(self, folder: Path) -> None:
        if self.cfg.save_replay:
            self.buffer.save(folder / "replay.npz")
            try:
                blob = pickle.dumps(self.envs.envs)
            except (TypeError, AttributeError, pickle.PicklingError):
                return  # Atari's emulator: its episodes restart on resume
            (folder / "envs.pkl").write_bytes(blob)

    def load_files(self, folder: Path) -> None:
        path = folder / "replay.npz"
        if not path.exists():
            return
        try:
            self.buffer.load(path)
        except (ValueError, OSError, KeyError) as e:
            raise UserError(f"cannot resume: the replay buffer in {folder} does not fit this run ({e})") from None
        obs, ep_return = self._saved_episodes
        envs = folder / "envs.pkl"
        if envs.exists() and obs is not None and ep_return is not None:
            restored = rl.load_envs(envs, self.cfg.env)
            if len(restored) == self.cfg.n_envs and tuple(obs.shape[1:]) == tuple(self.spec.obs_shape):
                self.envs.envs = restored
                self._resumed_obs, self.ep_return = obs.numpy().copy(), np.asarray(ep_return, dtype=float)
                return
        self.buffer.cut_episodes()  # the running episodes are not restored: no transition spans the cut

    # -- acting ------------------------------------------------------------------------------------
    def epsilon(self) -> float:
        c = self.cfg
        frac = min(1.0, self.env_steps / max(1, c.exploration_steps))
        return c.eps_start + frac * (c.eps_end - c.eps_start)

    def collect(self, n: int) -> None:
        """Act epsilon-greedily for `n` steps of every environment, writing each step to replay."""
        assert self.model is not None and self.obs is not None
        for _ in range(n):
            actions = self._actions(self.obs, self.epsilon())
            next_obs, rewards, terminated, truncated, info = self.envs.step(actions)
            done = terminated | truncated
            stored = np.sign(rewards) if self.cfg.clip_rewards else rewards
            self.buffer.add(self.obs, actions, stored, terminated, truncated, rl.final_observations(info, done))
            self.ep_return += rewards
            for e in np.flatnonzero(done):
                self.returns.append(float(self.ep_return[e]))
                self.ep_return[e] = 0.0
                self.episodes += 1
            self.obs = next_obs
            self.env_steps += self.cfg.n_envs

    def _actions(self, obs: np.ndarray, eps: float) -> np.ndarray:
        n = len(obs)
        explore = torch.rand(n, generator=self.gen).numpy() < eps
        random_a = torch.randint(0, self.spec.n_actions, (n,), generator=self.gen).numpy()
        if explore.all():
            return random_a
        greedy = self.model.act(torch.as_tensor(obs, device=self.device)).cpu().numpy()  # type: ignore[union-attr]
        return np.where(explore, random_a, greedy)


def play(model: nn.Module, env_id: str, episodes: int, epsilon: float, seed: int, device: torch.device,
         frames: list | None = None, **env_kw: Any) -> list[float]:
    """Returns of `episodes` episodes of the epsilon-greedy policy, played side by side (one
    batched forward pass per step for all episodes still running). Episode i starts from
    `reset(seed=seed + i)`; rgb frames of episode 0 are appended to `frames` when given."""
    drawn = rl.is_minatar(env_id)  # MinAtar's own drawing needs seaborn: its frames are coloured here
    envs = [rl.make_env(env_id, render_mode="rgb_array" if frames is not None and i == 0 and not drawn else None,
                        **env_kw) for i in range(episodes)]
    gen = np.random.default_rng(seed)
    obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
    returns = [0.0] * episodes
    running = list(range(episodes))
    was_training = model.training
    model.eval()
    try:
        while running:
            if frames is not None and running[0] == 0:
                frames.append(rl.minatar_frame(obs[0]) if drawn else envs[0].render())
            with torch.no_grad():
                x = torch.as_tensor(np.stack([obs[i] for i in running]), device=device)
                greedy = model(x).argmax(1).cpu().numpy()  # (running,)
            still = []
            for j, i in enumerate(running):
                a = int(gen.integers(envs[i].action_space.n)) if gen.random() < epsilon else int(greedy[j])
                obs[i], r, term, trunc, _ = envs[i].step(a)
                returns[i] += float(r)
                if not (term or trunc):
                    still.append(i)
            running = still
    finally:
        for env in envs:
            env.close()
        model.train(was_training)
    return returns


TASK = DQNTask

