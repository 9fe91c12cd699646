"""GPT: parameter counts against GPT-2 and GPT-3's tables, parity and the export round trip with
transformers' GPT2LMHeadModel, the causal mask, the KV cache, sampling, the stdlib corpus and its
cache, tokenizers, key-value sequences, fine-tuning from a Hugging Face folder, bad input, and the
claims' protocol."""

import json
import math
import sys

import numpy as np
import pytest
import torch

from milestones.data import counter, keyvalue, repeats
from milestones.data import text as tx
from milestones.errors import UserError
from milestones.gpt import convert
from milestones.gpt.model import GPT, NAMED, GPTConfig, count_parameters
from milestones.nn.attention import KVCache
from milestones.nn.decoding import sample_next

from conftest import assert_sigterm_resume_is_exact, bad_reference_folders, cli, run_cli, tiny_claims

transformers = pytest.importorskip("transformers")
transformers.utils.logging.disable_progress_bar()  # its bars would mix with the CLI's one-line errors
transformers.utils.logging.set_verbosity_error()


def _tiny(seed=0, **changes):
    torch.manual_seed(seed)
    cfg = GPTConfig(**{**dict(layers=2, heads=4, d_model=32, block_size=24, vocab_size=61), **changes})
    return GPT(cfg).eval()


def _hf_folder(path, seed=0, vocab=97):
    """A tiny random GPT2LMHeadModel saved as Hugging Face saves it, with a byte-level BPE tokenizer."""
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(vocab_size=vocab, n_positions=32, n_embd=48, n_layer=3, n_head=4,
                                  bos_token_id=0, eos_token_id=0, attn_implementation="eager")
    model = transformers.GPT2LMHeadModel(cfg).eval()
    model.save_pretrained(path)
    return model


# -- sizes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("mlp", [True, False])
def test_parameter_count_without_building_equals_the_built_model(bias, mlp):
    for layers, d, heads, block, vocab in ((1, 16, 2, 8, 10), (3, 48, 4, 40, 97)):
        cfg = GPTConfig(layers=layers, heads=heads, d_model=d, block_size=block, vocab_size=vocab, bias=bias, mlp=mlp)
        assert count_parameters(cfg) == sum(p.numel() for p in GPT(cfg).parameters())


def test_gpt2_small_has_124_439_808_parameters_and_matches_transformers():
    assert count_parameters(NAMED["gpt2"]) == 124_439_808
    with torch.device("meta"):
        hf = transformers.GPT2LMHeadModel(transformers.GPT2Config())
    assert sum(p.numel() for p in hf.parameters()) == 124_439_808  # the tied head counted once


TABLE_2_1 = {"gpt3-small": 125e6, "gpt3-medium": 350e6, "gpt3-large": 760e6, "gpt3-xl": 1.3e9,
             "gpt3-2.7b": 2.7e9, "gpt3-6.7b": 6.7e9, "gpt3-13b": 13.0e9, "gpt3-175b": 175.0e9}


@pytest.mark.parametrize("name", sorted(TABLE_2_1))
def test_gpt3_sizes_are_within_two_percent_of_table_2_1(name):
    assert count_parameters(NAMED[name]) == pytest.approx(TABLE_2_1[name], rel=0.02)


# -- parity with transformers -------------------------------------------------------------------------


