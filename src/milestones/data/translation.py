"""Parallel text with no download, loaders for the formats a user brings, tokenizers, batches, BLEU.

Embedded default, `numbers`: integers written as English words, paired with the same integer in
another language by the num2words package (French by default; German, Korean or any language
num2words knows). The number of digits is drawn uniformly from 1 to `max_digits`, then the
number uniformly among those with that many digits: 12 digits give sentences of 1 to 19 English
words ("nine hundred and ninety-nine billion, ..."), 15 digits up to 24. A hash of the number
decides its split (5% test, 5% valid, 90% train), so no number is in two splits. French
"quatre-vingt-dix-neuf" (4 x 20 + 19), German units-before-tens ("neunundneunzig") and Korean
grouping by ten thousand (억, 만) give real reordering to learn.
num2words costs about 1 ms per pair, so a corpus is generated once and cached as TSV.

Formats a user brings with `--data PATH`:
  a TSV file      `source<TAB>target` per line (Tatoeba/Anki format; extra columns ignored),
                  split 90/5/5 by a hash of the source sentence
  a folder        train.tsv (+ valid.tsv or dev.tsv, test.tsv), or paired files
                  train.<src> / train.<tgt> with valid|val|dev and test beside them (the
                  Multi30k/WMT layout); a missing valid or test split is cut from train

Tokenization: one Hugging Face `tokenizers` tokenizer over both languages (the Transformer
shares its embeddings; a joint vocabulary serves both models), trained on the training split
only. Words are split at spaces (kept as the Metaspace mark "▁") and punctuation is isolated,
so decoding gives back the text exactly. `kind="word"` keeps whole words; `kind="bpe"` learns
byte-pair merges up to `vocab_size`; `auto` is word-level when the training split's distinct
words fit in `vocab_size`, else BPE. Special ids: PAD 0, BOS 1, EOS 2, UNK 3.

Batches: examples are grouped by length (a pool of 50 batches at a time is sorted by source
length and cut into batches, whose order is then shuffled), so padding stays small; the
batch at any step is a pure function of (seed, step), as the trainer requires.

Scores: sacrebleu's corpus BLEU and chrF on detokenized text, hypotheses first and references
second, with sacrebleu's signature kept as evidence.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from ..paths import cache_dir

SPECIALS = ["[PAD]", "[BOS]", "[EOS]", "[UNK]"]
PAD, BOS, EOS, UNK = 0, 1, 2, 3
BUCKETS = ((1, 5), (6, 10), (11, 15), (16, 10_000))  # source words, for BLEU by length


@dataclass
class Parallel:
    """Sentence pairs (source, target) in three disjoint splits."""

    name: str
    train: list[tuple[str, str]]
    valid: list[tuple[str, str]]
    test: list[tuple[str, str]]


# -- the embedded corpus ---------------------------------------------------------------------------


def _num2words_langs() -> list[str]:
    from num2words import CONVERTER_CLASSES

    return sorted(CONVERTER_CLASSES)


def _split_of(key: str, test: int = 5, valid: int = 5) -> str:
    h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") % 100
    return "test" if h < test else "valid" if h < test + valid else "train"


def numbers(lang: str = "fr", n_train: int = 20_000, n_valid: int = 500, n_test: int = 1000,
            max_digits: int = 12, seed: int = 0) -> Parallel:
    """English number words -> `lang`, generated (or read from the cache)."""
    if lang not in _num2words_langs():
        raise UserError(f"num2words has no language {lang!r}; it has {', '.join(_num2words_langs())}")
    if not 1 <= max_digits <= 15:
        raise UserError("--max-digits must be between 1 and 15")
    name = f"numbers-en-{lang}-{n_train}-{n_valid}-{n_test}-{max_digits}-{seed}"
    path = cache_dir() / f"{name}.tsv"
    if path.exists():
        splits: dict[str, list[tuple[str, str]]] = {"train": [], "valid": [], "test": []}
        for line in path.read_text(encoding="utf-8").splitlines():
            split, src, tgt = line.split("\t")
            splits[split].append((src, tgt))
        return Parallel(f"numbers en-{lang}", splits["train"], splits["valid"], splits["test"])
    from num2words import num2words

    want = {"train": n_train, "valid": n_valid, "test": n_test}
    splits = {k: [] for k in want}
    seen: set[int] = set()
    rng = random.Random(seed)
    for _ in range(50 * (n_train + n_valid + n_test)):
        if all(len(splits[k]) >= want[k] for k in want):
            break
        digits = rng.randint(1, max_digits)
        n = rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10 ** digits - 1)
        split = _split_of(str(n))
        if n in seen or len(splits[split]) >= want[split]:
            continue
        seen.add(n)
        splits[split].append((num2words(n, lang="en"), num2words(n, lang=lang)))
    short = [k for k in want if len(splits[k]) < want[k]]
    if short:
        raise UserError(f"only {len(seen)} distinct numbers up to {max_digits} digits: ask for fewer examples "
                        "or raise --max-digits")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{k}\t{s}\t{t}\n" for k in want for s, t in splits[k]), encoding="utf-8")
    tmp.replace(path)
    return Parallel(f"numbers en-{lang}", splits["train"], splits["valid"], splits["test"])


# -- formats a user brings -------------------------------------------------------------------------


def read_tsv(path: Path) -> list[tuple[str, str]]:
    """`source<TAB>target[<TAB>...]` lines; blank lines skipped; anything else is one clear error."""
    pairs = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) < 2 or not cols[0].strip() or not cols[1].strip():
            raise UserError(f"{path}:{i}: expected 'source<TAB>target', got {line[:60]!r}")
        pairs.append((cols[0].strip(), cols[1].strip()))
    if not pairs:
        raise UserError(f"{path} has no sentence pairs")
    return pairs


def read_pair_files(src: Path, tgt: Path) -> list[tuple[str, str]]:
    """Two files, one sentence per line, line i of one the translation of line i of the other."""
    try:
        a = src.read_text(encoding="utf-8").splitlines()
        b = tgt.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise UserError(f"{src} / {tgt}: not UTF-8 text ({e.reason})") from None
    if len(a) != len(b):
        raise UserError(f"{src} has {len(a)} lines but {tgt} has {len(b)}: paired files must align line by line")
    pairs = [(s.strip(), t.strip()) for s, t in zip(a, b) if s.strip() and t.strip()]
    if not pairs:
        raise UserError(f"{src} and {tgt} have no sentence pairs")
    return pairs


def _cut(pairs: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {"train": [], "valid": [], "test": []}
    for p in pairs:
        out[_split_of(p[0])].append(p)
    if not out["train"] or not out["test"]:
        raise UserError(f"{len(pairs)} sentence pairs are too few to cut into train/valid/test; bring more")
    return out


def _first(folder: Path, names: list[str]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def read_user(path: str, src_lang: str = "", tgt_lang: str = "") -> Parallel:
    p = Path(path)
    if p.is_file():
        return Parallel(p.name, **_cut(read_tsv(p)))
    if not p.is_dir():
        raise UserError(f"--data {path}: no such file or folder")
    train = _first(p, ["train.tsv"])
    if train is not None:
        splits = {"train": read_tsv(train)}
        for split, names in (("valid", ["valid.tsv", "dev.tsv", "val.tsv"]), ("test", ["test.tsv"])):
            f = _first(p, names)
            if f is not None:
                splits[split] = read_tsv(f)
    else:
        suffixes = sorted(f.suffix[1:] for f in p.glob("train.*"))
        if src_lang and tgt_lang:
            suffixes = [src_lang, tgt_lang]
        if len(suffixes) != 2 or not all((p / f"train.{s}").is_file() for s in suffixes):
            raise UserError(f"{path} has neither train.tsv nor two paired files train.<src>/train.<tgt> "
                            f"(found {', '.join('train.' + s for s in suffixes) or 'none'}); name the languages "
                            "with --src-lang and --tgt-lang")
        s, t = (src_lang, tgt_lang) if src_lang else suffixes
        splits = {"train": read_pair_files(p / f"train.{s}", p / f"train.{t}")}
        for split, names in (("valid", ["valid", "val", "dev"]), ("test", ["test"])):
            for n in names:
                if (p / f"{n}.{s}").is_file() and (p / f"{n}.{t}").is_file():
                    splits[split] = read_pair_files(p / f"{n}.{s}", p / f"{n}.{t}")
                    break
    if "valid" not in splits or "test" not in splits:  # cut the missing ones from train
        cut = _cut(splits["train"])
        splits["train"] = cut["train"]
        for k in ("valid", "test"):
            splits.setdefault(k, cut[k])
    if not splits["valid"]:
        splits["valid"] = splits["test"][:]
    return Parallel(p.name, splits["train"], splits["valid"], splits["test"])


_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()) if i > 1}
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9, "trillion": 10**12}


def number_of(words: str) -> int | None:
    """The integer English number words name, as num2words writes them ("three hundred and
    forty-one thousand, two", commas optional); None for anything else (checked by writing the
    number back)."""
    total, group = 0, 0
    tokens = words.lower().replace(",", " ").replace("-", " ").split()
    if not tokens:
        return None
    for t in tokens:
        if t in _UNITS:
            group += _UNITS[t]
        elif t in _TENS:
            group += _TENS[t]
        elif t == "hundred":
            group *= 100
        elif t in _SCALES:
            total, group = total + group * _SCALES[t], 0
        elif t != "and":
            return None
    n = total + group
    from num2words import num2words

    def plain(text: str) -> str:
        return " ".join(text.replace(",", " ").split())

    return n if plain(num2words(n, lang="en")) == plain(words.lower()) else None


def reference_translation(sentence: str, lang: str) -> str | None:
    """The embedded corpus's translation of English number words (num2words into `lang`), or None
    when the sentence is not a number as the corpus writes them."""
    n = number_of(sentence)
    if n is None:
        return None
    from num2words import num2words

    return num2words(n, lang=lang)


def unknown_words(tok: Any, sentence: str) -> list[str]:
    """The words of `sentence` the tokenizer has never seen (they read as [UNK])."""
    return [w for w in sentence.split() if UNK in tok.encode(w).ids]


def load(dataset: str, data: str = "", lang: str = "fr", src_lang: str = "", tgt_lang: str = "",
         max_digits: int = 12, n_train: int = 20_000) -> Parallel:
    if data:
        return read_user(data, src_lang, tgt_lang)
    if dataset != "numbers":
        raise UserError(f"unknown translation data set {dataset!r}; the embedded one is 'numbers'")
    return numbers(lang, n_train=n_train, max_digits=max_digits)


# -- tokenization ------------------------------------------------------------------------------------


def _pre_tokenizer():
    from tokenizers import pre_tokenizers

    return pre_tokenizers.Sequence([pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation("isolated")])


def train_tokenizer(texts: list[str], kind: str = "auto", vocab_size: int = 8000):
    """A tokenizer trained on `texts` (both languages of the training split)."""
    from tokenizers import Tokenizer, decoders, models, trainers

    if kind == "auto":
        pre = _pre_tokenizer()
        words = {w for t in texts for w, _ in pre.pre_tokenize_str(t)}
        kind = "word" if len(words) + len(SPECIALS) <= vocab_size else "bpe"
    if kind == "word":
        tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        trainer: Any = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False)
    elif kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token="[UNK]"))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False)
    else:
        raise UserError(f"unknown tokenizer kind {kind!r}; kinds are auto, word, bpe")
    tok.pre_tokenizer = _pre_tokenizer()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(texts, trainer)
    assert [tok.token_to_id(s) for s in SPECIALS] == [PAD, BOS, EOS, UNK]
    return tok


def load_tokenizer(path: Path):
    """A run's saved tokenizer, or one line saying why it cannot be used."""
    from tokenizers import Tokenizer

    if not path.is_file():
        raise UserError(f"{path} is missing: the run's tokenizer is saved beside its weights")
    try:
        tok = Tokenizer.from_file(str(path))
    except Exception as e:  # noqa: BLE001 - the library raises plain Exceptions for damaged files
        raise UserError(f"{path} is damaged: {str(e).splitlines()[0][:120]}") from None
    if [tok.token_to_id(t) for t in SPECIALS] != [PAD, BOS, EOS, UNK]:
        raise UserError(f"{path} is not a tokenizer of this program (its special tokens differ)")
    return tok


