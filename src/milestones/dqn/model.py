"""The Q-networks of DQN, and the online/target pair the algorithm trains.

Mnih et al., "Human-level control through deep reinforcement learning", Nature 518, 2015
(Methods, "Model architecture"); first in "Playing Atari with Deep RL", arXiv:1312.5602.
  NatureCNN  84x84x4 input; conv 32 8x8 stride 4, conv 64 4x4 stride 2, conv 64 3x3 stride 1,
             each followed by a ReLU; a 512-unit fully connected ReLU layer; one linear output
             per action. One forward pass gives the Q-values of every action (the paper's choice
             over feeding the action in), so acting greedily costs one pass.
  QMLP       the same idea for vector observations (classic control): hidden ReLU layers.
  MinAtarCNN MinAtar's 10x10xC frames (Young & Tian 2019, "MinAtar: An Atari-inspired testbed for
             thorough and reproducible reinforcement learning experiments", §4 and its
             examples/dqn.py): conv 16 3x3 stride 1, ReLU, a 128-unit fully connected ReLU layer,
             one output per action. The Nature CNN's 8x8 stride-4 first layer does not fit 10x10.
  QAgent     the online network Q(s, a; theta) and the target network Q(s, a; theta^-), a
             periodically synced copy that gives the bootstrap targets (Methods, "Training
             algorithm": "every C updates we clone the network Q to obtain a target network").
Parity: tests/test_dqn.py loads stable-baselines3's NatureCNN and MlpPolicy Q-networks'
weights into ours and requires equal Q-values.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..core.config import FromData, Positive


@dataclass
class QNetConfig:
    hidden: tuple[Positive[int], ...] = (256, 256)
    """Hidden widths of the MLP Q-network (vector observations; images get the Nature CNN)."""
    obs_shape: FromData[tuple[int, ...]] = (4,)
    """(features,) for vector observations, (frames, H, W) for images (from the environment)."""
    n_actions: FromData[int] = 2
    """Actions (from the environment)."""


class QMLP(nn.Module):
    def __init__(self, n_in: int, n_actions: int, hidden: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(n_in, width), nn.ReLU()]
            n_in = width
        layers.append(nn.Linear(n_in, n_actions))
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs.float())  # (B, features) -> (B, n_actions)


class NatureCNN(nn.Module):
    def __init__(self, in_frames: int, n_actions: int, size: int = 84):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_frames, 32, 8, stride=4), nn.ReLU(),  # (B, 4, 84, 84) -> (B, 32, 20, 20)
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),  # -> (B, 64, 9, 9)
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),  # -> (B, 64, 7, 7)
            nn.Flatten(),  # -> (B, 3136)
        )
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, in_frames, size, size)).shape[1]
        self.head = nn.Sequential(nn.Linear(n_flat, 512), nn.ReLU(), nn.Linear(512, n_actions))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        # Frames are stored as uint8 (a quarter of the memory of float32); scale to [0, 1] here.
        x = obs.float() / 255.0  # (B, 4, 84, 84)
        return self.head(self.features(x))  # (B, n_actions)


class MinAtarCNN(nn.Module):
    def __init__(self, size: int, channels: int, n_actions: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 16, 3, stride=1), nn.ReLU(),  # (B, C, 10, 10) -> (B, 16, 8, 8)
            nn.Flatten(),  # -> (B, 1024)
        )
        self.head = nn.Sequential(nn.Linear(16 * (size - 2) ** 2, 128), nn.ReLU(), nn.Linear(128, n_actions))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.float().permute(0, 3, 1, 2)  # MinAtar's (B, 10, 10, C) booleans -> (B, C, 10, 10)
        return self.head(self.features(x))  # (B, n_actions)


def q_network(cfg: QNetConfig) -> nn.Module:
    shape = cfg.obs_shape
    if len(shape) == 1:
        return QMLP(shape[0], cfg.n_actions, cfg.hidden)
    if len(shape) == 3 and shape[1] == shape[2]:
        return NatureCNN(shape[0], cfg.n_actions, shape[1])
    if len(shape) == 3 and shape[0] == shape[1] and shape[2] < shape[0]:  # channels last: MinAtar
        return MinAtarCNN(shape[0], shape[2], cfg.n_actions)
    raise ValueError(f"no Q-network for observations of shape {shape}: "
                     "expected (features,), (frames, size, size) or MinAtar's (size, size, channels)")


class QAgent(nn.Module):
    """Online and target Q-networks. `forward` is the online network; the target has no grads."""

    def __init__(self, cfg: QNetConfig):
        super().__init__()
        self.cfg = cfg
        self.online = q_network(cfg)
        self.target = q_network(cfg)
        self.sync_target()
        self.target.requires_grad_(False)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.online(obs)  # (B, *obs_shape) -> (B, n_actions)

    @torch.no_grad()
    def sync_target(self) -> None:
        """theta^- <- theta (the paper's hard copy every C updates)."""
        self.target.load_state_dict(self.online.state_dict())

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Greedy actions for a batch of observations: argmax_a Q(s, a)."""
        return self.online(obs).argmax(dim=1)  # (B,)
