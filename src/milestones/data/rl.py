"""Environments for the reinforcement-learning milestone, through gymnasium, with no download.

Classic control (CartPole-v1, Acrobot-v1, MountainCar-v0, ...) ships with gymnasium; the Atari
games ship inside the ale-py wheel, ROMs included. Atari follows Mnih et al. 2015 (Methods,
"Preprocessing"): the emulator runs with frameskip 1 and gymnasium's AtariPreprocessing repeats
each action 4 times, max-pools the last two frames, converts to grey and resizes to 84x84;
FrameStackObservation stacks the last 4 processed frames; up to 30 no-op actions start each
episode. Rewards are clipped to their sign by the DQN task, not here, so episode returns
reported are the game's scores.

Several environments step side by side in an `EnvLoop`, with gymnasium's SAME_STEP autoreset: the
step that ends an episode returns the next episode's first observation and, in info["final_obs"],
the last observation of the episode that ended (needed to bootstrap an episode cut by a time limit).
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from ..errors import UserError

_ALE_REGISTERED = False


def _register_ale() -> None:
    global _ALE_REGISTERED
    if not _ALE_REGISTERED:
        try:
            import ale_py
        except ImportError as e:  # pragma: no cover - ale-py is a dependency
            raise UserError("Atari needs the ale-py package: pip install ale-py") from e
        gym.register_envs(ale_py)
        _ALE_REGISTERED = True


def is_atari(env_id: str) -> bool:
    return env_id.startswith("ALE/") or "NoFrameskip" in env_id


MINATAR_GAMES = ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")
MINATAR_PIP = "pip install --no-deps MinAtar==1.0.15"  # its declared pandas, scipy, seaborn only draw
_MINATAR_REGISTERED = False


def is_minatar(env_id: str) -> bool:
    return env_id.startswith("MinAtar/")


def _register_minatar(env_id: str) -> None:
    """MinAtar's five games (Young & Tian 2019) as gymnasium ids, from the `minatar` package (GPL,
    an optional install), or one line naming the pip command; an unknown game lists the five."""
    global _MINATAR_REGISTERED
    game = env_id.removeprefix("MinAtar/").rsplit("-v", 1)
    if game[0] not in MINATAR_GAMES or len(game) != 2 or game[1] not in ("0", "1"):
        raise UserError(f"no MinAtar game {env_id!r}; the five are "
                        f"{', '.join(f'MinAtar/{g}-v1' for g in MINATAR_GAMES)} (-v0: all 6 actions)")
    if _MINATAR_REGISTERED:
        return
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its gym module warns that rendering needs seaborn; we draw frames ourselves
    try:
        from minatar import gym as minatar_gym
    except ImportError:
        raise UserError(f"{env_id} needs the minatar package (GPL-3.0, optional): {MINATAR_PIP} "
                        "(make install brings it)") from None
    finally:
        root.setLevel(level)
    minatar_gym.register_envs()
    _MINATAR_REGISTERED = True


def minatar_frame(obs: np.ndarray, scale: int = 16) -> np.ndarray:
    """A MinAtar observation (H, W, C booleans, one channel per kind of object) as an RGB image: each
    channel in its own colour (the last channel set wins where several are), black elsewhere, each
    cell `scale` pixels wide. (H*scale, W*scale, 3) uint8."""
    channels = obs.shape[-1]
    hues = np.linspace(0, 1, channels, endpoint=False)
    palette = np.zeros((channels + 1, 3), dtype=np.uint8)  # 0: black
    for k, h in enumerate(hues):  # evenly spaced, bright hues
        rgb = np.clip(np.abs(((h * 6 + np.array([0, 4, 2])) % 6) - 3) - 1, 0, 1)
        palette[k + 1] = (60 + 195 * rgb).astype(np.uint8)
    index = np.max(obs.astype(np.int64) * np.arange(1, channels + 1), axis=-1)  # (H, W): 0 or channel + 1
    return np.kron(palette[index], np.ones((scale, scale, 1), dtype=np.uint8))


@dataclass(frozen=True)
class EnvSpec:
    env_id: str
    obs_shape: tuple[int, ...]
    obs_dtype: np.dtype
    n_actions: int
    atari: bool
    frame_stack: int  # 1 for vector observations


def make_env(env_id: str, render_mode: str | None = None, frame_stack: int = 4,
             sticky_actions: float = 0.0, max_episode_steps: int | None = None) -> gym.Env:
    """One environment, Atari-preprocessed where the id is an Atari game. Errors are UserErrors."""
    atari = is_atari(env_id)
    if atari:
        _register_ale()
    if is_minatar(env_id):
        _register_minatar(env_id)
    if render_mode is not None:  # classic control draws with pygame: no window, no audio device
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    kwargs: dict[str, Any] = {}
    if atari:
        # The paper's 2015 setting has no sticky actions; gymnasium's v5 default is 0.25.
        kwargs = dict(frameskip=1, repeat_action_probability=sticky_actions)
    if max_episode_steps:
        kwargs["max_episode_steps"] = max_episode_steps
    try:
        env = gym.make(env_id, render_mode=render_mode, **kwargs)
    except gym.error.Error as e:
        hint = ("classic control: CartPole-v1, Acrobot-v1, MountainCar-v0; Atari: ALE/Pong-v5, ALE/Breakout-v5; "
                "MinAtar: MinAtar/Breakout-v1")
        raise UserError(f"cannot make environment {env_id!r} ({e}); known ids include {hint}") from None
    except ImportError as e:
        raise UserError(f"environment {env_id!r} needs a package that is missing: {e}") from None
    if not isinstance(env.action_space, gym.spaces.Discrete):
        env.close()
        raise UserError(f"{env_id} has a {type(env.action_space).__name__} action space; DQN needs a "
                        "discrete one (one Q-value per action)")
    if atari:
        env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84,
                                              terminal_on_life_loss=False, grayscale_obs=True)
        env = gym.wrappers.FrameStackObservation(env, frame_stack, padding_type="reset")
    space = env.observation_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) not in (1, 3):
        env.close()
        raise UserError(f"{env_id} has observations {space}; supported are vectors, (frames, H, W) images and "
                        "MinAtar's (10, 10, channels) frames")
    return env


def describe(env: gym.Env, env_id: str, frame_stack: int) -> EnvSpec:
    space = env.observation_space
    atari = is_atari(env_id)
    return EnvSpec(env_id, tuple(space.shape), np.dtype(space.dtype), int(env.action_space.n), atari,
                   frame_stack if atari else 1)


class EnvLoop:
    """`envs` stepped in turn in this process, an episode that ends reset in the same step: what
    gymnasium's SyncVectorEnv does with SAME_STEP autoreset (the same observations, rewards and
    seeds: environment i of `reset(seed=s)` gets seed s + i), without its per-step bookkeeping,
    which cost three times a MinAtar step."""

    def __init__(self, envs: list[gym.Env]):
        self.envs = envs

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        obs = [env.reset(seed=None if seed is None else seed + i)[0] for i, env in enumerate(self.envs)]
        return np.stack(obs), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        n = len(self.envs)
        obs: list[np.ndarray] = []
        rewards, terminated, truncated = np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        finals: np.ndarray | None = None
        for i, (env, action) in enumerate(zip(self.envs, actions, strict=True)):
            o, rewards[i], terminated[i], truncated[i], _ = env.step(action)
            if terminated[i] or truncated[i]:
                if finals is None:
                    finals = np.full(n, None, dtype=object)
                finals[i] = o
                o, _ = env.reset()
            obs.append(o)
        return np.stack(obs), rewards, terminated, truncated, ({} if finals is None else {"final_obs": finals})

    def close(self) -> None:
        for env in self.envs:
            env.close()


def make_vec(env_id: str, n_envs: int, **kwargs: Any) -> tuple[EnvLoop, EnvSpec]:
    """`n_envs` copies stepped in this process, with SAME_STEP autoreset (see the module docstring)."""
    probe = make_env(env_id, **kwargs)  # validates the id before the vector env is built
    spec = describe(probe, env_id, kwargs.get("frame_stack", 4))
    probe.close()
    return EnvLoop([make_env(env_id, **kwargs) for _ in range(n_envs)]), spec


class _EnvUnpickler(pickle.Unpickler):
    """Reads back what `pickle.dumps(vec.envs)` wrote of classic-control or MinAtar environments, and
    nothing else: environment, wrapper and space classes of gymnasium and minatar, numpy's arrays and
    random generators. Any other callable a file names (one that could act while loading) is refused."""

    NUMPY = {("numpy", "dtype"), ("numpy", "ndarray"), ("numpy._core.multiarray", "_reconstruct"),
             ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "_reconstruct"),
             ("numpy.core.multiarray", "scalar"), ("numpy.random._pickle", "__bit_generator_ctor"),
             ("numpy.random._pickle", "__generator_ctor"), ("numpy.random._pickle", "__randomstate_ctor"),
             ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
             ("numpy.random.bit_generator", "SeedSequence"), ("numpy.random._pcg64", "PCG64"),
             ("numpy.random._mt19937", "MT19937")}
    CLASSES_FROM = ("gymnasium.envs.", "gymnasium.spaces.", "gymnasium.wrappers.common", "minatar.")

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.NUMPY:
            return super().find_class(module, name)
        if module.startswith(self.CLASSES_FROM):
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not part of an environment's state")


def load_envs(path: Path, env_id: str) -> list[gym.Env]:
    """The environments a checkpoint saved (`envs.pkl`), their episodes where they were. Errors
    are UserErrors."""
    if is_minatar(env_id):
        _register_minatar(env_id)
    try:
        with open(path, "rb") as f:
            envs = _EnvUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, OSError, AttributeError, ImportError, ValueError) as e:
        raise UserError(f"cannot resume: {path} does not hold this run's environments ({e})") from None
    if not isinstance(envs, list) or not all(isinstance(e, gym.Env) for e in envs):
        raise UserError(f"cannot resume: {path} does not hold a list of environments")
    return envs


def final_observations(info: dict[str, Any], done: np.ndarray) -> list[np.ndarray | None]:
    """The last observation of each environment whose episode ended this step (None elsewhere)."""
    finals = info.get("final_obs")
    return [finals[e] if done[e] else None for e in range(len(done))] if finals is not None \
        else [None] * len(done)
