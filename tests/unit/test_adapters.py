"""Adapter contract tests: every adapter and task against the emulator's wire protocols."""
import base64
import io
import socket
import wave

import pytest
import urllib3

from providers.base import (BackendUnavailable, Call, PermanentProviderError,
                            ProviderConnectionError, ProviderTimeout, RateLimited, UpstreamError)
from providers.jina import JinaBackend
from providers.urlguard import UrlPolicy
from providers.openai_compat import OpenAIBackend
from providers.replicate import ReplicateBackend
from providers.runpod import RunPodBackend
from providers.wire import Client, retry_after
from tests.unit.emulated import clean, emulator  # noqa: F401 (fixtures)

POLICY = UrlPolicy(allow_private=True)
WAV_URI = "data:audio/wav;base64," + base64.b64encode(b"RIFF....WAVEfmt fake").decode()
PNG_URI = "data:image/png;base64,iVBORw0KGgo="


def backend(emulator, cls, env, name=None, key="k"):
    name = name or env.lower()
    return cls(name, Client(name, emulator.base_urls()[env], key), POLICY, **(
        {"sleep": lambda s: None} if cls in (ReplicateBackend, RunPodBackend) else {}))


def call(task, data, model="m", service="svc", output="json", timeout=5.0):
    return Call(service=service, task=task, input=data, model=model, timeout=timeout,
                output=output)


# ---------------------------------------------------------------- OpenAI-compatible

def test_chat_returns_text_and_the_token_usage_the_provider_counted(emulator):
    groq = backend(emulator, OpenAIBackend, "GROQ")
    result = groq.run(call("chat", {"prompt": "hello there", "system": "be brief",
                                    "max_tokens": 5}, model="llama-3.3-70b-versatile"))
    assert result.output["text"] == "[groq:llama-3.3-70b-versatile] you said: hello there"
    assert result.usage.input_tokens == 4 and result.usage.output_tokens == 5
    assert emulator.requests("groq")[0]["path"] == "/groq/openai/v1/chat/completions"


def test_chat_with_an_image_sends_a_vision_message(emulator):
    together = backend(emulator, OpenAIBackend, "TOGETHER")
    result = together.run(call("chat", {"image_url": PNG_URI, "prompt": "what is it"}))
    assert result.output["text"].endswith("you said: what is it")


def test_embeddings_keep_the_shape_of_the_input(emulator):
    deepinfra = backend(emulator, OpenAIBackend, "DEEPINFRA")
    many = deepinfra.run(call("embed", {"text": ["a", "b"]}, model="BAAI/bge-m3"))
    one = deepinfra.run(call("embed", {"text": "a"}, model="BAAI/bge-m3"))
    assert many.output["dimensions"] == 16 and len(many.output["embeddings"]) == 2
    assert one.output["embedding"] == many.output["embeddings"][0]
    assert many.usage.input_tokens == 2


def test_image_generation_passes_the_provider_urls_through(emulator):
    together = backend(emulator, OpenAIBackend, "TOGETHER")
    result = together.run(call("image", {"prompt": "a cat", "num_outputs": 2,
                                         "aspect_ratio": "16:9"}))
    assert result.output["url"].startswith(emulator.origin + "/_files/")
    assert len(result.output["urls"]) == 2 and result.usage.outputs == 2
    assert result.files == {}


def test_inline_base64_images_become_stored_files():
    from providers.openai_compat import _image_url
    from providers.outputs import file_output

    png = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    output, files = file_output("image", [_image_url({"b64_json": png})])
    assert output == {"url": "file:image0"} and files["image0"].content.startswith(b"\x89PNG")


def test_transcription_uploads_the_audio_as_multipart(emulator):
    groq = backend(emulator, OpenAIBackend, "GROQ")
    result = groq.run(call("transcribe", {"audio_url": WAV_URI, "language": "en"},
                           model="whisper-large-v3-turbo"))
    assert result.output["text"].startswith("emulated transcript of ")
    assert result.usage.compute_seconds > 0


def test_speech_comes_back_as_a_wav_file_we_store(emulator):
    deepinfra = backend(emulator, OpenAIBackend, "DEEPINFRA")
    result = deepinfra.run(call("speech", {"text": "hi", "voice": "af_alloy"}))
    assert result.output["audio_url"] == "file:audio"
    stored = result.files["audio"]
    assert stored.content_type == "audio/wav"
    assert wave.open(io.BytesIO(stored.content)).getnframes() > 0


