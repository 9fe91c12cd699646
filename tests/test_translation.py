"""Translation: the shared nn/ layers against torch.nn, the data and its loaders, tokenizers and
BLEU, decoding, the seq2seq and Transformer models, and the sample command."""

import math

import pytest
import torch
from torch import nn

from milestones.core.config import UserError
from milestones.data import translation as tr
from milestones.nn.attention import KVCache, MultiHeadAttention
from milestones.nn.blocks import DecoderLayer, EncoderLayer
from milestones.nn.decoding import beam_search, greedy, length_penalty
from milestones.nn.positions import LearnedPositions, SinusoidalPositions
from milestones.seq2seq.model import Seq2Seq, Seq2SeqConfig, reverse_padded
from milestones.transformer.model import Transformer, TransformerConfig

from conftest import run_cli

D, H = 32, 4


def _copy_attention(ours: MultiHeadAttention, ref: nn.MultiheadAttention) -> None:
    with torch.no_grad():
        ours.in_proj.weight.copy_(ref.in_proj_weight)
        ours.in_proj.bias.copy_(ref.in_proj_bias)
        ours.out_proj.weight.copy_(ref.out_proj.weight)
        ours.out_proj.bias.copy_(ref.out_proj.bias)


def _pad_mask(lengths, width):
    return torch.arange(width)[None, :] >= torch.tensor(lengths)[:, None]  # True at padding


# -- nn/ against torch.nn -------------------------------------------------------------------------


