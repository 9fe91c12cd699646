"""The Transformer: the base model's size against torch.nn.Transformer, the causal mask, the KV
cache, beam search through the caches, training FLOPs against torch's counter, the time budget,
training, sampling and resuming from the command line, and the claim's protocol."""

import pytest
import torch
from torch import nn

from milestones.nn.decoding import beam_search, greedy
from milestones.transformer.model import Transformer, TransformerConfig, training_flops

from conftest import cli, run_cli, tiny_claims

D, H = 32, 4


def test_transformer_base_has_the_reference_parameter_count():
    vocab = 37_000  # the paper's shared en-de BPE vocabulary
    ours = Transformer(TransformerConfig(vocab=vocab))
    ref = nn.Transformer(512, 8, 6, 6, 2048)  # adds a final LayerNorm to each stack; has no embeddings
    n_ref = sum(p.numel() for p in ref.parameters()) - 2 * 2 * 512 + vocab * 512
    assert sum(p.numel() for p in ours.parameters()) == n_ref  # about 63M; the paper's Table 3 says 65M


def _tiny_transformer(seed=0, norm_first=False):
    torch.manual_seed(seed)
    return Transformer(TransformerConfig(vocab=20, d_model=D, layers=2, heads=H, d_ff=64, dropout=0.0,
                                         norm_first=norm_first)).eval()


def test_causal_mask_future_tokens_do_not_move_past_logits():
    m = _tiny_transformer()
    src = torch.randint(4, 20, (2, 5))
    tgt = torch.randint(4, 20, (2, 7))
    changed = tgt.clone()
    changed[:, 4:] = torch.randint(4, 20, (2, 3))
    a, b = m(src, tgt), m(src, changed)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6)
    assert not torch.allclose(a[:, 4:], b[:, 4:])


@pytest.mark.parametrize("norm_first", [False, True])
def test_kv_cache_steps_equal_the_full_forward(norm_first):
    m = _tiny_transformer(norm_first=norm_first)
    src = torch.tensor([[5, 6, 7, 2, 0], [8, 9, 2, 0, 0]])
    tgt = torch.tensor([[1, 10, 11, 12, 13], [1, 14, 15, 16, 17]])
    full = m(src, tgt).log_softmax(-1)
    st = m.start(src)
    for t in range(tgt.shape[1]):
        logp, st = m.step(tgt[:, t], st)
        assert torch.allclose(logp, full[:, t], atol=1e-5)
    assert len(st["caches"][0][0]) == 5  # the self-attention cache holds every position


def test_beam_search_on_a_transformer_keeps_caches_in_step():
    m = _tiny_transformer()
    src = torch.tensor([[5, 6, 7, 2], [8, 9, 2, 0]])
    out = beam_search(m.step, m.reorder, m.start(src), 2, 3, 8, bos=1, eos=2)
    assert out.shape[0] == 2 and out.shape[1] <= 8
    g1 = greedy(m.step, m.start(src), 2, 8, bos=1, eos=2)
    b1 = beam_search(m.step, m.reorder, m.start(src), 2, 1, 8, bos=1, eos=2)
    assert b1[:, :g1.shape[1]].tolist() == g1.tolist()


def test_training_flops_equal_torchs_counter():
    """Our count (from the sizes) against torch's FLOP counter on a real forward pass. On the CPU
    the counter sees the projections, feed-forward and output layers exactly but not the products
    inside scaled_dot_product_attention, which are added here by hand."""
    from torch.utils.flop_counter import FlopCounterMode

    cfg = TransformerConfig(vocab=50, d_model=64, layers=2, heads=4, d_ff=256, dropout=0.0)
    model = Transformer(cfg)
    B, S, T, d, N = 8, 11, 9, 64, 2
    src, tgt = torch.randint(3, 50, (B, S)), torch.randint(3, 50, (B, T))
    with FlopCounterMode(display=False) as counter:
        model(src, tgt)
    attention = 2 * N * B * (2 * S * S * d + 2 * T * T * d + 2 * T * S * d)  # q k^T and weights @ v, 2 FLOPs each
    assert training_flops(cfg, src, tgt) / 3 == counter.get_total_flops() + attention


def test_time_budget_stops_training_and_leaves_out_evaluation():
    from milestones.core.config import apply
    from milestones.core.trainer import train
    from milestones.transformer.task import Config, TransformerTask

    cfg = apply(Config(), {"n_train": 500, "max_digits": 6, "steps": 10_000, "batch_size": 16, "time_budget": 1.0,
                           "clock": "cpu", "eval_every": 5, "eval_sentences": 20, "tensorboard": False,
                           "warmup_steps": 5, "model.d_model": 16, "model.layers": 1, "model.heads": 2,
                           "model.d_ff": 32, "model.dropout": 0.0})
    result = train(TransformerTask(cfg), None, verbose=False)
    assert 5 < result.step < 10_000
    assert 1.0 <= result.final_eval["train_seconds"] < 1.5