# ---------------------------------------------------------------- errors, for every protocol

@pytest.mark.parametrize("fault, error", [
    ({"kind": "status", "status": 500}, UpstreamError),
    ({"kind": "status", "status": 503}, UpstreamError),
    ({"kind": "malformed"}, UpstreamError),
    ({"kind": "reset"}, ProviderConnectionError),
    ({"kind": "hang", "seconds": 2}, ProviderTimeout),
    ({"kind": "status", "status": 401}, BackendUnavailable),
    ({"kind": "status", "status": 301}, BackendUnavailable),  # not followed: a wrong base URL
    ({"kind": "status", "status": 400, "message": "prompt is too long"}, PermanentProviderError),
    ({"kind": "status", "status": 422, "message": "bad image"}, PermanentProviderError),
])
def test_failures_are_classified_by_what_the_router_should_do(emulator, fault, error):
    groq = backend(emulator, OpenAIBackend, "GROQ")
    emulator.fault("groq", **fault)
    with pytest.raises(error) as raised:
        groq.run(call("chat", {"prompt": "x"}, timeout=0.5))
    if "message" in fault:
        assert fault["message"] in raised.value.message


def test_429_carries_retry_after(emulator):
    jina = backend(emulator, JinaBackend, "JINA")
    emulator.fault("jina", "status", status=429, retry_after=3)
    with pytest.raises(RateLimited) as raised:
        jina.run(call("rerank", {"query": "q", "documents": ["d"]}))
    assert raised.value.retry_after == 3.0


def test_calls_carry_our_key_and_say_what_their_body_is(emulator):
    backend(emulator, OpenAIBackend, "GROQ").run(call("chat", {"prompt": "hi"}))
    backend(emulator, OpenAIBackend, "GROQ").run(
        call("transcribe", {"audio_url": WAV_URI}, model="whisper-large-v3-turbo"))
    chat, upload = (r["headers"] for r in emulator.requests("groq"))
    assert chat["Authorization"] == upload["Authorization"] == "Bearer k"
    assert chat["Content-Type"] == "application/json"
    assert upload["Content-Type"].startswith("multipart/form-data; boundary=")
    assert chat["User-Agent"].startswith("gpubridge-providers/")


def test_a_refused_connection_is_a_connection_error_not_a_timeout():
    with socket.socket() as closed:  # a port nothing listens on once this block ends
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    groq = OpenAIBackend("groq", Client("groq", f"http://127.0.0.1:{port}/v1", "k"), POLICY)
    with pytest.raises(ProviderConnectionError):
        groq.run(call("chat", {"prompt": "x"}))


def test_a_broken_base_url_is_a_provider_error_not_a_crash():
    broken = OpenAIBackend("groq", Client("groq", "htp:/nowhere", "k"), POLICY)
    with pytest.raises(UpstreamError):
        broken.run(call("chat", {"prompt": "x"}))


def test_a_client_reads_proxy_and_ca_settings_once_for_its_base_url(monkeypatch, tmp_path):
    import shutil

    import certifi

    bundle = tmp_path / "our-ca.pem"
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "api.groq.com")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    proxied_client = Client("together", "https://api.together.xyz/v1", "k")
    direct_client = Client("groq", "https://api.groq.com/openai/v1", "k")
    proxied = proxied_client.proxied
    # Through the proxy urllib3 sends the calls; without one, kept http.client connections.
    assert proxied_client.direct is None and direct_client.direct is not None
    with pytest.raises(FileNotFoundError):  # the operator's bundle, read for a connection
        direct_client.direct.tls()
    shutil.copy(certifi.where(), bundle)  # there now: each new connection reads it again
    assert direct_client.direct.tls() is not direct_client.direct.tls()
    assert isinstance(proxied, urllib3.ProxyManager)
    assert proxied.proxy.url == "http://proxy.internal:3128"
    assert direct_client.proxied is None
    assert proxied.connection_pool_kw["ca_certs"] == str(bundle)


