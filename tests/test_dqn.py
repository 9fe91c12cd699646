"""DQN: Q-network parity with stable-baselines3, the frame-sharing replay buffer, environments
(classic control and Atari), resume, and the sample verb."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from milestones import registry
from milestones.core.trainer import train
from milestones.data import rl
from milestones.dqn.model import QMLP, NatureCNN, QAgent, QNetConfig
from milestones.dqn.replay import ReplayBuffer
from milestones.dqn.task import play
from milestones.errors import UserError

from conftest import cli, tiny_claims


def tiny(**over):
    m = registry.get("dqn")
    return m, m.config("tiny", {"tensorboard": False, **over})


# -- parity ---------------------------------------------------------------------------------------

def test_mlp_q_network_matches_stable_baselines3():
    import gymnasium as gym
    from stable_baselines3.common.torch_layers import FlattenExtractor
    from stable_baselines3.dqn.policies import QNetwork

    obs_space = gym.spaces.Box(-1, 1, (4,), np.float32)
    torch.manual_seed(0)
    ref = QNetwork(obs_space, gym.spaces.Discrete(2), FlattenExtractor(obs_space), features_dim=4,
                   net_arch=[256, 256])
    ours = QMLP(4, 2, (256, 256))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    ours.load_state_dict({k.replace("q_net.", "net."): v for k, v in ref.state_dict().items()})
    x = torch.randn(16, 4)
    assert torch.allclose(ours(x), ref(x), atol=1e-6)


def test_nature_cnn_matches_stable_baselines3():
    import gymnasium as gym
    from stable_baselines3.common.torch_layers import NatureCNN as RefCNN
    from stable_baselines3.dqn.policies import QNetwork

    obs_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    torch.manual_seed(0)
    extractor = RefCNN(obs_space, features_dim=512)
    ref = QNetwork(obs_space, gym.spaces.Discrete(6), extractor, features_dim=512, net_arch=[])
    ours = NatureCNN(4, 6)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters()) == 1_687_206
    ref_sd = ref.state_dict()
    mapping = {"features.0": "features_extractor.cnn.0", "features.2": "features_extractor.cnn.2",
               "features.4": "features_extractor.cnn.4", "head.0": "features_extractor.linear.0",
               "head.2": "q_net.0"}
    ours.load_state_dict({k: ref_sd[mapping[k.rsplit(".", 1)[0]] + "." + k.rsplit(".", 1)[1]]
                          for k in ours.state_dict()})
    x = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    assert torch.allclose(ours(x), ref(x.float()), atol=1e-5)  # both scale pixels by 1/255 inside


def test_target_network_is_a_frozen_copy_until_synced():
    agent = QAgent(QNetConfig(hidden=(8,), obs_shape=(4,), n_actions=2))
    assert all(not p.requires_grad for p in agent.target.parameters())
    x = torch.randn(5, 4)
    assert torch.equal(agent.online(x), agent.target(x))
    with torch.no_grad():
        agent.online.net[0].weight.add_(1.0)
    assert not torch.equal(agent.online(x), agent.target(x))
    agent.sync_target()
    assert torch.equal(agent.online(x), agent.target(x))


# -- replay buffer --------------------------------------------------------------------------------

def _stream(buf, n_steps, episode_len, n_envs, stack, truncate=False, seed=0):
    """Feed the buffer a synthetic stream whose frames carry (env, episode, t) ids; return the
    stacked observations an env with FrameStackObservation(padding 'reset') would have given."""
    rng = np.random.default_rng(seed)
    frame = lambda e, ep, t: np.full((2, 2), e * 10_000 + ep * 100 + t, dtype=np.int64)  # noqa: E731

    def stacked(e, ep, t):
        return np.stack([frame(e, ep, max(0, s)) for s in range(t - stack + 1, t + 1)])

    ep = np.zeros(n_envs, dtype=int)
    t = np.zeros(n_envs, dtype=int)
    lens = [episode_len + e for e in range(n_envs)]
    seen = []
    for _ in range(n_steps):
        obs = np.stack([stacked(e, ep[e], t[e]) for e in range(n_envs)])
        actions = rng.integers(0, 3, n_envs)
        rewards = rng.normal(size=n_envs).astype(np.float32)
        ends = np.array([t[e] + 1 == lens[e] for e in range(n_envs)])
        term = ends & (not truncate)
        trunc = ends & truncate
        finals = [stacked(e, ep[e], t[e] + 1) if ends[e] else None for e in range(n_envs)]
        buf.add(obs, actions, rewards, term, trunc, finals)
        for e in range(n_envs):
            seen.append((obs[e], int(actions[e]), float(rewards[e]),
                         finals[e] if ends[e] else stacked(e, ep[e], t[e] + 1), bool(term[e])))
            if ends[e]:
                ep[e] += 1
                t[e] = 0
            else:
                t[e] += 1
    return seen


@pytest.mark.parametrize("truncate", [False, True])
def test_replay_rebuilds_every_transition_exactly(truncate):
    """Every sampled transition is one the environment produced, frame stacks and episode ends
    included, also after the ring has wrapped around several times."""
    stack, n_envs = 4, 2
    buf = ReplayBuffer(60, n_envs, (stack, 2, 2), np.int64, stack)
    seen = _stream(buf, 200, episode_len=7, n_envs=n_envs, stack=stack, truncate=truncate)
    index = {(o.tobytes(), a, r): (n, term) for o, a, r, n, term in seen}
    obs, actions, rewards, next_obs, terminated = buf.sample(500, torch.Generator().manual_seed(0))
    for k in range(500):
        key = (obs[k].numpy().tobytes(), int(actions[k]), float(rewards[k]))
        assert key in index, "sampled an observation the environment never produced"
        nxt, term = index[key]
        assert np.array_equal(next_obs[k].numpy(), nxt)
        assert bool(terminated[k]) == term
    ids = obs[:, -1, 0, 0].numpy()
    assert len(set(ids.tolist())) > 40  # spread over the buffer, not one corner of it


def test_replay_cut_episodes_stops_transitions_across_a_resume():
    buf = ReplayBuffer(40, 1, (3,), np.float32)
    for t in range(5):
        buf.add(np.full((1, 3), t, np.float32), np.zeros(1), np.ones(1), np.zeros(1, bool), np.zeros(1, bool), None)
    buf.cut_episodes()
    buf.add(np.full((1, 3), 100, np.float32), np.zeros(1), np.ones(1), np.zeros(1, bool), np.zeros(1, bool), None)
    buf.add(np.full((1, 3), 101, np.float32), np.zeros(1), np.ones(1), np.zeros(1, bool), np.zeros(1, bool), None)
    obs, _, _, nxt, _ = buf.sample(300, torch.Generator().manual_seed(0))
    pairs = {(int(o[0]), int(n[0])) for o, n in zip(obs, nxt)}
    assert pairs == {(0, 1), (1, 2), (2, 3), (3, 4), (100, 101)}  # never (4, 100): 4 ended at the cut


def test_replay_save_and_load_round_trip(tmp_path):
    buf = ReplayBuffer(50, 2, (4, 2, 2), np.int64, 4)
    _stream(buf, 40, episode_len=6, n_envs=2, stack=4)
    buf.save(tmp_path / "replay.npz")
    other = ReplayBuffer(50, 2, (4, 2, 2), np.int64, 4)
    other.load(tmp_path / "replay.npz")
    a = buf.sample(64, torch.Generator().manual_seed(3))
    b = other.sample(64, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    with pytest.raises(ValueError):
        ReplayBuffer(60, 2, (4, 2, 2), np.int64, 4).load(tmp_path / "replay.npz")


def test_atari_replay_fits_a_million_transitions_in_8_gb():
    per = ReplayBuffer.bytes_per_slot((4, 84, 84), np.uint8, 4)
    assert per * 1_000_000 < 8e9
    buf = ReplayBuffer(1000, 1, (4, 84, 84), np.uint8, 4)
    assert buf.nbytes / 1000 == pytest.approx(per, rel=0.01)


# -- environments ---------------------------------------------------------------------------------

def test_bad_environments_get_one_clear_error():
    with pytest.raises(UserError, match="discrete"):
        rl.make_env("Pendulum-v1")
    with pytest.raises(UserError, match="cannot make environment"):
        rl.make_env("NoSuchGame-v9")


def test_atari_pong_end_to_end_few_hundred_steps(tmp_path):
    """Preprocessing shapes, frame stacking, reward clipping and buffer memory on ALE/Pong-v5."""
    m, cfg = tiny(env="ALE/Pong-v5", env_steps=400, learning_starts=200, train_freq=100, gradient_steps=2,
                  buffer_size=1000, batch_size=8, eval_interval=0, eval_episodes=1, clip_rewards=True)
    task = m.make_task(cfg)
    assert task.spec.obs_shape == (4, 84, 84) and task.spec.obs_dtype == np.uint8 and task.spec.n_actions == 6
    task.evaluate = lambda model, device: {}  # a full Pong episode is thousands of frames
    result = train(task, None, verbose=False)
    assert task.env_steps == 400 and result.step == 4
    assert set(np.unique(task.buffer.rewards).tolist()) <= {-1.0, 0.0, 1.0}
    obs, actions, rewards, next_obs, term = task.buffer.sample(8, torch.Generator().manual_seed(0))
    assert obs.shape == (8, 4, 84, 84) and obs.dtype == torch.uint8
    # consecutive observations share three frames: the stack shifts by one
    assert torch.equal(next_obs[:, :3], obs[:, 1:]) or bool(term.any())
    assert task.buffer.nbytes / (task.buffer.cap * task.buffer.n_envs) < 7100


# -- training, resume, sample ---------------------------------------------------------------------

def test_dqn_learns_cartpole_beyond_random_quickly():
    """Smoke test of the whole algorithm: a short run balances the pole far longer than chance."""
    m, cfg = tiny(env_steps=6000, learning_starts=500, train_freq=100, gradient_steps=50, target_update=50,
                  exploration_steps=2000, hidden=(64, 64), batch_size=64, lr=2.3e-3, eval_interval=0,
                  eval_episodes=5)
    result = train(m.make_task(cfg), None, verbose=False)
    random_returns = play(result.model, "CartPole-v1", 5, epsilon=1.0, seed=0, device=torch.device("cpu"))
    assert np.mean(random_returns) < 40
    assert result.final_eval["eval_return"] > 3 * np.mean(random_returns), result.final_eval


def test_resume_restores_counters_and_replay(tmp_path):
    m, cfg = tiny(save_replay=True)
    _, half = tiny(save_replay=True, env_steps=700)  # 50 of the 100 updates
    assert (half.steps, cfg.steps) == (50, 100)
    first = m.make_task(half)
    train(first, tmp_path / "run", verbose=False)
    resumed = m.make_task(cfg)
    result = train(resumed, tmp_path / "run", resume=True, verbose=False)
    assert result.step == cfg.steps
    assert first.env_steps < cfg.env_steps and resumed.env_steps == cfg.env_steps  # counters went on
    assert resumed.episodes > first.episodes
    assert len(resumed.buffer) >= len(first.buffer)


def _train_losses(run: Path) -> list[float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows if r.get("split") == "train"]


@pytest.mark.parametrize("env", ["CartPole-v1", "MinAtar/Breakout-v1"])
def test_a_stopped_run_resumes_exactly(tmp_path, env):
    """Stopped half-way and resumed, a run with its replay saved (the small and tiny presets') is the
    uninterrupted run bit for bit: the environments and their running episodes come back with the
    replay, the networks, the optimizer and the random streams."""
    m, cfg = tiny(env=env, log_every=1, eval_interval=0)
    _, half = tiny(env=env, log_every=1, eval_interval=0, env_steps=700)
    assert cfg.save_replay and half.steps == 50
    whole = train(m.make_task(cfg), tmp_path / "whole", verbose=False)
    first = m.make_task(half)
    train(first, tmp_path / "run", verbose=False)
    assert (tmp_path / "run" / "ckpt" / "step_0000050" / "envs.pkl").exists()
    resumed = m.make_task(cfg)
    result = train(resumed, tmp_path / "run", resume=True, verbose=False)
    assert result.step == whole.step == cfg.steps
    assert _train_losses(tmp_path / "run") == _train_losses(tmp_path / "whole")
    ours = {k: v for k, v in result.final_eval.items() if k != "time"}
    assert ours == {k: v for k, v in whole.final_eval.items() if k != "time"}


@pytest.mark.parametrize("env_id", ["CartPole-v1", "MinAtar/Breakout-v1"])
def test_the_env_loop_steps_as_gymnasiums_sync_vector_env(env_id):
    """rl.EnvLoop is SyncVectorEnv with SAME_STEP autoreset, step for step: observations, rewards,
    ends and the ended episodes' last observations, from the same seeds."""
    import gymnasium as gym

    ours, _ = rl.make_vec(env_id, 3)
    theirs = gym.vector.SyncVectorEnv([lambda: rl.make_env(env_id) for _ in range(3)],
                                      autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    a, b = ours.reset(seed=7)[0], theirs.reset(seed=7)[0]
    assert a.dtype == b.dtype and np.array_equal(a, b)
    rng, ended = np.random.default_rng(0), 0
    for _ in range(400):
        actions = rng.integers(0, 2, size=3)
        x, y = ours.step(actions), theirs.step(actions)
        for p, q in zip(x[:4], y[:4]):
            assert p.dtype == q.dtype and np.array_equal(p, q)
        done = x[2] | x[3]
        ended += int(done.sum())
        for f, g in zip(rl.final_observations(x[4], done), rl.final_observations(y[4], done)):
            assert (f is None and g is None) or np.array_equal(f, g)
    assert ended > 3


def test_saved_environments_read_back_nothing_but_environments(tmp_path):
    """envs.pkl is read with a restricted unpickler: a file that names any other callable is one line."""
    import pickle

    bad = tmp_path / "envs.pkl"
    bad.write_bytes(pickle.dumps([print]))
    with pytest.raises(UserError, match="does not hold this run's environments"):
        rl.load_envs(bad, "CartPole-v1")
    bad.write_bytes(pickle.dumps({"not": "a list of environments"}))
    with pytest.raises(UserError, match="does not hold a list of environments"):
        rl.load_envs(bad, "CartPole-v1")


def test_cli_train_then_sample_writes_a_gif(tmp_path, capsys):
    run = tmp_path / "run"
    code, _, err = cli(capsys, "train", "dqn", "--preset", "tiny", "--out", run)
    assert code == 0, err
    code, out, err = cli(capsys, "sample", "dqn", "--run", run, "--count", "2")
    assert code == 0, err
    assert "episode 2: return" in out
    gif = run / "samples" / "episode.gif"
    assert gif.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    code, _, err = cli(capsys, "sample", "dqn", "--run", tmp_path / "nothing")
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err


def test_dqn_rejects_distributed_runs(monkeypatch):
    m, cfg = tiny()
    task = m.make_task(cfg)
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    with pytest.raises(UserError, match="one process"):
        task.attach(task.build_model(), torch.device("cpu"))


def test_acting_before_attach_is_a_clear_error():
    """The trainer calls before_step (act, store, sync the target) once per optimizer step, then batch
    (sample replay) per micro-batch; acting needs the model attached."""
    m, cfg = tiny()
    with pytest.raises(AssertionError, match="attach"):
        m.make_task(cfg).before_step(0)


def test_the_update_count_follows_from_the_environment_steps(capsys):
    m, cfg = tiny()
    assert cfg.steps == (1200 - 200) // 100 * 10 and cfg.eval_every == 500 // 100 * 10
    code, _, err = cli(capsys, "train", "dqn", "--steps", "100")
    assert code == 2 and "--steps is computed, not set" in err and "--env-steps" in err


def test_claims_protocol_at_the_tiny_preset(tmp_path):
    pixels, learns, ablation = tiny_claims("dqn", tmp_path)
    assert len(ablation.runs) == 3 and set(learns.runs) < set(ablation.runs)  # the full run is shared
    assert len(pixels.runs) == 1 and "--env MinAtar/Breakout-v1" in pixels.runs[0]
    assert pixels.measurements["random_return"] > 0 and "5x" in pixels.ours  # the random policy beside it


def test_each_classic_control_task_gets_its_tuned_settings():
    m = registry.get("dqn")
    cartpole, acrobot = m.config("small"), m.config("small", {"env": "Acrobot-v1"})
    car = m.config("small", {"env": "MountainCar-v0", "lr": 1e-3})
    assert (cartpole.optim.lr, cartpole.train_freq, cartpole.env_steps) == (2.3e-3, 256, 50_000)
    assert (acrobot.optim.lr, acrobot.train_freq, acrobot.gradient_steps, acrobot.exploration_steps) == \
        (6.3e-4, 4, 4, 12_000)
    assert (car.gamma, car.buffer_size, car.optim.lr) == (0.98, 10_000, 1e-3)  # what is given on the command line wins
    assert m.config("tiny", {"env": "Acrobot-v1"}).env_steps == 1200  # the tiny preset stays tiny
    for cfg in (acrobot, car):
        task = m.make_task(cfg)
        assert task.spec.n_actions == 3


# -- MinAtar (Young & Tian 2019): Atari's games in 10x10 frames ---------------------------------------

def test_minatar_breakout_trains_on_its_own_network_samples_and_resumes(tmp_path, capsys):
    """MinAtar/Breakout-v1's (10, 10, 4) boolean frames get MinAtar's network (conv 16 3x3, 128 units);
    a run trains, resumes with its counters and replay, and `sample` draws its frames into a GIF."""
    from milestones.dqn.model import MinAtarCNN, QAgent, QNetConfig

    net = QAgent(QNetConfig(obs_shape=(10, 10, 4), n_actions=3)).online
    assert isinstance(net, MinAtarCNN)
    assert sum(p.numel() for p in net.parameters()) == (4 * 16 * 9 + 16) + (1024 * 128 + 128) + (128 * 3 + 3)
    assert net(torch.zeros(5, 10, 10, 4, dtype=torch.bool)).shape == (5, 3)
    over = dict(env="MinAtar/Breakout-v1", save_replay=True, eval_episodes=2)
    m, cfg = tiny(**over)
    _, half = tiny(**over, env_steps=700)
    first = m.make_task(half)
    assert first.spec.obs_shape == (10, 10, 4) and first.spec.obs_dtype == np.bool_ and first.spec.n_actions == 3
    train(first, tmp_path / "run", verbose=False)
    resumed = m.make_task(cfg)
    result = train(resumed, tmp_path / "run", resume=True, verbose=False)
    assert result.step == cfg.steps and resumed.env_steps == cfg.env_steps and len(resumed.buffer) >= len(first.buffer)
    code, out, err = cli(capsys, "sample", "dqn", "--run", tmp_path / "run", "--count", "1")
    assert code == 0 and "episode 1: return" in out, err
    gif = tmp_path / "run" / "samples" / "episode.gif"
    assert gif.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    code, out, err = cli(capsys, "evaluate", "dqn", "--run", tmp_path / "run")
    assert code == 0 and "eval_return" in out and "random_return" in out, err  # the random policy beside it


def test_each_minatar_game_gets_the_minatar_papers_settings():
    """The small preset on a MinAtar id: the MinAtar paper's DQN (batch 32, replay 100k, target every
    1,000 updates, epsilon to 0.1 over 100k frames, replay from 5,000, centred RMSProp 2.5e-4), with
    one update every 4 frames over 500,000 frames; each game's frames and actions."""
    from milestones.optim.classic import RMSProp

    m = registry.get("dqn")
    for game, channels in (("Asterix", 4), ("Breakout", 4), ("Freeway", 7), ("Seaquest", 10), ("SpaceInvaders", 6)):
        cfg = m.config("small", {"env": f"MinAtar/{game}-v1"})
        assert (cfg.batch_size, cfg.buffer_size, cfg.target_update, cfg.exploration_steps, cfg.eps_end,
                cfg.learning_starts, cfg.train_freq, cfg.env_steps) == (32, 100_000, 1000, 100_000, 0.1, 5000, 4,
                                                                        500_000)
        assert (cfg.optim.name, cfg.optim.lr, cfg.optim.alpha, cfg.optim.eps) == ("rmsprop_centered", 2.5e-4, 0.95,
                                                                                  0.01)
        task = m.make_task(m.config("tiny", {"env": f"MinAtar/{game}-v1"}))
        assert task.spec.obs_shape == (10, 10, channels), game
    opt = m.make_task(cfg).build_optimizers(m.model_class(m.make_task(cfg).model_config()))["model"]
    assert isinstance(opt, RMSProp) and opt.defaults["centered"]
    assert m.config("paper").optim.name == "rmsprop_centered"  # Nature's, as DeepMind's code computes it


def test_minatar_mistakes_are_one_line(tmp_path, capsys, monkeypatch):
    """An id that is not one of the five games lists them; an MLP's widths for MinAtar's frames say
    which network they get; without the package, the pip command. Each exits 2 and writes nothing."""
    import builtins

    code, _, err = cli(capsys, "train", "dqn", "--env", "MinAtar/Pong-v1", "--out", tmp_path / "never")
    assert code == 2 and "MinAtar/Breakout-v1" in err and "MinAtar/Seaquest-v1" in err and err.count("\n") == 1
    code, _, err = cli(capsys, "train", "dqn", "--env", "MinAtar/Breakout-v1", "--model.hidden", "64", "--out",
                       tmp_path / "never")
    assert code == 2 and "MinAtar's CNN" in err and err.count("\n") == 1, err
    monkeypatch.setattr(rl, "_MINATAR_REGISTERED", False)
    real_import = builtins.__import__

    def no_minatar(name, *args, **kwargs):
        if name.startswith("minatar"):
            raise ImportError("No module named 'minatar'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_minatar)
    code, _, err = cli(capsys, "train", "dqn", "--env", "MinAtar/Breakout-v1", "--out", tmp_path / "never")
    assert code == 2 and "pip install --no-deps MinAtar==1.0.15" in err and err.count("\n") == 1, err
    assert not (tmp_path / "never").exists()
