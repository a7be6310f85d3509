"""Sentence embeddings of papers, pure: all-MiniLM-L6-v2 as int8 ONNX, run by onnxruntime, no torch.

`paper_text` is what gets embedded (title and abstract, LaTeX decoded to plain text: `digest.latex.plain_text`);
`get_embedder()` loads the model shipped in `ranking/model/` once per process
and gives None, never an exception, when it cannot (`embedder_problem()`
says why in one line): ranking then goes by words only. `Embedder.embed`
returns unit-length float16 vectors, stored as 768 bytes a paper
(`to_bytes`, `from_bytes`) beside EMBED_VERSION, which changes whenever the
model or the text recipe does, so that stored vectors of an older recipe
are computed again.

Texts whose vector is already known are not run through the model: the
bundled seed papers' vectors ship in `model/known.npz`, so `digest demo`
never waits on the model. The model itself, its licence and how it was
built: model/README.md and tools/build_model.py.

onnxruntime and tokenizers are imported on first use, not by
`import digest.ranking`.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from digest.config_base import env_value
from digest.latex import plain_text

__all__ = ["EMBED_DIM", "EMBED_VERSION", "Embedder", "embedder_problem", "from_bytes", "get_embedder",
           "paper_text", "to_bytes"]

EMBED_DIM = 384
EMBED_VERSION = 1  # bump when the model file or `paper_text` changes: stored vectors are then recomputed
MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_FILE = MODEL_DIR / "minilm.onnx"
TOKENIZER_FILE = MODEL_DIR / "tokenizer.json"
KNOWN_FILE = MODEL_DIR / "known.npz"
MAX_TOKENS = 128   # what all-MiniLM-L6-v2 was trained on; title and the abstract's opening
BATCH = 1          # texts per model call (bench/embed.py): one needs no padding, is the cheapest in CPU, and
                   # makes a vector depend on its text alone (int8 activations are scaled per call)
THREADS = 1        # onnxruntime intra-op threads: on 2 busy cores one is as fast as two for 80 % of the CPU, and
                   # a worker process per core (Celery's default) then never oversubscribes (bench/embed.py)
_DTYPE = np.dtype("<f2")


def paper_text(title: str, abstract: str) -> str:
    """The text a paper is embedded from: its title, then its abstract, LaTeX decoded."""
    title, abstract = " ".join(plain_text(title or "").split()), " ".join(plain_text(abstract or "").split())
    if not abstract:
        return title
    return f"{title}{'' if title.endswith(('.', '?', '!')) or not title else '.'} {abstract}".strip()


def text_key(text: str) -> bytes:
    """The 16-byte digest a vector is known by."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:16]


def to_bytes(vector) -> bytes:
    """One vector as stored: EMBED_DIM float16, little-endian (768 bytes)."""
    array = np.asarray(vector, dtype=_DTYPE)
    if array.shape != (EMBED_DIM,):
        raise ValueError(f"expected {EMBED_DIM} values, got shape {array.shape}")
    return array.tobytes()


def from_bytes(blob: bytes) -> np.ndarray:
    """A stored vector back as float16 [EMBED_DIM] (read-only: a view of the bytes)."""
    if len(blob) != EMBED_DIM * _DTYPE.itemsize:
        raise ValueError(f"expected {EMBED_DIM * _DTYPE.itemsize} bytes, got {len(blob)}")
    return np.frombuffer(blob, dtype=_DTYPE)