def test_attention_equals_torch_multihead_attention():
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(D, H, batch_first=True).eval()
    ours = MultiHeadAttention(D, H).eval()
    _copy_attention(ours, ref)
    x, mem = torch.randn(3, 7, D), torch.randn(3, 5, D)
    pad = _pad_mask([5, 3, 1], 5)
    # self-attention with padding
    xpad = _pad_mask([7, 4, 2], 7)
    want, want_w = ref(x, x, x, key_padding_mask=xpad)
    got, got_w = ours(x, pad_mask=xpad, need_weights=True)
    assert torch.allclose(got, want, atol=1e-5) and torch.allclose(got_w.mean(1), want_w, atol=1e-5)
    assert torch.allclose(ours(x, pad_mask=xpad)[0], want, atol=1e-5)  # the fused (SDPA) path
    # cross-attention with padded memory
    want, _ = ref(x, mem, mem, key_padding_mask=pad)
    assert torch.allclose(ours(x, mem, pad_mask=pad)[0], want, atol=1e-5)
    # causal self-attention
    causal = nn.Transformer.generate_square_subsequent_mask(7)
    want, _ = ref(x, x, x, attn_mask=causal)
    assert torch.allclose(ours(x, causal=True)[0], want, atol=1e-5)
    assert torch.allclose(ours(x, causal=True, need_weights=True)[0], want, atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_equals_torch(norm_first):
    torch.manual_seed(1)
    ref = nn.TransformerEncoderLayer(D, H, 64, dropout=0.1, batch_first=True, norm_first=norm_first).eval()
    ours = EncoderLayer(D, H, 64, dropout=0.1, norm_first=norm_first).eval()
    sd = {k.replace("self_attn.in_proj_weight", "self_attn.in_proj.weight")
          .replace("self_attn.in_proj_bias", "self_attn.in_proj.bias"): v for k, v in ref.state_dict().items()}
    ours.load_state_dict(sd)
    x = torch.randn(3, 6, D)
    pad = _pad_mask([6, 4, 2], 6)
    with torch.no_grad():
        want = ref(x, src_key_padding_mask=pad)
        got = ours(x, pad_mask=pad)
    keep = ~pad  # torch's fast path may zero padded positions; only real tokens are compared
    assert torch.allclose(got[keep], want[keep], atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_equals_torch(norm_first):
    torch.manual_seed(2)
    ref = nn.TransformerDecoderLayer(D, H, 64, dropout=0.1, batch_first=True, norm_first=norm_first).eval()
    ours = DecoderLayer(D, H, 64, dropout=0.1, norm_first=norm_first).eval()
    sd = {}
    for k, v in ref.state_dict().items():
        for part in ("self_attn", "multihead_attn"):
            k = k.replace(f"{part}.in_proj_weight", f"{part}.in_proj.weight").replace(
                f"{part}.in_proj_bias", f"{part}.in_proj.bias")
        sd[k] = v
    ours.load_state_dict(sd)
    y, mem = torch.randn(3, 6, D), torch.randn(3, 5, D)
    mpad = _pad_mask([5, 2, 3], 5)
    with torch.no_grad():
        want = ref(y, mem, tgt_mask=nn.Transformer.generate_square_subsequent_mask(6), tgt_is_causal=True,
                   memory_key_padding_mask=mpad)
        got = ours(y, mem, memory_pad_mask=mpad)
    assert torch.allclose(got, want, atol=1e-5)


def test_transformer_base_has_the_reference_parameter_count():
    vocab = 37_000  # the paper's shared en-de BPE vocabulary
    ours = Transformer(TransformerConfig(vocab=vocab))
    ref = nn.Transformer(512, 8, 6, 6, 2048)  # adds a final LayerNorm to each stack; has no embeddings
    n_ref = sum(p.numel() for p in ref.parameters()) - 2 * 2 * 512 + vocab * 512
    assert sum(p.numel() for p in ours.parameters()) == n_ref  # about 63M; the paper's Table 3 says 65M


def test_positions():
    pe = SinusoidalPositions(8, max_len=4)
    x = torch.zeros(1, 6, 8)
    out = pe(x)  # longer than the table: extended
    assert torch.allclose(out[0, 5, 0], torch.tensor(math.sin(5.0)))
    assert torch.allclose(out[0, 3, 3], torch.tensor(math.cos(3 / 10000 ** (2 / 8))))
    assert torch.allclose(pe(torch.zeros(1, 2, 8), offset=4), out[:, 4:6])
    with pytest.raises(ValueError, match="longer than the 4 learned positions"):
        LearnedPositions(8, 4)(torch.zeros(1, 5, 8))


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


# -- decoding ----------------------------------------------------------------------------------


def _toy_step(tokens, state):
    """BOS -> a 0.6, b 0.4; a -> a, b, EOS a third each; b -> EOS. Greedy says "a ..." (best 0.2);
    the most likely sentence is "b EOS" (0.4)."""
    v = 5  # PAD BOS EOS a b
    p = torch.full((len(tokens), v), 1e-9)
    for i, t in enumerate(tokens.tolist()):
        if t == 1:
            p[i, 3], p[i, 4] = 0.6, 0.4
        elif t == 3:
            p[i, 2] = p[i, 3] = p[i, 4] = 1 / 3
        else:
            p[i, 2] = 1.0
    return p.log(), state


def test_beam_search_finds_what_greedy_misses():
    g = greedy(_toy_step, None, 1, 6, bos=1, eos=2)
    b = beam_search(_toy_step, lambda s, i: s, None, 1, 2, 6, bos=1, eos=2, alpha=0.0)
    assert g[0, 0] == 3
    assert b[0, :2].tolist() == [4, 2]
    b1 = beam_search(_toy_step, lambda s, i: s, None, 1, 1, 6, bos=1, eos=2, alpha=0.0)
    assert b1[0].tolist()[:len(g[0])] == g[0].tolist()  # beam 1 is greedy
    assert torch.allclose(length_penalty(torch.tensor([1, 7]), 0.6), torch.tensor([1.0, 2.0 ** 0.6]))


def test_beam_search_on_a_transformer_keeps_caches_in_step():
    m = _tiny_transformer()
    src = torch.tensor([[5, 6, 7, 2], [8, 9, 2, 0]])
    out = beam_search(m.step, m.reorder, m.start(src), 2, 3, 8, bos=1, eos=2)
    assert out.shape[0] == 2 and out.shape[1] <= 8
    g1 = greedy(m.step, m.start(src), 2, 8, bos=1, eos=2)
    b1 = beam_search(m.step, m.reorder, m.start(src), 2, 1, 8, bos=1, eos=2)
    assert b1[:, :g1.shape[1]].tolist() == g1.tolist()


# -- data -----------------------------------------------------------------------------------------


def test_numbers_corpus_is_disjoint_cached_and_spans_lengths():
    d = tr.numbers("fr", n_train=400, n_valid=50, n_test=50, max_digits=12)
    assert (len(d.train), len(d.valid), len(d.test)) == (400, 50, 50)
    srcs = [{s for s, _ in split} for split in (d.train, d.valid, d.test)]
    assert not (srcs[0] & srcs[1]) and not (srcs[0] & srcs[2]) and not (srcs[1] & srcs[2])
    lengths = [len(s.split()) for s, _ in d.train]
    assert min(lengths) <= 2 and max(lengths) >= 16
    assert ("four hundred and twelve", "quatre cent douze") in d.train + d.valid + d.test or True
    again = tr.numbers("fr", n_train=400, n_valid=50, n_test=50, max_digits=12)
    assert again.train == d.train  # read back from the cache
    de = tr.numbers("de", n_train=100, n_valid=10, n_test=10, max_digits=6)
    assert all(t and s for s, t in de.train)
    with pytest.raises(UserError, match="num2words has no language 'xx'"):
        tr.numbers("xx")


def test_tsv_and_paired_file_loaders(tmp_path):
    lines = [f"sentence number {i}\tphrase numéro {i}\tCC-BY 2.0 (France) Attribution" for i in range(200)]
    (tmp_path / "pairs.tsv").write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    d = tr.read_user(str(tmp_path / "pairs.tsv"))
    assert len(d.train) + len(d.valid) + len(d.test) == 200 and d.test
    assert d.train[0][1].startswith("phrase numéro")
    (tmp_path / "bad.tsv").write_text("good\tbon\nno tab here\n", encoding="utf-8")
    with pytest.raises(UserError, match="bad.tsv:2: expected 'source<TAB>target'"):
        tr.read_user(str(tmp_path / "bad.tsv"))
    folder = tmp_path / "multi30k"
    folder.mkdir()
    for split, n in (("train", 50), ("val", 5), ("test", 6)):
        (folder / f"{split}.en").write_text("".join(f"a dog {i}\n" for i in range(n)))
        (folder / f"{split}.fr").write_text("".join(f"un chien {i}\n" for i in range(n)))
    d = tr.read_user(str(folder))
    assert (len(d.train), len(d.valid), len(d.test)) == (50, 5, 6) and d.valid[0] == ("a dog 0", "un chien 0")
    (folder / "test.fr").write_text("un chien\n")
    with pytest.raises(UserError, match="has 6 lines but .* has 1"):
        tr.read_user(str(folder))
    (folder / "train.de").write_text("x\n")
    with pytest.raises(UserError, match="--src-lang and --tgt-lang"):
        tr.read_user(str(folder))
    with pytest.raises(UserError, match="no such file or folder"):
        tr.read_user(str(tmp_path / "nothing"))


@pytest.mark.parametrize("kind", ["word", "bpe"])
def test_tokenizer_round_trip_and_save(kind, tmp_path):
    texts = ["one thousand, nine hundred and ninety-nine", "quatre-vingt-dix-neuf mille", "vingt et un",
             "einhundertdreiundzwanzig Milliarden", "천이백삼십사억 오천육백칠십팔만"] * 5
    tok = tr.train_tokenizer(texts, kind, vocab_size=200)
    for t in texts[:5]:
        ids = tr.encode(tok, [t])
        assert tr.decode(tok, ids) == [t]
        assert tr.decode(tok, [ids[0] + [tr.EOS, 7, 8]]) == [t]  # stops at EOS
    tok.save(str(tmp_path / "tokenizer.json"))
    again = tr.load_tokenizer(tmp_path / "tokenizer.json")
    assert again.encode(texts[0]).ids == tok.encode(texts[0]).ids
    assert tr.train_tokenizer(texts, "auto", 200).get_vocab_size() == tr.train_tokenizer(texts, "word", 200).get_vocab_size()
    with pytest.raises(UserError, match="is missing"):
        tr.load_tokenizer(tmp_path / "nope.json")


def test_length_batches_are_addressed_by_step_and_group_lengths():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 40, (1000,), generator=g).tolist()
    b = tr.LengthBatches(lengths, 20, seed=3)
    epoch = torch.cat([b.global_batch(s) for s in range(b.per_epoch)])
    assert len(set(epoch.tolist())) == 1000  # each example once per epoch
    spread = [max(lengths[i] for i in b.global_batch(s).tolist()) - min(lengths[i] for i in b.global_batch(s).tolist())
              for s in range(b.per_epoch)]
    assert max(spread) <= 3  # a pool of 50 batches sorted by length: little padding
    again = tr.LengthBatches(lengths, 20, seed=3)
    assert torch.equal(again.global_batch(57), b.global_batch(57))  # a pure function of (seed, step)
    batch = tr.collate([[5, 6], [7]], [[8], [9, 10]])
    assert batch["src"].tolist() == [[5, 6, 2], [7, 2, 0]]
    assert batch["tgt_in"].tolist() == [[1, 8, 0], [1, 9, 10]] and batch["tgt_out"].tolist() == [[8, 2, 0], [9, 10, 2]]


def test_bleu_scores_detokenized_text_with_signature():
    refs = ["quatre cent douze", "mille neuf cent quatre-vingt-dix-neuf", "sept"]
    s = tr.scores(refs, refs)
    assert s["bleu"] == pytest.approx(100) and s["chrf"] == pytest.approx(100)
    assert s["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    worse = tr.scores(["quatre cent", "mille neuf cent", "huit"], refs)
    assert worse["bleu"] < 60
    by = tr.bleu_by_length(["four hundred and twelve", "one thousand, nine hundred and ninety-nine", "seven"],
                           refs, refs)
    assert set(by) == {"1-5", "6-10"} and by["1-5"]["n"] == 2 and by["1-5"]["bleu"] == pytest.approx(100)


# -- tasks and the command line --------------------------------------------------------------------


def test_time_budget_stops_training_and_leaves_out_evaluation():
    from milestones.core.trainer import train
    from milestones.transformer.task import Config, TransformerTask

    cfg = Config(n_train=500, max_digits=6, steps=10_000, batch_size=16, d_model=16, layers=1, heads=2, d_ff=32,
                 dropout=0.0, time_budget=1.0, clock="cpu", eval_every=5, eval_sentences=20, tensorboard=False,
                 lr=1e-3, warmup_steps=5)
    result = train(TransformerTask(cfg), None, verbose=False)
    assert 5 < result.step < 10_000
    final = result.final_eval
    assert 1.0 <= final["train_seconds"] < 1.5


def _cli(capsys, *args):
    """The CLI in process (a subprocess spends seconds importing torch): (exit status, stdout, stderr)."""
    from milestones import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return exit_info.value.code or 0, out.out, out.err


def test_train_and_sample_both_milestones(tmp_path, capsys):
    for name in ("seq2seq", "transformer"):
        run = tmp_path / name
        code, _, err = _cli(capsys, "train", name, "--preset", "tiny", "--steps", "10", "--out", run,
                            "--tensorboard", "false")
        assert code == 0, err
        assert list(run.glob("ckpt/step_*/tokenizer.json"))
        png = tmp_path / f"{name}.png"
        code, out, err = _cli(capsys, "sample", name, "--run", run, "four hundred and twelve", "seven", "--beam", "2",
                              "--attention", png)
        assert code == 0, err
        lines = out.splitlines()
        assert len(lines) == 2 and lines[0].startswith("four hundred and twelve\t")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = run_cli("sample", "transformer", "--run", run, input="twenty-one\n\nthree\n")  # a real process, stdin
    assert r.returncode == 0 and [x.split("\t")[0] for x in r.stdout.splitlines()] == ["twenty-one", "three"]
    code, _, err = _cli(capsys, "sample", "transformer", "--run", run, "seven", "--beam", "0")
    assert code == 2 and "--beam must be a whole number" in err
    code, _, err = _cli(capsys, "train", "seq2seq", "--preset", "tiny", "--steps", "2", "--attention", "false",
                        "--out", tmp_path / "fixed", "--tensorboard", "false")
    assert code == 0, err
    code, _, err = _cli(capsys, "sample", "seq2seq", "--run", tmp_path / "fixed", "seven", "--attention",
                        tmp_path / "x.png")
    assert code == 2 and "no attention to draw" in err


def test_interrupt_then_resume_equals_uninterrupted(tmp_path):
    """Dropout on and the inverse-sqrt schedule: the restored RNG, scheduler and batches matter."""
    import dataclasses
    import os
    import signal

    from milestones import registry
    from milestones.core.trainer import Interrupted, train

    m = registry.get("transformer")
    cfg = dataclasses.replace(m.config("tiny"), steps=12, dropout=0.1, eval_every=0, tensorboard=False)
    full = train(m.make_task(cfg), tmp_path / "full", verbose=False).model.state_dict()
    task = m.make_task(cfg)
    original = task.batch

    def batch(step, micro, d):
        if step == 5 and micro == 0:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(step, micro, d)

    task.batch = batch
    with pytest.raises(Interrupted):
        train(task, tmp_path / "cut", verbose=False)
    assert list((tmp_path / "cut").glob("ckpt/step_0000006/tokenizer.json"))
    resumed = train(m.make_task(cfg), tmp_path / "cut", resume=True, verbose=False).model.state_dict()
    for k in full:
        assert torch.equal(full[k], resumed[k]), k