def encode(tok, texts: list[str], max_len: int = 0) -> list[list[int]]:
    """Token ids of each text (no BOS/EOS), cut to `max_len` tokens if max_len > 0."""
    ids = [e.ids for e in tok.encode_batch(texts)]
    return [x[:max_len] for x in ids] if max_len else ids


def decode(tok, ids: list[list[int]]) -> list[str]:
    """Detokenized text; stops at the first EOS, drops PAD and BOS."""
    out = []
    for seq in ids:
        keep = []
        for i in seq:
            if i == EOS:
                break
            if i not in (PAD, BOS):
                keep.append(i)
        out.append(tok.decode(keep))
    return out


# -- batches -------------------------------------------------------------------------------------------


def pad(seqs: list[list[int]], bos: bool = False, eos: bool = False) -> torch.Tensor:
    """(B, T) int64 padded with PAD on the right, optionally framed by BOS/EOS."""
    seqs = [([BOS] if bos else []) + s + ([EOS] if eos else []) for s in seqs]
    width = max(1, max(len(s) for s in seqs))
    out = torch.full((len(seqs), width), PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.tensor(s, dtype=torch.long)
    return out


def collate(src: list[list[int]], tgt: list[list[int]]) -> dict[str, torch.Tensor]:
    """src (B, S) ending in EOS; tgt_in (B, T) = BOS y; tgt_out (B, T) = y EOS (teacher forcing)."""
    return {"src": pad(src, eos=True), "tgt_in": pad(tgt, bos=True), "tgt_out": pad(tgt, eos=True)}


class LengthBatches:
    """Global batches of similar source length for any step (a sampler, like core.task.EpochSampler)."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int, pool: int = 50):
        if len(lengths) < batch_size:
            raise UserError(f"batch size {batch_size} is larger than the training split ({len(lengths)} pairs); "
                            "lower --batch-size")
        self.lengths = torch.tensor(lengths)
        self.batch_size, self.seed, self.pool = batch_size, seed, pool
        self.per_epoch = len(lengths) // batch_size
        self._epoch, self._batches = -1, torch.empty(0)

    def _epoch_batches(self, epoch: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        perm = torch.randperm(len(self.lengths), generator=g)[:self.per_epoch * self.batch_size]
        chunks = []
        for part in perm.split(self.pool * self.batch_size):
            order = torch.sort(self.lengths[part], stable=True).indices
            chunks.append(part[order])
        batches = torch.cat(chunks).view(self.per_epoch, self.batch_size)
        return batches[torch.randperm(self.per_epoch, generator=g)]

    def global_batch(self, step: int) -> torch.Tensor:
        epoch, i = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._batches, self._epoch = self._epoch_batches(epoch), epoch
        return self._batches[i]


# -- scores ------------------------------------------------------------------------------------------


def scores(hyps: list[str], refs: list[str]) -> dict[str, Any]:
    """Corpus BLEU and chrF (sacrebleu, default settings) with their signatures."""
    import sacrebleu

    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    b = bleu.corpus_score(hyps, [refs])
    c = chrf.corpus_score(hyps, [refs])
    return {"bleu": b.score, "chrf": c.score, "bleu_signature": str(bleu.get_signature()),
            "chrf_signature": str(chrf.get_signature())}


def bucket_of(source: str) -> int:
    n = len(source.split())
    return next(i for i, (lo, hi) in enumerate(BUCKETS) if lo <= n <= hi)


def bucket_name(i: int) -> str:
    lo, hi = BUCKETS[i]
    return f"{lo}-{hi}" if hi < 10_000 else f"{lo}+"


def bleu_by_length(sources: list[str], hyps: list[str], refs: list[str]) -> dict[str, dict[str, Any]]:
    """BLEU and chrF per source-length bucket (in words): {"1-5": {"bleu": .., "chrf": .., "n": ..}, ...}.
    BLEU here uses sacrebleu's effective order: a bucket of sentences shorter than four words has
    no 4-grams, and plain BLEU would call a perfect translation of them 0."""
    import sacrebleu

    out = {}
    for i in range(len(BUCKETS)):
        sel = [k for k, s in enumerate(sources) if bucket_of(s) == i]
        if sel:
            h, r = [hyps[k] for k in sel], [[refs[k] for k in sel]]
            bleu = sacrebleu.metrics.BLEU(effective_order=True)
            b = bleu.corpus_score(h, r)
            out[bucket_name(i)] = {"bleu": b.score, "chrf": sacrebleu.metrics.CHRF().corpus_score(h, r).score,
                                   "n": len(sel), "signature": str(bleu.get_signature())}
    return out