def test_logits_and_greedy_tokens_equal_transformers(tmp_path):
    hf = _hf_folder(tmp_path)
    ours = convert.from_hf(tmp_path)
    tokens = torch.randint(0, 97, (3, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = hf(tokens).logits
    assert (ours(tokens) - ref).abs().max() < 1e-5
    prompt = tokens[:1, :6]
    expected = hf.generate(prompt, max_new_tokens=20, do_sample=False, pad_token_id=0)[0, 6:]
    got = torch.stack(list(ours.generate(prompt, 20, temperature=0)), 1)[0]
    assert got.tolist() == expected.tolist()


def test_export_round_trip_gives_identical_logits_in_transformers(tmp_path):
    hf = _hf_folder(tmp_path / "hf")
    ours = convert.from_hf(tmp_path / "hf")
    convert.export(ours, tmp_path / "out")
    again = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "out", attn_implementation="eager").eval()
    tokens = torch.randint(0, 97, (2, 16), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(again(tokens).logits, hf(tokens).logits)


def test_original_openai_key_names_load(tmp_path):
    """Files converted from OpenAI's checkpoints have no `transformer.` prefix and carry mask buffers."""
    from safetensors.torch import load_file, save_file

    hf = _hf_folder(tmp_path)
    state = {k.removeprefix("transformer."): v for k, v in load_file(str(tmp_path / "model.safetensors")).items()}
    state["h.0.attn.bias"] = torch.ones(1, 1, 32, 32)
    save_file(state, str(tmp_path / "model.safetensors"))
    tokens = torch.randint(0, 97, (1, 10))
    with torch.no_grad():
        assert (convert.from_hf(tmp_path)(tokens) - hf(tokens).logits).abs().max() < 1e-5


def test_bad_hugging_face_folders_are_one_line(tmp_path, capsys):
    _hf_folder(tmp_path / "ok")
    for folder, message in bad_reference_folders(tmp_path, tmp_path / "ok", "bert"):
        code, out, err = cli(capsys, "sample", "gpt", "--pretrained", folder, "hello")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


# -- the model -----------------------------------------------------------------------------------------


def test_causal_mask_future_tokens_do_not_move_past_logits():
    m = _tiny()
    a = torch.randint(0, 61, (2, 12))
    b = a.clone()
    b[:, 7:] = torch.randint(0, 61, (2, 5))
    la, lb = m(a), m(b)
    assert torch.allclose(la[:, :7], lb[:, :7], atol=1e-6)
    assert not torch.allclose(la[:, 7:], lb[:, 7:])


@pytest.mark.parametrize("mlp", [True, False])
def test_attention_maps_are_the_forward_pass_own(mlp):
    """GPT.attention recomputes each block's weights explicitly; each row is a causal distribution,
    and the blocks' outputs on that path equal the fused forward pass."""
    torch.manual_seed(0)
    m = GPT(GPTConfig(layers=2, heads=2, d_model=16, block_size=12, vocab_size=11, mlp=mlp)).eval()
    tokens = torch.randint(0, 11, (3, 12))
    maps = m.attention(tokens)
    assert [a.shape for a in maps] == [(3, 2, 12, 12)] * 2
    for a in maps:
        assert torch.allclose(a.sum(-1), torch.ones(3, 2, 12), atol=1e-6)
        assert float(a.triu(1).abs().max()) == 0.0  # no weight on later positions
    x = m.drop(m.positions(m.embed(tokens), 0))
    for block in m.blocks:
        x = block(x, causal=True, need_weights=True)
    assert torch.allclose(m.norm(x) @ m.embed.weight.T, m(tokens), atol=1e-5)
    assert all(not hasattr(b, "linear1") for b in m.blocks) == (not mlp)


@pytest.mark.parametrize("bias", [True, False])
def test_cached_steps_equal_the_full_forward(bias):
    m = _tiny(bias=bias)
    tokens = torch.randint(0, 61, (2, 15))
    full = m(tokens)
    caches = [KVCache() for _ in m.blocks]
    parts = [m(tokens[:, :5], caches), m(tokens[:, 5:9], caches)]  # a prompt, then a chunk
    parts += [m(tokens[:, t:t + 1], caches) for t in range(9, 15)]  # then one position at a time
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-5)


def test_generation_past_the_context_slides_the_window():
    """Beyond block_size the context keeps its most recent tokens, as a model without a cache
    that crops its input would (greedy, so both choose the same tokens)."""
    m = _tiny(block_size=8)
    prompt = torch.randint(0, 61, (1, 6))
    got = torch.stack(list(m.generate(prompt, 12, temperature=0)), 1)
    seq = prompt
    for _ in range(12):
        nxt = m(seq[:, -7:] if seq.shape[1] >= 8 else seq)[:, -1].argmax(-1)
        seq = torch.cat([seq, nxt[:, None]], 1)
    assert got.tolist() == seq[:, 6:].tolist()


def test_top_k_and_top_p_restrict_the_tokens_drawn():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(2000, 1)
    g = torch.Generator().manual_seed(0)
    assert set(sample_next(logits, 1.0, top_k=2, generator=g).tolist()) == {0, 1}
    assert set(sample_next(logits, 1.0, top_p=0.7, generator=g).tolist()) == {0, 1}  # 0.5 + 0.3 reaches 0.7
    assert set(sample_next(logits, 1.0, top_p=0.5, generator=g).tolist()) == {0}
    assert set(sample_next(logits, 1.0, generator=g).tolist()) == {0, 1, 2, 3}
    assert sample_next(logits[:1], 0.0).tolist() == [0]


# -- data --------------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.version_info[:3] != (3, 11, 7), reason="the corpus's size is stated for Python 3.11.7")
def test_stdlib_corpus_is_built_exactly_as_specified():
    files = tx.stdlib_files()
    assert len(files) == 734
    text = tx.stdlib_text()
    assert len(text) == 12_117_233 and len(set(text)) == 222
    assert not any(p in ("site-packages", "__pycache__", "idle_test") or p.startswith("test")
                   for f in files for p in f.parent.parts[-3:])


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_tokenizers_round_trip_text_with_non_ascii_characters(kind, tmp_path):
    text = "naïve café — 東京 🙂 def f(x):\n    return x ** 2\n" * 20
    tok = tx.CharTokenizer.of(text) if kind == "char" else tx.BPETokenizer.train(text, 300)
    assert tok.decode(tok.encode(text)) == text
    tok.save(tmp_path / "tokenizer.json")
    again = tx.load_tokenizer(tmp_path / "tokenizer.json")
    assert again.encode(text) == tok.encode(text) and again.kind == kind


def test_a_gpt2_vocab_and_merges_load_as_byte_level_bpe(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate("abcdĠ")} | {"ab": 6, "Ġa": 7}))
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\nĠ a\n")
    tok = tx.BPETokenizer.from_files(tmp_path)
    assert tok.encode("ab a") == [6, 7] and tok.decode([6, 7]) == "ab a"


