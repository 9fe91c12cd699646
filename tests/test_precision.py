"""Mixed precision: `--amp` picks the autocast dtype; fp16 scales the loss, skips the steps whose
gradients overflow (and stops as the NaN guard does when they overflow at every scale), and its
checkpoints carry the loss scale, so a resumed fp16 run equals an uninterrupted one (tests/test_resume.py)."""

import pytest
import torch

from milestones import registry
from milestones.core import checkpoint
from milestones.core.config import RunConfig
from milestones.core.trainer import MAX_SKIPPED, NonFiniteLoss, Trainer, amp_dtype, train


def _cfg(**over):
    return registry.get("adam").config("tiny", {**dict(steps=24, ckpt_every=0, tensorboard=False, amp="fp16",
                                                       schedule="cosine", warmup_steps=3), **over})


def test_amp_picks_the_dtype(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert amp_dtype(RunConfig(amp="auto"), cpu) is None
    assert amp_dtype(RunConfig(amp="off"), cuda) is None
    assert amp_dtype(RunConfig(amp="fp16"), cpu) == torch.float16
    assert amp_dtype(RunConfig(amp="bf16"), cpu) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert amp_dtype(RunConfig(amp="auto"), cuda) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)  # a T4 or V100
    assert amp_dtype(RunConfig(amp="auto"), cuda) == torch.float16


def test_fp16_trains_with_a_loss_scale_and_only_fp16_has_one(tmp_path):
    m = registry.get("adam")
    result = train(m.make_task(_cfg()), tmp_path / "fp16", verbose=False)
    rows = [r for r in result.history if r["split"] == "train"]
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert all(r["loss_scale"] > 0 and r["skipped"] == 0 for r in rows)
    state = checkpoint.load_state(checkpoint.latest(tmp_path / "fp16" / "ckpt"))
    assert set(state["amp"]["scaler"]) == {"model"} and state["amp"]["skipped"] == {"model": 0}
    off = train(m.make_task(_cfg(amp="off")), tmp_path / "off", verbose=False)
    assert "loss_scale" not in off.history[0]
    assert "amp" not in checkpoint.load_state(checkpoint.latest(tmp_path / "off" / "ckpt"))


def test_overflowing_steps_are_skipped_and_the_scale_and_count_resume(tmp_path):
    m = registry.get("adam")

    def run(run_dir, steps, resume=False):
        trainer = Trainer(m.make_task(_cfg(steps=steps, log_every=1)), run_dir, resume=resume, verbose=False)
        if not resume:  # a scale at which fp16's gradients overflow: the first steps are skipped
            trainer.scalers["model"] = torch.amp.GradScaler("cpu", init_scale=2.0 ** 40)
        before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        return trainer, before, trainer.run()

    trainer, before, result = run(tmp_path / "a", 3)
    rows = [r for r in result.history if r["split"] == "train"]
    assert [r["skipped"] for r in rows] == [1, 2, 3] and rows[-1]["loss_scale"] == 2.0 ** 37
    assert all(torch.equal(before[k], v) for k, v in result.model.state_dict().items())  # no step taken
    _, at_resume, resumed = run(tmp_path / "a", 40, resume=True)
    rows = [r for r in resumed.history if r["split"] == "train"]
    assert rows[0]["skipped"] == 4 and rows[0]["loss_scale"] == 2.0 ** 36  # the checkpoint's count and scale
    assert rows[-10]["skipped"] == rows[-1]["skipped"] < 40  # then the scale fits and every step is taken
    assert not all(torch.equal(at_resume[k], v) for k, v in resumed.model.state_dict().items())


def test_gradients_that_overflow_at_every_scale_stop_the_run(tmp_path):
    m = registry.get("adam")
    task = m.make_task(_cfg(steps=2 * MAX_SKIPPED))
    original = task.loss

    def loss(model, batch, phase):  # a finite loss whose gradient is infinite: sqrt at 0
        value, metrics = original(model, batch, phase)
        w = next(model.parameters())
        return value + torch.sqrt((w - w.detach()).abs().sum()), metrics

    task.loss = loss
    with pytest.raises(NonFiniteLoss, match=f"NaN or infinite on {MAX_SKIPPED} fp16 steps in a row"):
        train(task, tmp_path / "run", verbose=False)


def test_fp16_where_the_cpu_has_no_kernel_is_one_line(tmp_path):
    from milestones.errors import UserError

    m = registry.get("seq2seq")
    task = m.make_task(m.config("tiny", dict(amp="fp16", tensorboard=False)))
    with pytest.raises(UserError, match="--amp fp16 on the CPU: torch has no fp16 CPU kernel .*LSTM"):
        train(task, None, verbose=False)


# -- --sync-bn: one flag for every model with batch norm ------------------------------------------


@pytest.mark.parametrize("name", ["resnet", "gan", "simclr"])
def test_sync_bn_converts_every_batch_norm_under_ddp_on_cuda(name, capsys):
    from milestones.core.distributed import Dist
    from milestones.core.references import settings
    from milestones.core.trainer import sync_batch_norm

    m = registry.get(name)
    cfg = m.config("tiny", dict(sync_bn=True))
    assert "sync_bn" not in settings(m.config("tiny", {})) and settings(cfg)["sync_bn"] is True

    def model():
        task = m.make_task(cfg)
        return task.build_model()

    def norms(net):
        return [type(x) for x in net.modules() if isinstance(x, torch.nn.modules.batchnorm._BatchNorm)]

    net = model()
    params = list(net.parameters())
    assert sync_batch_norm(net, cfg, Dist(rank=0, world=2), torch.device("cuda"))
    assert norms(net) and set(norms(net)) == {torch.nn.SyncBatchNorm}
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]  # the optimizers' parameters still
    for dist, device in ((Dist(), torch.device("cuda")), (Dist(rank=0, world=2), torch.device("cpu"))):
        net = model()
        assert not sync_batch_norm(net, cfg, dist, device)
        assert torch.nn.SyncBatchNorm not in norms(net)
    assert "--sync-bn applies under DDP on CUDA" in capsys.readouterr().err
    net = model()
    assert not sync_batch_norm(net, m.config("tiny", {}), Dist(rank=0, world=2), torch.device("cuda"))


def test_sync_bn_is_an_option_of_the_models_with_batch_norm_only():
    with_bn = {name for name in registry.built_names() if any(
        isinstance(x, torch.nn.modules.batchnorm._BatchNorm)
        for x in registry.get(name).make_task(registry.get(name).config("tiny", {})).build_model().modules())}
    assert with_bn == {"resnet", "gan", "simclr"}
    for name in registry.built_names():
        assert hasattr(registry.get(name).config("tiny", {}), "sync_bn") == (name in with_bn), name
