"""Text for language models with no download, shared by GPT and BERT.

The embedded corpus is Python's own standard library, built exactly so (results are then
comparable with any other implementation that follows the recipe):

    every *.py under sysconfig.get_paths()["stdlib"], walked in sorted order (directories sorted
    too), skipping site-packages, __pycache__ and any directory named idle_test or starting with
    "test"; each file decoded as UTF-8 (undecodable ones skipped); concatenated with no separator;
    the first 90% of the characters is training text, the last 10% validation.

On Python 3.11.7: 734 files, 12,117,233 characters, 222 distinct characters. A user's text comes
from `--data FILE_OR_FOLDER` (.txt files, a folder walked in sorted order), split the same way.

Tokenizers: `CharTokenizer` (one id per character; the default of the small presets),
`BPETokenizer`, GPT-2's byte-level BPE through Hugging Face `tokenizers`, trained on the training
text or read from a GPT-2 style `vocab.json` + `merges.txt` or a `tokenizer.json` a user brings,
and `WordPieceTokenizer`, BERT's, trained or read from a `vocab.txt`.
Token ids are written once to `train.bin` / `val.bin` (uint16 memmaps, as nanoGPT's) in the data
cache, under a key that hashes the text and the tokenizer, and memory-mapped from then on.
"""

from __future__ import annotations

import ast
import hashlib
import heapq
import json
import os
import re
import shutil
import sysconfig
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..core.checkpoint import read_json
from ..errors import UserError
from ..paths import cache_dir

TRAIN_FRACTION = 0.9
ENDOFTEXT = "<|endoftext|>"


# ---------------------------------------------------------------------------------------------
# Corpora.


def _skipped(directory: str) -> bool:
    return directory in ("site-packages", "__pycache__", "idle_test") or directory.startswith("test")


def stdlib_files(root: str | Path | None = None) -> list[Path]:
    """The standard library's source files, in the corpus's order."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    files: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not _skipped(d))  # os.walk descends in this order
        files += [Path(folder) / n for n in sorted(names) if n.endswith(".py")]
    return files


def stdlib_text(root: str | Path | None = None) -> str:
    """The embedded corpus: the standard library's source, concatenated."""
    parts = []
    for path in stdlib_files(root):
        try:
            parts.append(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
    return "".join(parts)


def docstrings(root: str | Path | None = None) -> list[tuple[str, str]]:
    """Every docstring of the standard library (module, class, function; the corpus's files, in
    its order) with the package it comes from: the first folder under the library, or the
    module's name for a single file (`email`, `asyncio`, `json`, `argparse`, ...)."""
    base = Path(root or sysconfig.get_paths()["stdlib"])
    out = []
    for path in stdlib_files(base):
        parsed = _source(path)
        if parsed is None:
            continue
        tree = parsed[1]
        rel = path.relative_to(base).parts
        package = rel[0] if len(rel) > 1 else path.stem
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and doc.strip():
                    out.append((package, doc.strip()))
    return out


def _source(path: Path) -> tuple[str, ast.Module] | None:
    """A file's text and syntax tree, or None when it cannot be read or parsed."""
    try:
        text = path.read_bytes().decode("utf-8")
        return text, ast.parse(text)
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
        return None


def english_documents(root: str | Path | None = None) -> list[str]:
    """English that ships with Python, as documents (BERT's embedded corpus): for each file of the
    stdlib corpus, its docstrings and its comments in the order they appear (consecutive comment
    lines joined into one paragraph), then every `pydoc_data` help topic as a document of its own."""
    import io
    import tokenize
    from pydoc_data.topics import topics

    docs = []
    for path in stdlib_files(root):
        parsed = _source(path)
        if parsed is None:
            continue
        source, tree = parsed
        found: list[tuple[int, str]] = []  # (line, paragraph)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and doc.strip():
                    found.append((node.body[0].lineno, doc.strip()))
        comment, start, last = [], 0, -2
        try:
            for tok in tokenize.generate_tokens(io.StringIO(source).readline):
                if tok.type != tokenize.COMMENT:
                    continue
                text = tok.string.lstrip("#").strip()
                line = tok.start[0]
                if line != last + 1 and comment:
                    found.append((start, " ".join(comment)))
                    comment = []
                if text and not text.startswith(("!", "-*-")):
                    if not comment:
                        start = line
                    comment.append(text)
                last = line
        except (tokenize.TokenError, SyntaxError):
            pass
        if comment:
            found.append((start, " ".join(comment)))
        if found:
            docs.append("\n\n".join(text for _, text in sorted(found, key=lambda f: f[0])))
    return docs + [topics[name].strip() for name in sorted(topics)]


def cached(name: str, build: Any, root: str | Path | None = None) -> Any:
    """`build(root)` (JSON-able), computed once per Python installation and kept in the data cache
    (the English documents take seconds to parse). A file written by another process at the same
    time is the same; a damaged one is built again."""
    base = str(Path(root or sysconfig.get_paths()["stdlib"]).resolve())
    key = hashlib.sha256(f"{base}|{sysconfig.get_python_version()}|{name}|1".encode()).hexdigest()[:16]
    path = cache_dir() / "text" / f"{name}-{key}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
    value = build(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value))
    tmp.replace(path)
    return value