def test_token_cache_is_built_once_and_identical_on_rebuild():
    text = "the quick brown fox jumps over the lazy dog\n" * 50
    first = tx.tokens(text, name="cache-test")
    built = (first.folder / "train.bin").stat().st_mtime_ns
    again = tx.tokens(text, name="cache-test")
    assert (again.folder / "train.bin").stat().st_mtime_ns == built  # read, not rebuilt
    saved = (first.folder / "train.bin").read_bytes(), (first.folder / "val.bin").read_bytes()
    (first.folder / "meta.json").unlink()  # an unfinished build is rebuilt
    rebuilt = tx.tokens(text, name="cache-test")
    assert ((rebuilt.folder / "train.bin").read_bytes(), (rebuilt.folder / "val.bin").read_bytes()) == saved
    assert len(first.train) + len(first.val) == len(text)


def test_key_value_sequences_count_shots_and_start_at_chance():
    b = keyvalue.sequences(torch.arange(400), seed=3, keys=8, values=8, pairs=16)
    x, y, mask, shots = b["x"], b["y"], b["mask"], b["shots"]
    assert x.shape == (400, 31) and bool((x[:, 1:] == y[:, :-1]).all())
    assert bool((y[mask] >= 8).all()) and bool((y[~mask] < 8).all())  # values after keys, keys after values
    keys = x[:, 0::2]  # the key before each value
    for row in range(5):
        for j in range(16):
            assert shots[row, 2 * j] == int((keys[row, :j] == keys[row, j]).sum())
    for row in range(20):  # counting: the chance of guessing y as the value seen most often so far
        for j in range(16):
            seen = (y[row, 0:2 * j:2] - 8).bincount(minlength=8)  # the values before pair j
            top = (seen == seen.max()).nonzero().flatten().tolist()
            expected = 1 / 8 if j == 0 else (y[row, 2 * j] - 8 in top) / len(top)
            assert abs(float(b["counting"][row, 2 * j]) - expected) < 1e-6
    assert float(b["counting"][~mask].abs().sum()) == 0
    again = keyvalue.sequences(torch.arange(400), seed=3, keys=8, values=8, pairs=16)
    assert torch.equal(again["x"], x)  # a pure function of (seed, index)
    first = y[mask & (shots == 0)] - 8
    assert first.bincount(minlength=8).float().div(len(first)).sub(1 / 8).abs().max() < 0.03
    part = keyvalue.sequences(torch.arange(200, 210), seed=3, keys=8, values=8, pairs=16)
    assert torch.equal(part["x"], x[200:210])  # the same sequence in any batch
    assert not torch.equal(keyvalue.sequences(torch.arange(400), seed=4, keys=8, values=8, pairs=16)["x"], x)


