"""Uniform experience replay that stores every observation once.

Mnih et al. 2015, Methods ("experience replay"): transitions (s, a, r, s') go into a memory of
the last N (1,000,000 in the paper) and updates use minibatches drawn from it uniformly,
which breaks the correlation between consecutive samples and reuses each one many times.

A naive buffer keeps s and s' for every transition, each a stack of four 84x84 frames:
56 KB per transition, 56 GB for the paper's million. Consecutive stacks share three of their
four frames, and s' of one transition is s of the next, so this buffer keeps only the newest
frame of each observation and rebuilds stacks on sampling: about 7 KB per transition.

Layout: one ring of slots per environment (vector environments step side by side). Slot t
holds observation o_t (its newest frame), the action taken from it, the reward, and whether
that step terminated the episode. When an episode ends, its final observation gets a slot of
its own marked `last` (it has no action); the next slot starts the new episode, marked `first`.
Transition t is (slot t, slot t+1). A stack of k frames for slot t is the newest frames of
slots t-k+1..t, repeating the episode's first frame where the stack would reach before the
episode began: exactly what gymnasium's FrameStackObservation(padding_type="reset") gives.
Episodes cut by a time limit (truncated, not terminated) bootstrap from their final
observation, which is why it is kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

_KEYS = ("frames", "actions", "rewards", "terminated", "first", "last", "ptr", "size", "starting")


class ReplayBuffer:
    def __init__(self, capacity: int, n_envs: int, obs_shape: tuple[int, ...], obs_dtype: np.dtype,
                 stack: int = 1):
        """`capacity` slots in all (split evenly over `n_envs`); `stack` > 1 means observations are
        (stack, H, W) frame stacks of which only the newest frame is stored."""
        if capacity // n_envs < stack + 2:
            raise ValueError(f"replay capacity {capacity} is too small for {n_envs} environments")
        self.n_envs, self.cap, self.stack = n_envs, capacity // n_envs, stack
        self.obs_shape = tuple(obs_shape)
        frame_shape = self.obs_shape[1:] if stack > 1 else self.obs_shape
        self.frames = np.zeros((n_envs, self.cap, *frame_shape), dtype=obs_dtype)
        self.actions = np.zeros((n_envs, self.cap), dtype=np.int32)
        self.rewards = np.zeros((n_envs, self.cap), dtype=np.float32)
        self.terminated = np.zeros((n_envs, self.cap), dtype=bool)
        self.first = np.zeros((n_envs, self.cap), dtype=bool)
        self.last = np.zeros((n_envs, self.cap), dtype=bool)
        self.ptr = np.zeros(n_envs, dtype=np.int64)  # next slot to write
        self.size = np.zeros(n_envs, dtype=np.int64)  # slots written (at most cap)
        self.starting = np.ones(n_envs, dtype=bool)  # the next slot written begins an episode

    # -- memory -------------------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        return sum(getattr(self, k).nbytes for k in _KEYS)

    @staticmethod
    def bytes_per_slot(obs_shape: tuple[int, ...], obs_dtype: np.dtype, stack: int = 1) -> int:
        frame = obs_shape[1:] if stack > 1 else obs_shape
        return int(np.prod(frame)) * np.dtype(obs_dtype).itemsize + 4 + 4 + 3  # action, reward, 3 flags

    def __len__(self) -> int:
        return int(self.size.sum())

    # -- writing ------------------------------------------------------------------------------
    def _frame(self, obs: np.ndarray) -> np.ndarray:
        return obs[-1] if self.stack > 1 else obs

    def _write(self, e: int, frame: np.ndarray, action: int, reward: float, terminated: bool,
               first: bool, last: bool) -> None:
        i = self.ptr[e]
        self.frames[e, i] = frame
        self.actions[e, i], self.rewards[e, i] = action, reward
        self.terminated[e, i], self.first[e, i], self.last[e, i] = terminated, first, last
        self.ptr[e] = (i + 1) % self.cap
        self.size[e] = min(self.size[e] + 1, self.cap)

    def add(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, terminated: np.ndarray,
            truncated: np.ndarray, final_obs: list | np.ndarray | None) -> None:
        """One step of every environment: obs (E, *obs_shape) is what the actions were taken from;
        for environments whose episode ended, final_obs[e] is its last observation."""
        for e in range(self.n_envs):
            self._write(e, self._frame(obs[e]), int(actions[e]), float(rewards[e]), bool(terminated[e]),
                        first=bool(self.starting[e]), last=False)
            self.starting[e] = False
            if terminated[e] or truncated[e]:
                assert final_obs is not None
                self._write(e, self._frame(final_obs[e]), 0, 0.0, False, first=False, last=True)
                self.starting[e] = True

    def cut_episodes(self) -> None:
        """End every episode in progress without a successor (after a resume, whose environments
        start fresh episodes): the newest slot becomes `last`, so no transition spans the cut."""
        for e in range(self.n_envs):
            if self.size[e] and not self.starting[e]:
                self.last[e, (self.ptr[e] - 1) % self.cap] = True
            self.starting[e] = True

    # -- sampling -----------------------------------------------------------------------------
    def _valid(self, e: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Slot i of env e starts a complete transition whose stacks are not overwritten."""
        full = self.size[e] == self.cap
        age = np.where(full, (i - self.ptr[e]) % self.cap, i)  # 0 = oldest slot still held
        ok = (age <= self.size[e] - 2) & ~self.last[e, i]  # slot i+1 exists; slot i has an action
        return ok & (~full | (age >= self.stack - 1))  # its stack does not reach overwritten slots

    def _stacks(self, e: np.ndarray, i: np.ndarray) -> np.ndarray:
        """(B, *obs_shape) observations of slots (e, i), rebuilt from newest frames."""
        if self.stack == 1:
            return self.frames[e, i]
        out = np.empty((len(i), *self.obs_shape), dtype=self.frames.dtype)
        pos = i.copy()
        out[:, -1] = self.frames[e, pos]
        for k in range(self.stack - 2, -1, -1):
            pos = np.where(self.first[e, pos], pos, (pos - 1) % self.cap)  # stop at the episode's start
            out[:, k] = self.frames[e, pos]
        return out

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """A uniform minibatch: (obs, actions, rewards, next_obs, terminated) as CPU tensors."""
        es, idx = [], []
        n, rounds = 0, 0
        while n < batch_size:  # rejection sampling; invalid slots (episode ends, the write head) are rare
            rounds += 1
            if rounds > 100 and n == 0:
                raise RuntimeError("the replay buffer holds no complete transition yet")
            e = torch.randint(0, self.n_envs, (2 * batch_size,), generator=generator).numpy()
            u = torch.rand(2 * batch_size, generator=generator, dtype=torch.float64).numpy()
            i = (u * np.maximum(self.size[e], 1)).astype(np.int64)
            i = np.where(self.size[e] == self.cap, (self.ptr[e] + i) % self.cap, i)  # oldest-first order
            keep = self._valid(e, i)
            es.append(e[keep])
            idx.append(i[keep])
            n += int(keep.sum())
        e, i = np.concatenate(es)[:batch_size], np.concatenate(idx)[:batch_size]
        nxt = (i + 1) % self.cap
        return (torch.from_numpy(self._stacks(e, i)), torch.from_numpy(self.actions[e, i].astype(np.int64)),
                torch.from_numpy(self.rewards[e, i]), torch.from_numpy(self._stacks(e, nxt)),
                torch.from_numpy(self.terminated[e, i].astype(np.float32)))

    # -- persistence (plain .npz, read back without pickle) -----------------------------------------
    def save(self, path: Path) -> None:
        np.savez(path, **{k: getattr(self, k) for k in _KEYS})

    def load(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as z:
            for k in _KEYS:
                if z[k].shape != getattr(self, k).shape or z[k].dtype != getattr(self, k).dtype:
                    raise ValueError(f"{path}: {k} is {z[k].dtype}{z[k].shape}, this run needs "
                                     f"{getattr(self, k).dtype}{getattr(self, k).shape}")
                setattr(self, k, z[k].copy())