def english_corpus() -> list[str]:
    """`english_documents()` of this Python, cached."""
    return cached("english", english_documents)


def docstring_corpus() -> list[tuple[str, str]]:
    """`docstrings()` of this Python, cached."""
    return [(p, d) for p, d in cached("docstrings", docstrings)]


def user_documents(path: str | Path) -> list[str]:
    """A user's documents: each .txt file is one, and blank lines separate documents within a
    file; one line of error as for `user_text`."""
    text = user_text(path)
    p = Path(path).expanduser()
    files = sorted(f for f in p.rglob("*.txt") if f.is_file()) if p.is_dir() else [p]
    docs = []
    for f in files:
        for part in re.split(r"\n\s*\n", f.read_text(encoding="utf-8")):
            if part.strip():
                docs.append(part.strip())
    if not docs:  # user_text has already refused an empty corpus
        docs = [text.strip()]
    return docs


def sentences(document: str) -> list[str]:
    """A document's sentences: paragraphs (blank-line separated) cut after . ! or ? followed by
    white space and a capital letter, an opening bracket or a quote."""
    out = []
    for para in re.split(r"\n\s*\n", document):
        para = " ".join(para.split())
        out += [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z(\"'`])", para) if s]
    return out


def user_text(path: str | Path) -> str:
    """A user's .txt file, or every .txt file under a folder (sorted), concatenated; one line of
    error for a missing path, an empty corpus or a file that is not UTF-8."""
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"--data {p} does not exist")
    files = sorted(f for f in p.rglob("*.txt") if f.is_file()) if p.is_dir() else [p]
    if not files:
        raise UserError(f"--data {p} holds no .txt files")
    parts = []
    for f in files:
        try:
            parts.append(f.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as e:
            raise UserError(f"{f} is not UTF-8 text (byte {e.start}); convert it, e.g. iconv -t utf-8") from None
    text = "".join(parts)
    if not text.strip():
        raise UserError(f"--data {p} is empty")
    return text


def split(text: str) -> tuple[str, str]:
    """(training text, validation text): the first 90% of the characters and the rest."""
    cut = int(len(text) * TRAIN_FRACTION)
    return text[:cut], text[cut:]


# ---------------------------------------------------------------------------------------------
# Tokenizers.


class Tokenizer(Protocol):
    kind: str

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...

    def save(self, path: Path) -> None: ...


class CharTokenizer:
    """One id per character of a fixed alphabet (the corpus's distinct characters, sorted)."""

    kind = "char"

    def __init__(self, chars: str):
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def of(cls, text: str) -> CharTokenizer:
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        missing = sorted({c for c in text if c not in self.index})
        if missing:
            shown = ", ".join(repr(c) for c in missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise UserError(f"the character vocabulary ({self.vocab_size} characters) lacks {shown}")
        return [self.index[c] for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"type": "char", "chars": self.chars}))