def test_without_a_ca_bundle_of_the_operators_certifis_is_loaded_once(monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    first = Client("groq", "https://api.groq.com/openai/v1", "k").direct
    second = Client("together", "https://api.together.xyz/v1", "k").direct
    assert first.tls() is second.tls()
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    proxied = Client("together", "https://api.together.xyz/v1", "k").proxied
    assert "ca_certs" not in proxied.connection_pool_kw
    assert proxied.connection_pool_kw["ssl_context"] is first.tls()


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after("7") == 7.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert retry_after(None) is None and retry_after("soon") is None


# ---------------------------------------------------------------- Jina

def test_rerank_orders_documents_and_reports_tokens(emulator):
    jina = backend(emulator, JinaBackend, "JINA")
    result = jina.run(call("rerank", {"query": "red apple", "top_n": 2,
                                      "documents": ["blue sky", "red apple pie", "red car"]},
                           model="jina-reranker-v2-base-multilingual"))
    results = result.output["results"]
    assert [r["index"] for r in results] == [1, 2]
    assert results[0]["document"] == "red apple pie"
    assert result.usage.input_tokens > 0


# ---------------------------------------------------------------- Replicate

def test_replicate_runs_a_model_with_prefer_wait_and_reads_predict_time(emulator):
    replicate = backend(emulator, ReplicateBackend, "REPLICATE")
    result = replicate.run(call("predict", {"image_url": PNG_URI}, model="salesforce/blip",
                                output="text"))
    assert result.output == {"text": "emulated salesforce/blip output"}
    assert result.usage.compute_seconds == 1.25
    # Prefer: wait let the one create request return the finished prediction: no polling
    assert [r["path"] for r in emulator.requests("replicate")] == \
        ["/replicate/v1/models/salesforce/blip/predictions"]


def test_replicate_version_ids_use_the_predictions_endpoint(emulator):
    replicate = backend(emulator, ReplicateBackend, "REPLICATE")
    emulator.server.kinds["abc123"] = "image"  # a version the catalog does not name
    result = replicate.run(call("predict", {"prompt": "x"}, output="image",
                                model="black-forest-labs/flux-schnell:abc123"))
    assert result.output["url"].endswith(".png")
    assert emulator.requests("replicate")[0]["path"] == "/replicate/v1/predictions"


def test_replicate_polls_until_the_prediction_finishes(emulator):
    replicate = backend(emulator, ReplicateBackend, "REPLICATE")
    emulator.fault("replicate", "processing", polls=2, path="/models/")
    result = replicate.run(call("predict", {"text": "hi"}, model="suno-ai/bark",
                                output="audio"))
    assert result.output["audio_url"].endswith(".wav")
    gets = [r for r in emulator.requests("replicate") if r["method"] == "GET"]
    assert len(gets) == 3


def test_replicate_cancels_a_prediction_that_outlives_the_timeout(emulator):
    replicate = backend(emulator, ReplicateBackend, "REPLICATE")
    replicate.sleep = __import__("time").sleep
    emulator.fault("replicate", "processing", path="/models/")
    with pytest.raises(ProviderTimeout):
        replicate.run(call("predict", {"prompt": "x"}, model="meta/musicgen", timeout=0.6))
    assert emulator.requests("replicate")[-1]["path"].endswith("/cancel")


# ---------------------------------------------------------------- RunPod

def test_runpod_runs_polls_and_reads_execution_time(emulator):
    runpod = backend(emulator, RunPodBackend, "RUNPOD")
    result = runpod.run(call("run", {"prompt": "x"}, model="musicgen", output="audio"))
    assert result.output["audio_url"].endswith(".wav")
    assert result.usage.compute_seconds == 1.5
    paths = [r["path"] for r in emulator.requests("runpod")]
    assert paths[0] == "/runpod/v2/musicgen/run" and "/runpod/v2/musicgen/status/" in paths[1]


def test_runpod_cancels_a_job_that_outlives_the_timeout(emulator):
    runpod = backend(emulator, RunPodBackend, "RUNPOD")
    runpod.sleep = __import__("time").sleep
    emulator.fault("runpod", "processing", path="/run")
    with pytest.raises(ProviderTimeout):
        runpod.run(call("run", {"prompt": "x"}, model="video", timeout=0.6))
    assert "/runpod/v2/video/cancel/" in emulator.requests("runpod")[-1]["path"]


def test_a_failed_runpod_job_is_retryable(emulator):
    runpod = backend(emulator, RunPodBackend, "RUNPOD")
    emulator.fault("runpod", "status", status=500, path="/status/")
    with pytest.raises(UpstreamError):
        runpod.run(call("run", {"prompt": "x"}, model="bark", output="audio"))
