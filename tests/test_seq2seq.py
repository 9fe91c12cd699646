"""seq2seq: the fixed-vector and attention encoder-decoders (padding, source reversal, step-by-step
generation equal to teacher forcing), their training FLOPs, training and sampling from the command
line, and the claims' protocol."""

import pytest
import torch

from milestones.seq2seq.model import Seq2Seq, Seq2SeqConfig, reverse_padded, training_flops
from milestones.transformer.model import Transformer, TransformerConfig

from conftest import tiny_claims

D, H = 32, 4


def _tiny_transformer(seed=0, norm_first=False):
    torch.manual_seed(seed)
    return Transformer(TransformerConfig(vocab=20, d_model=D, layers=2, heads=H, d_ff=64, dropout=0.0,
                                         norm_first=norm_first)).eval()


def test_padding_does_not_change_a_translation():
    """A sentence alone and the same sentence padded in a batch give the same logits."""
    src_alone, tgt = torch.tensor([[5, 6, 2]]), torch.tensor([[1, 7, 8]])
    src_batch = torch.tensor([[5, 6, 2, 0, 0], [9, 10, 11, 12, 2]])
    tgt_batch = torch.tensor([[1, 7, 8], [1, 9, 9]])
    models = [_tiny_transformer()]
    for attention in (False, True):
        torch.manual_seed(0)
        models.append(Seq2Seq(Seq2SeqConfig(vocab=20, emb=8, hidden=12, layers=2, attention=attention)).eval())
    for m in models:
        with torch.no_grad():
            assert torch.allclose(m(src_alone, tgt), m(src_batch, tgt_batch)[:1], atol=1e-5), type(m).__name__


def test_reverse_source_keeps_eos_and_padding():
    src = torch.tensor([[5, 6, 7, 2, 0], [8, 2, 0, 0, 0], [9, 10, 11, 12, 2]])
    out = reverse_padded(src, (src != 0).sum(1))
    assert out.tolist() == [[7, 6, 5, 2, 0], [8, 2, 0, 0, 0], [12, 11, 10, 9, 2]]


def test_seq2seq_generation_steps_equal_teacher_forcing():
    for attention in (False, True):
        torch.manual_seed(0)
        m = Seq2Seq(Seq2SeqConfig(vocab=20, emb=8, hidden=12, layers=2, attention=attention,
                                  reverse_source=not attention)).eval()
        src, tgt = torch.tensor([[5, 6, 7, 2], [8, 9, 2, 0]]), torch.tensor([[1, 10, 11], [1, 12, 13]])
        with torch.no_grad():
            full = m(src, tgt).log_softmax(-1)
            st = m.encode(src)
            for t in range(3):
                logp, st = m.step(tgt[:, t], st)
                assert torch.allclose(logp, full[:, t], atol=1e-5)
        if attention:
            assert torch.allclose(st["alpha"].sum(-1), torch.ones(2)) and st["alpha"][1, 3] == 0  # padding: no weight


def test_training_flops_of_the_attention_decoder_equal_torchs_counter():
    """torch's counter sees the decoder's cells and layers (not the fused encoder LSTM, which it
    does not count); our count of the same part, forward only, agrees."""
    from torch.utils.flop_counter import FlopCounterMode

    cfg = Seq2SeqConfig(vocab=40, emb=16, hidden=24, layers=1, attention=True)
    m = Seq2Seq(cfg)
    src, tgt = torch.randint(3, 40, (5, 7)), torch.randint(3, 40, (5, 6))
    st = m.encode(src)
    with FlopCounterMode(display=False) as counter:
        for t in range(tgt.shape[1]):
            m.step(tgt[:, t], st)
    B, S, E, H = 5, 7, 16, 24
    ours = training_flops(cfg, src, tgt) / 3 / 2  # forward multiply-adds
    encoder = B * S * 2 * 4 * H * (E + H) + B * S * 2 * H * H + B * H * H
    # step() computes the output layer per step, as forward() does once after the recurrence
    assert ours - encoder == pytest.approx(counter.get_total_flops() / 2, rel=0.02)


def test_train_sample_and_claims_protocol(tmp_path, capsys):
    tiny_claims("seq2seq", tmp_path)


def test_resume_reads_the_runs_tokenizer_not_the_changed_data(tmp_path, capsys):
    """The data file changes between the start and the resume: ids must keep their meaning."""
    from conftest import cli

    data = tmp_path / "pairs.tsv"
    data.write_text("".join(f"word{i} word{i + 1}\tmot{i} mot{i + 1}\n" for i in range(300)))
    run = tmp_path / "run"
    code, _, err = cli(capsys, "train", "seq2seq", "--preset", "tiny", "--data", data, "--steps", "2", "--out", run,
                       "--tensorboard", "false")
    assert code == 0, err
    first = next((run / "ckpt").glob("step_*/tokenizer.json")).read_text()
    data.write_text("".join(f"other{i} text{i}\tautre{i} texte{i}\n" for i in range(300)))  # new words
    code, _, err = cli(capsys, "train", "seq2seq", "--resume", "--out", run, "--steps", "4")
    assert code == 0, err
    assert (run / "ckpt" / "step_0000004" / "tokenizer.json").read_text() == first