def test_repeated_segments_copy_an_earlier_segment_at_a_random_offset():
    b = repeats.sequences(torch.arange(2000), seed=5, vocab=64, length=64, min_repeat=16, max_repeat=30)
    x, y, rep, src = b["x"], b["y"], b["repeat"], b["source"]
    assert x.shape == y.shape == rep.shape == (2000, 63) and bool((x[:, 1:] == y[:, :-1]).all())
    inside = rep >= 0
    assert bool((x.gather(1, src.clamp(min=0)) == y)[inside].all())  # y copies the token at `source`
    pos = torch.arange(63).expand(2000, 63)
    assert bool((src[inside] < pos[inside]).all())  # from earlier in the context
    lengths = rep.max(1).values + 1
    assert int(lengths.min()) == 16 and int(lengths.max()) == 30
    starts = (rep == 0).float().argmax(1)  # where each copy begins: spread, not fixed
    assert len(starts.unique()) > 20
    lag = starts + 1 - src[torch.arange(2000), starts]  # b - a (y at q is token q + 1)
    assert int(lag.min()) == 16 and int(lag.max()) >= 45 and len(lag.unique()) > 25
    assert bool((lag >= lengths).all())  # the copy starts after the segment ends
    first = y[rep == 0].bincount(minlength=64).float() / 2000  # the first repeated token: uniform
    assert float(first.max()) < 3 / 64
    again = repeats.sequences(torch.arange(100, 110), seed=5, vocab=64, length=64, min_repeat=16, max_repeat=30)
    assert torch.equal(again["x"], x[100:110])
    with pytest.raises(UserError, match="does not fit twice"):
        repeats.check(64, 40, 16, 30)
    with pytest.raises(UserError, match="2 <= min <= max"):
        repeats.check(64, 64, 1, 30)


def test_counter_draws_are_uniform_and_independent_of_the_batch():
    idx = np.arange(5000)
    r = counter.integers(9, idx, 4, 10)
    assert r.shape == (5000, 4) and r.min() == 0 and r.max() == 9
    assert np.abs(np.bincount(r.ravel(), minlength=10) / r.size - 0.1).max() < 0.01
    assert np.array_equal(counter.integers(9, idx[3000:3010], 4, 10), r[3000:3010])
    assert abs(np.corrcoef(r[:, 0], r[:, 1])[0, 1]) < 0.05


# -- training and the command line ----------------------------------------------------------------------