class Embedder:
    """The model and its tokenizer, loaded; `embed` may be called from several threads at once."""

    def __init__(self, model: Path = MODEL_FILE, tokenizer: Path = TOKENIZER_FILE, *, threads: int = THREADS,
                 max_tokens: int = MAX_TOKENS, batch: int = BATCH, known: Path | None = KNOWN_FILE,
                 spinning: bool = False):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, min(threads, os.cpu_count() or 1))
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: on a busy machine (a worker beside the database, say) spinning
        # burns the CPU the other processes need, for no gain here (bench/embed.py --spinning).
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        # tokenizer.json pads every text to 128 tokens: pad each batch to its longest text instead.
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_tokens)
        self.batch, self.threads, self.max_tokens = batch, options.intra_op_num_threads, max_tokens
        self.model = Path(model)
        self.variant = self.session.get_modelmeta().custom_metadata_map.get("variant", "unnamed")
        self._known = _load_known(known) if known else {}
        # More precomputed vectors (written by embed.write_known), e.g. a corpus embedded once elsewhere; the
        # test suite points this at its captured feeds' vectors.
        for extra in filter(None, os.environ.get("DIGEST_EMBEDDINGS_KNOWN", "").split(os.pathsep)):
            self._known.update(_load_known(Path(extra)))

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float16 vectors [len(texts), EMBED_DIM], in the order given; known texts are looked up."""
        out = np.zeros((len(texts), EMBED_DIM), dtype=_DTYPE)
        todo = []
        for i, text in enumerate(texts):
            found = self._known.get(text_key(text)) if self._known else None
            if found is None:
                todo.append(i)
            else:
                out[i] = found
        if todo:
            out[todo] = self.run([texts[i] for i in todo])
        return out

    def run(self, texts: list[str]) -> np.ndarray:
        """The model on every text (nothing looked up): float16 [n, EMBED_DIM]."""
        out = np.zeros((len(texts), EMBED_DIM), dtype=_DTYPE)
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch):
            rows = order[start: start + self.batch]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            out[rows] = self.session.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})[0]
        return out


def _load_known(path: Path) -> dict[bytes, np.ndarray]:
    """Shipped vectors by text digest, if the file is there and of this EMBED_VERSION (that they are the shipped
    model's vectors is checked by tests/ranking/test_embed.py; tools/build_model.py writes both)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["version"]) != EMBED_VERSION or data["vectors"].shape[1:] != (EMBED_DIM,):
                return {}
            return {bytes(k): v for k, v in zip(data["keys"], data["vectors"].astype(_DTYPE))}
    except (OSError, KeyError, ValueError):
        return {}


def write_known(path: Path, texts: list[str], vectors: np.ndarray) -> None:
    """Save vectors by text digest for `Embedder` to look up (tools/build_model.py writes model/known.npz)."""
    keys = np.array([text_key(t) for t in texts], dtype="S16")
    np.savez_compressed(path, version=np.array(EMBED_VERSION), keys=keys, vectors=np.asarray(vectors, _DTYPE))


def _switched_off() -> str | None:
    # Read here rather than in Settings: ingest and ranking load the model without a Settings object at hand.
    value = (env_value(os.environ, "DIGEST_EMBEDDINGS", "on") or "on").lower()
    if value in ("off", "0", "false", "no"):
        return "DIGEST_EMBEDDINGS=off"
    if value not in ("on", "1", "true", "yes"):
        return f"DIGEST_EMBEDDINGS: expected on or off, got {value[:40]!r}"
    return None


@lru_cache(maxsize=4)
def _load(model: Path, switched_off: str | None) -> tuple[Embedder | None, str | None]:
    if switched_off:
        return None, switched_off
    if not model.is_file():
        return None, f"model file missing ({model})"
    try:
        return Embedder(model, model.parent / TOKENIZER_FILE.name), None
    except ImportError as exc:
        return None, f"{exc.name or 'onnxruntime'} is not installed (reinstall digest with pip)"
    except Exception as exc:  # noqa: BLE001 - a damaged model file must not stop ingest or delivery
        return None, f"model cannot load ({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})"


def get_embedder(model: Path | None = None) -> Embedder | None:
    """The shipped model, loaded once per process; None when it cannot load (see `embedder_problem`)."""
    return _load(Path(model or MODEL_FILE), _switched_off())[0]


def embedder_problem(model: Path | None = None) -> str | None:
    """Why `get_embedder()` gives None, in one line; None when the model loads."""
    return _load(Path(model or MODEL_FILE), _switched_off())[1]
