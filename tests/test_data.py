"""Data with no download and the loaders for the formats a user brings, on small files written here:
images (MNIST IDX, CIFAR-10 binary and python, ImageFolder) and parallel text (the numbers corpus,
TSV and paired files), tokenizers, length-bucketed batches and BLEU."""

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from milestones.data import images
from milestones.data import translation as tr
from milestones.errors import UserError


def test_embedded_sets():
    d = images.digits()
    assert d.shape == (1, 8, 8) and d.n_classes == 10 and len(d.y_train) + len(d.y_test) == 1797
    m = images.mnist5k()
    assert m.shape == (1, 28, 28) and len(m.y_train) == 4000 and len(m.y_test) == 1000
    assert torch.bincount(m.y_test).tolist() == [100] * 10  # stratified, fixed
    x, y = m.get(torch.arange(8))
    assert x.dtype == torch.float32 and abs(float(m.all("train")[0].mean())) < 0.05
    s = images.mnist1d()
    assert s.shape == (1, 40) and len(s.y_train) == 4000 and len(s.y_test) == 1000


def _idx(path, arr, code=0x08, gz=False):
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(">u1" if code == 0x08 else arr.dtype).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_folder(tmp_path, gz):
    rng = np.random.default_rng(0)
    sfx = ".gz" if gz else ""
    _idx(tmp_path / f"train-images-idx3-ubyte{sfx}", rng.integers(0, 255, (20, 28, 28)), gz=gz)
    _idx(tmp_path / f"train-labels-idx1-ubyte{sfx}", rng.integers(0, 10, 20), gz=gz)
    _idx(tmp_path / f"t10k-images-idx3-ubyte{sfx}", rng.integers(0, 255, (6, 28, 28)), gz=gz)
    _idx(tmp_path / f"t10k-labels-idx1-ubyte{sfx}", np.arange(6) % 10, gz=gz)
    d = images.load_path(tmp_path)
    assert d.shape == (1, 28, 28) and len(d.y_train) == 20 and d.y_test.tolist() == [0, 1, 2, 3, 4, 5]


def test_truncated_idx_is_a_clear_error(tmp_path):
    _idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 28, 28)))
    raw = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw[:-100])
    with pytest.raises(UserError, match="truncated"):
        images.read_idx(tmp_path / "train-images-idx3-ubyte")


def test_cifar_binary(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1.bin", 10), ("test_batch.bin", 4)):
        rows = np.concatenate([rng.integers(0, 10, (n, 1)), rng.integers(0, 255, (n, 3072))], axis=1)
        (tmp_path / name).write_bytes(rows.astype(np.uint8).tobytes())
    d = images.load_path(tmp_path)
    assert d.shape == (3, 32, 32) and len(d.y_train) == 10 and len(d.y_test) == 4


def test_cifar_python_through_the_restricted_unpickler(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1", 10), ("test_batch", 4)):
        batch = {b"data": rng.integers(0, 255, (n, 3072)).astype(np.uint8), b"labels": list(range(n))}
        (tmp_path / name).write_bytes(pickle.dumps(batch, protocol=2))
    d = images.load_path(tmp_path)
    assert d.shape == (3, 32, 32) and d.y_test.tolist() == [0, 1, 2, 3]


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_restricted_unpickler_refuses_code(tmp_path, capsys):
    (tmp_path / "data_batch_1").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": [0]}))
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": [0]}))
    with pytest.raises(UserError, match="refusing"):
        images.load_path(tmp_path)
    assert "must never run" not in capsys.readouterr().out


def test_image_folder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3)).astype(np.uint8)).save(tmp_path / c / f"{i}.png")
    d = images.load_path(tmp_path)
    assert d.shape == (3, 12, 12) and d.n_classes == 2 and len(d.y_train) == 16 and len(d.y_test) == 4
    d = images.load(name="mnist5k", path=str(tmp_path), size=8)
    assert d.shape == (3, 8, 8)


def test_missing_and_bad_paths(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        images.load_path(tmp_path / "nope")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        images.load_path(tmp_path / "f.txt")
    with pytest.raises(UserError, match="no images"):
        images.load_path(tmp_path.joinpath("empty").mkdir() or tmp_path / "empty")


# -- translation: the numbers corpus, user files, tokenizers, batches, BLEU -------------------------


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
    auto, word = tr.train_tokenizer(texts, "auto", 200), tr.train_tokenizer(texts, "word", 200)
    assert auto.get_vocab_size() == word.get_vocab_size()
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