def test_a_tiny_run_learns_and_samples_stream(tmp_path, capsys):
    code, out, err = cli(capsys, "train", "gpt", "--preset", "tiny", "--steps", "60", "--out", tmp_path / "run",
                         "--tensorboard", "false")
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    assert train[-1]["loss"] < train[0]["loss"] - 1.0 and {"tok_s", "mfu"} <= set(train[-1])
    code, out, err = cli(capsys, "sample", "gpt", "--run", tmp_path / "run", "def ", "--max-new-tokens", "30",
                         "--temperature", "0")
    assert code == 0, err
    assert out.startswith("def ") and len(out.rstrip("\n")) == 4 + 30
    code, again, err = cli(capsys, "sample", "gpt", "--run", tmp_path / "run", "def ", "--max-new-tokens", "30",
                           "--temperature", "0")
    assert again == out  # greedy is deterministic
    code, out, err = cli(capsys, "sample", "gpt", "--run", tmp_path / "run", "x" * 50, "--max-new-tokens", "3")
    assert code == 0 and "keeping the last 32" in err
    code, out, err = cli(capsys, "sample", "gpt", "--run", tmp_path / "run", "naïve → café")
    assert code == 2 and "lacks '→'" in err and len(err.strip().splitlines()) == 1


def test_export_a_run_and_fine_tune_from_a_hugging_face_folder(tmp_path, capsys):
    from milestones.data.text import BPETokenizer

    _hf_folder(tmp_path / "hf", vocab=300)
    BPETokenizer.train("def f(x):\n    return x\n" * 200, 300).save(tmp_path / "hf" / "tokenizer.json")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("def f(x):\n    return x + 1\n" * 300)
    code, out, err = cli(capsys, "train", "gpt", "--preset", "tiny", "--init-from", tmp_path / "hf", "--data", corpus,
                         "--seq-len", "16", "--steps", "3", "--out", tmp_path / "ft", "--tensorboard", "false")
    assert code == 0, err
    meta = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert (meta["model"]["d_model"], meta["model"]["layers"], meta["model"]["vocab_size"]) == (48, 3, 300)
    code, out, err = cli(capsys, "export", "gpt", "--run", tmp_path / "ft", "--to", tmp_path / "exported")
    assert code == 0, err
    model = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "exported").eval()
    import milestones

    ours, _ = milestones.load(tmp_path / "ft")
    tokens = torch.randint(0, 300, (1, 12))
    with torch.no_grad():
        assert (model(tokens).logits - ours(tokens)).abs().max() < 1e-5
    code, out, err = cli(capsys, "export", "gpt", "--run", tmp_path / "ft", "--to", tmp_path / "exported")
    assert code == 2 and "not empty" in err
    import shutil

    shutil.rmtree(tmp_path / "hf")  # a fine-tuned run resumes from its own checkpoint alone
    code, out, err = cli(capsys, "train", "gpt", "--out", tmp_path / "ft", "--resume", "--steps", "5")
    assert code == 0 and "step 5" in out, err


def test_bad_text_is_one_line(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("café\n".encode("latin-1") * 100)
    short = tmp_path / "short.txt"
    short.write_text("abc\n" * 5)
    for path, message in ((empty, "is empty"), (latin, "is not UTF-8"), (short, "fewer than one window"),
                          (tmp_path / "nothing.txt", "does not exist")):
        code, out, err = cli(capsys, "train", "gpt", "--preset", "tiny", "--data", path, "--out", tmp_path / "r")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "r").exists()