class BPETokenizer:
    """GPT-2's byte-level BPE (Radford et al. 2019 §2.2): any text is encodable, no unknown token."""

    kind = "bpe"

    def __init__(self, tok: Any):
        self.tok = tok

    @classmethod
    def train(cls, text: str, vocab_size: int) -> BPETokenizer:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        tok = HFTokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[ENDOFTEXT], show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(_chunks(text), trainer)
        return cls(tok)

    @classmethod
    def from_files(cls, path: str | Path) -> BPETokenizer:
        """A `tokenizer.json`, or a folder with one, or with GPT-2's `vocab.json` + `merges.txt`."""
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers

        p = Path(path).expanduser()
        if not p.exists():
            raise UserError(f"tokenizer {p} does not exist")
        if p.is_dir() and (p / "tokenizer.json").is_file():
            p = p / "tokenizer.json"
        try:
            if p.is_file():
                return cls(HFTokenizer.from_file(str(p)))
            if (p / "vocab.json").is_file() and (p / "merges.txt").is_file():
                tok = HFTokenizer(models.BPE.from_file(str(p / "vocab.json"), str(p / "merges.txt")))
                tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
                tok.decoder = decoders.ByteLevel()
                return cls(tok)
        except Exception as e:  # noqa: BLE001 - the library raises plain Exceptions for damaged files
            raise UserError(f"{p} is not a readable tokenizer: {str(e).splitlines()[0][:120]}") from None
        raise UserError(f"{p}: no tokenizer.json, nor vocab.json + merges.txt")

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return [i for enc in self.tok.encode_batch(_chunks(text)) for i in enc.ids]

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids)

    def save(self, path: Path) -> None:
        self.tok.save(str(path))


def learn_pieces(counts: Mapping[str, int], size: int, specials: tuple[str, ...] = ()) -> list[str]:
    """WordPiece's vocabulary learned from word counts, as Wu et al. 2016 and tokenizers' trainer build it:
    start from the characters (a word's first as it is, the others as continuations "##c"), then
    merge, again and again, the pair of adjacent pieces that occurs most often in the corpus, until
    the vocabulary holds `size` pieces (the specials first). A tie goes to the pair that sorts first,
    so the result is a function of the counts alone. Pair counts are updated only in the words a
    merge touches, and the most frequent pair comes off a heap (stale entries skipped)."""
    words = [([w[0], *(f"##{c}" for c in w[1:])], n) for w, n in sorted(counts.items()) if w]
    vocab = list(specials) + sorted({p for syms, _ in words for p in syms} - set(specials))
    seen = set(vocab)
    pairs: dict[tuple[str, str], int] = defaultdict(int)
    where: dict[tuple[str, str], set[int]] = defaultdict(set)
    for i, (syms, n) in enumerate(words):
        for pair in zip(syms, syms[1:]):
            pairs[pair] += n
            where[pair].add(i)
    heap = [(-n, pair) for pair, n in pairs.items()]
    heapq.heapify(heap)
    while len(vocab) < size and heap:
        n, pair = heapq.heappop(heap)
        if pairs.get(pair, 0) != -n or n == 0:
            continue  # a count that has changed since it was pushed
        a, b = pair
        merged = a + b[2:]  # b is always a continuation "##..."
        if merged not in seen:
            seen.add(merged)
            vocab.append(merged)
        changed = set()
        for i in sorted(where.pop(pair)):
            syms, count = words[i]
            for old in zip(syms, syms[1:]):
                pairs[old] -= count
                where[old].discard(i)
                changed.add(old)
            out, k = [], 0
            while k < len(syms):
                if k + 1 < len(syms) and syms[k] == a and syms[k + 1] == b:
                    out.append(merged)
                    k += 2
                else:
                    out.append(syms[k])
                    k += 1
            words[i] = (out, count)
            for new in zip(out, out[1:]):
                pairs[new] += count
                where[new].add(i)
                changed.add(new)
        pairs.pop(pair, None)
        for p in changed:
            if pairs.get(p, 0) > 0:
                heapq.heappush(heap, (-pairs[p], p))
            else:
                pairs.pop(p, None)
                where.pop(p, None)
    return vocab