def test_steps_within_a_flop_budget():
    from milestones import registry

    m = registry.get("transformer")
    task = m.make_task(m.config("tiny"))
    ten = task.flops_of(10)
    assert task.steps_within(ten) == 10 and task.steps_within(ten * 0.999) == 9
    assert task.flops_of(10) == ten  # a pure function of the data, the seed and the sizes


def test_train_and_sample_both_translation_milestones(tmp_path, capsys):
    for name in ("seq2seq", "transformer"):
        run = tmp_path / name
        code, _, err = cli(capsys, "train", name, "--preset", "tiny", "--steps", "10", "--out", run,
                           "--tensorboard", "false")
        assert code == 0, err
        assert list(run.glob("ckpt/step_*/tokenizer.json"))
        png = tmp_path / f"{name}.png"
        code, out, err = cli(capsys, "sample", name, "--run", run, "four hundred and twelve", "seven", "--beam", "2",
                             "--attention", png)
        assert code == 0, err
        lines = out.splitlines()
        assert len(lines) == 3 and lines[0] == "source\tours\treference\tverdict"  # a pipe's table: a header
        assert lines[1].startswith("four hundred and twelve\t")
        fields = lines[1].split("\t")  # source, ours, the reference (num2words), ok or WRONG
        assert fields[2] == "quatre cent douze" and fields[3] == ("ok" if fields[1] == fields[2] else "WRONG")
        code, out, err = cli(capsys, "sample", name, "--run", run, "hello world")
        assert code == 0 and "'hello', 'world' not in this run's vocabulary" in err
        assert out.splitlines()[1].count("\t") == 3  # not a number: no reference, the verdict column empty
        code, out, err = cli(capsys, "evaluate", name, "--run", run)
        assert code == 0 and "test_bleu " in out and "test_bleu_len_1-5" in out and "train_seconds" not in out, err
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = run_cli("sample", "transformer", "--run", run, input="twenty-one\n\nthree\n")  # a real process, stdin
    assert r.returncode == 0 and [x.split("\t")[0] for x in r.stdout.splitlines()] == ["source", "twenty-one", "three"]
    code, _, err = cli(capsys, "sample", "transformer", "--run", run, "seven", "--beam", "-1")
    assert code == 2 and "--beam must be at least 0" in err
    code, _, err = cli(capsys, "train", "seq2seq", "--preset", "tiny", "--steps", "2", "--attention", "false",
                       "--out", tmp_path / "fixed", "--tensorboard", "false")
    assert code == 0, err
    code, _, err = cli(capsys, "sample", "seq2seq", "--run", tmp_path / "fixed", "seven", "--attention",
                       tmp_path / "x.png")
    assert code == 2 and "no attention to draw" in err


def test_interrupt_then_resume_equals_uninterrupted(tmp_path):
    """Dropout on and the inverse-sqrt schedule: the restored RNG, scheduler and batches matter."""
    import os
    import signal

    from milestones import registry
    from milestones.core.trainer import Interrupted, train

    m = registry.get("transformer")
    cfg = m.config("tiny", {"steps": 12, "model.dropout": 0.1, "eval_every": 0, "tensorboard": False})
    full = train(m.make_task(cfg), tmp_path / "full", verbose=False).model.state_dict()
    task = m.make_task(cfg)
    original = task.batch

    def batch(step, shard):
        if step == 5 and shard.micro == 0:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(step, shard)

    task.batch = batch
    with pytest.raises(Interrupted):
        train(task, tmp_path / "cut", verbose=False)
    assert list((tmp_path / "cut").glob("ckpt/step_0000006/tokenizer.json"))
    resumed = train(m.make_task(cfg), tmp_path / "cut", resume=True, verbose=False).model.state_dict()
    for k in full:
        assert torch.equal(full[k], resumed[k]), k


def test_claim_protocol_at_the_tiny_preset(tmp_path):
    (ev,) = tiny_claims("transformer", tmp_path)
    assert any(" seq2seq " in r for r in ev.runs) and any(" transformer " in r for r in ev.runs)
    p = ev.per_seed[0]
    assert p["transformer_flops"] <= p["flops"]  # trained within the seq2seq's budget