def test_few_shot_scale_verdict_follows_its_rule():
    """The few-shot-scale verdict is computed from the measured accuracies: one-shot accuracy beyond
    counting (what guessing the most frequent value seen gives) rising with size and 20 points wider
    at the largest holds; an inversion beyond evaluation noise, a spread under 20 points, or a
    zero-shot accuracy off chance does not."""
    from milestones.core.claims import Context
    from milestones.gpt import claim as gpt_claim

    widths = gpt_claim.FEW_SHOT["small"]["widths"]
    counting = [13, 36, 68, 95]

    def verdict(acc_by_width):
        def runner(runs, workers, progress=None):
            out = []
            for r in runs:
                acc = acc_by_width[r.options["model.d_model"]]
                final = {f"acc_{s}shot": acc[s] / 100 for s in range(4)}
                final |= {f"counting_{s}shot": counting[s] / 100 for s in range(4)}
                out.append({"command": r.command(), "history": [], "final": final,
                            "probe": {"non_embedding": 1000 * r.options["model.d_model"]}})
            return out
        return gpt_claim.measure_few_shot(Context("small", [0], runner)).per_seed[0]

    plateau = [13, 36, 66, 92]
    jump = dict(zip(widths, (plateau, [13, 35, 66, 92], [13, 40, 70, 95], [13, 75, 90, 99])))
    got = verdict(jump)
    assert got["holds"] and [round(g) for g in got["beyond_counting"]] == [0, -1, 4, 39]
    inverted = jump | {widths[2]: [13, 80, 92, 99]}  # the third size well above the fourth
    assert not verdict(inverted)["holds"] and not verdict(inverted)["rises_with_size"]
    narrow = jump | {widths[3]: [13, 50, 75, 96]}  # rises, but only 14 points above the smallest
    assert verdict(narrow)["rises_with_size"] and not verdict(narrow)["holds"]
    off_chance = jump | {widths[0]: [25, 36, 66, 92]}
    assert not verdict(off_chance)["zero_shot_at_chance"] and not verdict(off_chance)["holds"]


def test_induction_verdict_follows_its_rule():
    """The induction verdict is computed from the measured accuracies on the repeated tokens: two
    layers at 60% or more and 40 points above one layer holds; two layers on the plateau, or one
    layer copying nearly as well, does not. A run that never left the plateau has no phase change."""
    from milestones.core.claims import Context
    from milestones.gpt import claim as gpt_claim

    def verdict(two, one):
        def runner(runs, workers, progress=None):
            out = []
            for r in runs:
                acc = (two if r.options["model.layers"] == 2 else one) / 100
                rows = [{"split": "eval", "step": s, "acc_repeat": a, "loss_repeat": 4.0}
                        for s, a in ((250, 0.05), (500, 0.1), (750, acc))]
                heads = {"previous": [[0.05, 0.6], [0.1, 0.1]], "induction": [[0.02, 0.03], [0.7, 0.2]]}
                out.append({"command": r.command(), "history": rows, "final": {"acc_repeat": acc, "acc_first": 0.02},
                            "probe": {"heads": heads}})
            return out
        return gpt_claim.measure_induction(Context("small", [0], runner)).per_seed[0]

    got = verdict(85, 12)
    assert got["holds"] and got["phase_change"] == 750
    assert got["previous_head"] == 0.6 and got["induction_head"] == 0.7
    assert not verdict(55, 12)["holds"]  # below 60%
    assert not verdict(70, 35)["holds"]  # only 35 points above one layer
    plateau = verdict(12, 11)
    assert not plateau["holds"] and plateau["phase_change"] is None


def test_head_scores_find_planted_heads():
    """A map attending one position back scores 1 as a previous-token head; one attending to the
    token to copy scores 1 as an induction head on the repeated tokens; uniform attention scores
    about 2 / T on both."""
    from milestones.data import repeats
    from milestones.tasks.in_context import attention_scores

    batch = repeats.sequences(torch.arange(8), 0, 32, 48, 8, 16)
    b, t = batch["x"].shape
    previous = torch.zeros(b, 1, t, t)
    previous[:, 0, 0, 0] = 1
    previous[:, 0, torch.arange(1, t), torch.arange(t - 1)] = 1
    induction = torch.eye(t).expand(b, 1, t, t).clone()  # elsewhere: attend to itself
    i, q = (batch["repeat"] >= 0).nonzero(as_tuple=True)
    induction[i, 0, q] = 0
    induction[i, 0, q, batch["source"][i, q]] = 1
    uniform = torch.ones(t, t).tril()
    uniform = (uniform / uniform.sum(-1, keepdim=True)).expand(b, 1, t, t)
    maps = torch.cat([previous, induction, uniform], 1)  # (B, 3, T, T): three heads
    prev, ind = attention_scores(maps, batch["repeat"], batch["source"])
    assert prev[0] == 1 and ind[1] == 1
    assert prev[1] == 0 and ind[0] < 0.2  # an induction head attends back by the lag, not by one
    assert 1 / t < prev[2] < 6 / t and ind[2] < 0.1