class WordPieceTokenizer:
    """BERT's WordPiece (Devlin et al. 2019 §3; Wu et al. 2016): words split on whitespace and
    punctuation (lower-cased for an uncased vocabulary, accents stripped), then into the longest
    pieces of the vocabulary, continuations marked "##". Trained on a corpus through Hugging Face
    `tokenizers`, or read from a `vocab.txt` (one piece per line, the id is the line number)."""

    kind = "wordpiece"
    SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

    def __init__(self, tok: Any):
        self.tok = tok
        missing = [s for s in self.SPECIALS if tok.token_to_id(s) is None]
        if missing:
            raise UserError(f"a WordPiece vocabulary without {', '.join(missing)} is not BERT's")
        self.pad, self.unk, self.cls, self.sep, self.mask = (tok.token_to_id(s) for s in self.SPECIALS)

    @staticmethod
    def _pipeline(tok: Any, lowercase: bool) -> Any:
        from tokenizers import decoders, normalizers, pre_tokenizers

        tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=lowercase)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        return tok

    @classmethod
    def train(cls, texts: list[str], vocab_size: int, lowercase: bool = True) -> WordPieceTokenizer:
        """A vocabulary of `vocab_size` pieces learned from `texts` (`learn_pieces`): the same texts
        give the same vocabulary in every process. (tokenizers' WordPieceTrainer does not: its pieces
        and their ids change from one training to the next, and with them every number a model
        trained on them gives.)"""
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import models

        split = cls._pipeline(HFTokenizer(models.WordPiece({"[UNK]": 0}, unk_token="[UNK]")), lowercase)
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(w for w, _ in split.pre_tokenizer.pre_tokenize_str(split.normalizer.normalize_str(text)))
        pieces = learn_pieces(counts, vocab_size, cls.SPECIALS)
        tok = cls._pipeline(HFTokenizer(models.WordPiece({p: i for i, p in enumerate(pieces)}, unk_token="[UNK]")),
                            lowercase)
        tok.add_special_tokens(list(cls.SPECIALS))  # "[MASK]" in a text stays whole
        return cls(tok)

    @classmethod
    def from_vocab(cls, path: str | Path, lowercase: bool = True) -> WordPieceTokenizer:
        """A `vocab.txt` (bert-base-uncased's: lowercase=True; a cased one: False)."""
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import models

        p = Path(path).expanduser()
        if not p.is_file():
            raise UserError(f"{p} does not exist (a WordPiece vocab.txt)")
        try:
            model = models.WordPiece.from_file(str(p), unk_token="[UNK]")
        except Exception as e:  # noqa: BLE001 - the library raises plain Exceptions for bad files
            raise UserError(f"{p} is not a readable vocab.txt: {str(e).splitlines()[0][:120]}") from None
        tok = cls._pipeline(HFTokenizer(model), lowercase)
        tok.add_special_tokens([s for s in cls.SPECIALS if tok.token_to_id(s) is not None])  # "[MASK]" stays whole
        return cls(tok)

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        """Ids of the text's pieces, without [CLS]/[SEP] (the task adds them)."""
        return self.tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """`encode` of each text, in parallel."""
        return [e.ids for e in self.tok.encode_batch(texts, add_special_tokens=False)]

    def piece(self, i: int) -> str:
        return self.tok.id_to_token(i) or "[UNK]"

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids)

    def save(self, path: Path) -> None:
        self.tok.save(str(path))

    def save_vocab(self, path: Path) -> None:
        """vocab.txt: the pieces in id order, as BERT's released checkpoints have it."""
        vocab = self.tok.get_vocab()
        path.write_text("".join(f"{piece}\n" for piece, _ in sorted(vocab.items(), key=lambda kv: kv[1])))


def trained_wordpiece(docs: list[str], vocab: int, lowercase: bool = True) -> WordPieceTokenizer:
    """WordPiece trained on `docs`, kept in the data cache under a key of the text and settings
    (runs of the same corpus, pre-training and fine-tuning alike, share it)."""
    key = hashlib.sha256(json.dumps([docs, vocab, not lowercase]).encode()).hexdigest()[:16]
    path = cache_dir() / "text" / f"pieces-{key}.json"  # ("wordpiece-*.json": tokenizers' trainer's, not reused)
    if path.is_file():
        try:
            tok = load_tokenizer(path)
            if isinstance(tok, WordPieceTokenizer):
                return tok
        except UserError:
            pass
    tok = WordPieceTokenizer.train(docs, vocab, lowercase=lowercase)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # processes side by side may train it at once
    tok.save(tmp)
    tmp.replace(path)
    return tok


def _chunks(text: str, size: int = 1 << 16) -> list[str]:
    """The text cut after a newline about every `size` characters (tokenizers work in parallel on
    a list; BPE never merges across a newline followed by code, so ids barely change)."""
    out, start = [], 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end + 1
        out.append(text[start:end])
        start = end
    return out


