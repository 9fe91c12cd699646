"""BERT (being built: the model and its Hugging Face interop so far): parameter counts against
transformers', parity of the encoder, pooler, MLM and NSP heads with tiny random reference models,
the TensorFlow checkpoints' LayerNorm names, the export round trip, padding, and bad folders."""


import pytest
import torch

from milestones.bert import convert
from milestones.bert.model import NAMED, Bert, BertConfig, encoder_parameters
from milestones.errors import UserError

from conftest import bad_reference_folders

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


def test_encoder_and_pooler_equal_bert_model_with_padding_and_two_segments(tmp_path):
    torch.manual_seed(0)
    ref = transformers.BertModel(_hf_config()).eval()
    ref.save_pretrained(tmp_path)
    ours = convert.from_hf(tmp_path)
    tokens, types, mask = _inputs()
    with torch.no_grad():
        out = ref(input_ids=tokens, token_type_ids=types, attention_mask=mask)
        h = ours(tokens, types, pad_mask=mask == 0)
        keep = mask.bool()
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
    ref.save_pretrained(tmp_path)
    ours = convert.from_hf(tmp_path)
    tokens, types, mask = _inputs()
    with torch.no_grad():
        out = ref(input_ids=tokens, token_type_ids=types, attention_mask=mask)
        h = ours(tokens, types, pad_mask=mask == 0)
        keep = mask.bool()
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
    for text in ("The quick brown fox, naïve café.", "Don't re-use 42 UNSEEN words!", TEXT[:60]):
        assert ours.encode(text) == ref(text, add_special_tokens=False)["input_ids"]
    ours.save(tmp_path / "tokenizer.json")
    again = load_tokenizer(tmp_path / "tokenizer.json")
    assert again.kind == "wordpiece" and again.encode(TEXT[:60]) == ours.encode(TEXT[:60])
    assert ours.decode(ours.encode("the quick brown fox")) == "the quick brown fox"


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