def test_claim_protocol_at_the_tiny_preset(tmp_path):
    tiny_claims("gpt", tmp_path)


@pytest.mark.slow
def test_reproduce_tiny_in_a_subprocess(tmp_path):
    r = run_cli("reproduce", "gpt", "--preset", "tiny", "--seeds", "1", "--out", tmp_path / "claims")
    assert r.returncode == 0, r.stderr[-2000:]
    for claim in ("scaling", "few-shot-scale", "induction"):
        evidence = json.loads((tmp_path / "claims" / claim / "evidence.json").read_text())
        assert evidence["preset"] == "tiny" and evidence["runs"] and f"{claim}:" in r.stdout


def test_sigterm_then_resume_equals_an_uninterrupted_run(tmp_path):
    """Dropout on and a cosine schedule, so the restored RNG, optimizer and schedule all matter;
    the resumed run reads the tokenizer saved with its checkpoint."""
    assert_sigterm_resume_is_exact("gpt", dict(steps=16, model=dict(dropout=0.1)), 7, tmp_path)


@pytest.mark.slow
def test_two_process_gloo_equals_one_process_and_accumulation(tmp_path):
    import os
    import subprocess

    from safetensors.torch import load_file

    from milestones.core import checkpoint

    args = ["train", "gpt", "--preset", "tiny", "--steps", "4", "--batch-size", "8", "--tensorboard", "false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = {"one": [sys.executable, "-m", "milestones", *args],
            "accum": [sys.executable, "-m", "milestones", *args, "--grad-accum", "2"],
            "two": [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29541",
                    "-m", "milestones", *args]}
    for name, command in runs.items():
        r = subprocess.run([*command, "--out", str(tmp_path / name)], env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
    weights = {n: load_file(str(checkpoint.latest(tmp_path / n / "ckpt") / "model.safetensors")) for n in runs}
    for k in weights["one"]:
        for other in ("two", "accum"):
            assert torch.allclose(weights["one"][k], weights[other][k], atol=1e-5), (other, k)


@pytest.mark.slow
def test_compile_trains_and_saves_plain_weights(tmp_path, capsys):
    """--compile true runs the training step through torch.compile; the checkpoint holds the
    model's own parameter names, so load, sample and export work as for an eager run."""
    code, out, err = cli(capsys, "train", "gpt", "--preset", "tiny", "--steps", "3", "--compile", "true",
                         "--out", tmp_path / "run", "--tensorboard", "false")
    assert code == 0, err
    import milestones

    model, cfg = milestones.load(tmp_path / "run")
    assert cfg.compile and not any("_orig_mod" in k for k in model.state_dict())


def test_in_context_tasks_train_and_report_accuracy_by_kind(tmp_path, capsys):
    """Generated in-context data is a task of its own: it trains from the command line, evaluates by
    kind of token, and refuses settings that do not fit in one line."""
    code, out, err = cli(capsys, "train", "gpt", "--preset", "tiny", "--dataset", "repeats", "--rep-vocab", "16",
                         "--rep-length", "32", "--rep-min", "4", "--rep-max", "8", "--steps", "40", "--out",
                         tmp_path / "rep", "--tensorboard", "false")
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "rep" / "metrics.jsonl").read_text().splitlines()]
    final = [r for r in rows if r["split"] == "eval"][-1]
    assert {"val_loss", "acc_repeat", "acc_first", "acc_other", "loss_repeat", "loss_first", "loss_other"} <= set(final)
    assert abs(final["loss_other"] - math.log(16)) < 0.3  # random tokens stay unpredictable
    assert "milestones evaluate gpt" in out and "milestones sample" not in out  # no text to prompt with
    code, out, err = cli(capsys, "train", "gpt", "--preset", "tiny", "--dataset", "keyvalue", "--kv-pairs", "8",
                         "--model.mlp", "false", "--steps", "20", "--out", tmp_path / "kv", "--tensorboard", "false")
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "kv" / "metrics.jsonl").read_text().splitlines()]
    assert {f"acc_{s}shot" for s in range(4)} <= set([r for r in rows if r["split"] == "eval"][-1])
    for args, words in ((["--rep-max", "40"], "does not fit twice"),
                        (["--model.block-size", "16"], "longer than the model's block size"),
                        (["--rep-min", "1"], "2 <= min <= max")):
        code, out, err = cli(capsys, "train", "gpt", "--preset", "tiny", "--dataset", "repeats", *args)
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_hub_names_come_from_the_local_hugging_face_cache_offline(tmp_path, capsys, monkeypatch):
    """`--init-from NAME` and `--pretrained NAME` take a Hugging Face Hub name: offline, the model is read
    from the local Hugging Face cache (here one the test builds, laid out as huggingface_hub lays it
    out); a name the cache lacks is one line saying how to get it; a repository with only pickled
    weights is refused."""
    from milestones.data.text import BPETokenizer

    hub = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)

    def cached(repo: str):
        commit = "0123456789abcdef0123456789abcdef01234567"
        root = hub / f"models--{repo.replace('/', '--')}"
        (root / "refs").mkdir(parents=True)
        (root / "refs" / "main").write_text(commit)
        return root / "snapshots" / commit

    snap = cached("tiny-org/tiny-gpt2")
    _hf_folder(snap, vocab=300)
    BPETokenizer.train("def f(x):\n    return x\n" * 200, 300).save(snap / "tokenizer.json")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("def f(x):\n    return x + 1\n" * 300)
    code, _, err = cli(capsys, "train", "gpt", "--preset", "tiny", "--init-from", "tiny-org/tiny-gpt2", "--data",
                       corpus, "--seq-len", "16", "--steps", "2", "--out", tmp_path / "ft", "--tensorboard", "false")
    assert code == 0, err
    meta = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert (meta["model"]["d_model"], meta["model"]["layers"]) == (48, 3)
    code, out, err = cli(capsys, "sample", "gpt", "--pretrained", "tiny-org/tiny-gpt2", "def ", "--max-new-tokens", "4")
    assert code == 0, err
    pickled = cached("someone/pickled")
    pickled.mkdir(parents=True)
    (pickled / "config.json").write_text("{}")
    (pickled / "pytorch_model.bin").write_bytes(b"not loaded")
    for name, message in (("nobody/missing", "not in the local Hugging Face cache"),
                          ("someone/pickled", "no safetensors weights")):
        code, _, err = cli(capsys, "train", "gpt", "--preset", "tiny", "--init-from", name, "--out", tmp_path / "no")
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "no").exists()


def test_a_hub_name_without_huggingface_hub_is_one_line(tmp_path, capsys, monkeypatch):
    """The Hub is optional: without its package a Hub name is one line naming the pip command."""
    import builtins

    real_import = builtins.__import__

    def no_hub(name, *args, **kwargs):
        if name.startswith("huggingface_hub"):
            raise ImportError("No module named 'huggingface_hub'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_hub)
    code, _, err = cli(capsys, "train", "gpt", "--preset", "tiny", "--init-from", "someone/model",
                       "--out", tmp_path / "no")
    assert code == 2 and "pip install huggingface_hub" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "no").exists()