def load_tokenizer(path: Path) -> Tokenizer:
    """A run's saved tokenizer (tokenizer.json: ours for characters, Hugging Face's for BPE)."""
    saved = read_json(path, f"{path} is missing: the run's tokenizer is saved beside its weights")
    if isinstance(saved, dict) and saved.get("type") == "char":
        if not isinstance(saved.get("chars"), str) or not saved["chars"]:
            raise UserError(f"{path} is damaged (no characters)")
        return CharTokenizer(saved["chars"])
    if isinstance(saved, dict) and isinstance(saved.get("model"), dict) and saved["model"].get("type") == "WordPiece":
        from tokenizers import Tokenizer as HFTokenizer

        return WordPieceTokenizer(HFTokenizer.from_file(str(path)))
    return BPETokenizer.from_files(path)


# ---------------------------------------------------------------------------------------------
# Token ids, cached.


@dataclass
class Tokens:
    """A tokenized corpus: uint16 ids of the training and validation text, and the tokenizer."""

    train: np.ndarray
    val: np.ndarray
    tokenizer: Tokenizer
    folder: Path


def _build(folder: Path, train_text: str, val_text: str, tokenizer: Tokenizer | None, bpe_vocab: int,
           meta: dict[str, Any]) -> Tokenizer:
    """Tokenize into a private folder, then rename it into place: processes that build the same
    cache at once (claims run side by side) each write their own, and the first rename wins."""
    work = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if tokenizer is None:
        tokenizer = BPETokenizer.train(train_text, bpe_vocab)
    if tokenizer.vocab_size > 1 << 16:
        raise UserError(f"a vocabulary of {tokenizer.vocab_size} does not fit the uint16 token files")
    tokenizer.save(work / "tokenizer.json")
    train_ids, val_ids = tokenizer.encode(train_text), tokenizer.encode(val_text)
    np.asarray(train_ids, dtype=np.uint16).tofile(work / "train.bin")
    np.asarray(val_ids, dtype=np.uint16).tofile(work / "val.bin")
    meta = {"train_tokens": len(train_ids), "val_tokens": len(val_ids), "vocab": tokenizer.vocab_size, **meta}
    (work / "meta.json").write_text(json.dumps(meta, indent=1))
    if folder.exists() and not (folder / "meta.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)  # damaged (a file removed by hand): build it again
    try:
        os.rename(work, folder)
    except OSError:  # another process finished first: its files are the same
        shutil.rmtree(work, ignore_errors=True)
    return tokenizer


def tokens(text: str, tokenizer: Tokenizer | None = None, kind: str = "char", bpe_vocab: int = 4096,
           name: str = "text") -> Tokens:
    """`text` split 90/10 and tokenized (by `tokenizer`, or one of `kind` made from the training
    text), cached as uint16 memmaps under a key of the text and the tokenizer."""
    train_text, val_text = split(text)
    if tokenizer is None and kind == "char":
        tokenizer = CharTokenizer.of(text)  # the corpus's alphabet: validation characters included
    spec = {"text": hashlib.sha256(text.encode()).hexdigest(), "kind": kind,
            "tokenizer": None if tokenizer is None else _fingerprint(tokenizer),
            "bpe_vocab": bpe_vocab if tokenizer is None else None}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_dir() / "text" / f"{name}-{key}"
    if not (folder / "meta.json").is_file():
        tokenizer = _build(folder, train_text, val_text, tokenizer, bpe_vocab, {"characters": len(text), **spec})
    tok = tokenizer if tokenizer is not None else load_tokenizer(folder / "tokenizer.json")
    return Tokens(_read_ids(folder / "train.bin"), _read_ids(folder / "val.bin"), tok, folder)


def _read_ids(path: Path) -> np.ndarray:
    if path.stat().st_size == 0:  # an empty file cannot be memory-mapped
        return np.zeros(0, dtype=np.uint16)
    return np.memmap(path, dtype=np.uint16, mode="r")


def _fingerprint(tokenizer: Tokenizer) -> str:
    if isinstance(tokenizer, CharTokenizer):
        return "char:" + hashlib.sha256(tokenizer.chars.encode()).hexdigest()
    return "bpe:" + hashlib.sha256(tokenizer.tok.to_str().encode()).hexdigest()  # type: ignore[attr-defined]
