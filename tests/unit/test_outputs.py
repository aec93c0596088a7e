"""Provider answers turned into our output shapes."""
import base64

import pytest

from providers.base import UpstreamError
from providers.outputs import shape
from providers.replicate import model_input


def test_text_from_a_string_streamed_pieces_or_an_object():
    assert shape("text", "a cat")[0] == {"text": "a cat"}
    assert shape("text", ["a ", "cat"])[0] == {"text": "a cat"}
    assert shape("text", {"transcription": "hello"})[0] == {"text": "hello"}


def test_file_urls_pass_through_and_several_are_listed():
    output, files = shape("image", ["https://cdn/x.png", "https://cdn/y.png"])
    assert output == {"url": "https://cdn/x.png", "urls": ["https://cdn/x.png",
                                                           "https://cdn/y.png"]}
    assert files == {}
    assert shape("audio", {"audio_out": "https://cdn/a.wav"})[0] == \
        {"audio_url": "https://cdn/a.wav"}


def test_inline_data_uris_become_files_we_store():
    uri = "data:audio/wav;base64," + base64.b64encode(b"RIFFdata").decode()
    output, files = shape("audio", uri)
    assert output == {"audio_url": "file:audio0"}
    assert files["audio0"].content == b"RIFFdata" and files["audio0"].content_type == "audio/wav"


def test_a_file_service_with_no_file_is_an_upstream_error():
    with pytest.raises(UpstreamError):
        shape("video", {"nothing": 1})


def test_json_keeps_objects_and_wraps_the_rest():
    assert shape("json", {"nsfw": False})[0] == {"nsfw": False}
    assert shape("json", [1, 2])[0] == {"result": [1, 2]}


def test_replicate_input_uses_cog_field_names():
    assert model_input({"image_url": "u", "model": "canny", "duration_seconds": 5,
                        "prompt": "p"}) == {"image": "u", "duration": 5, "prompt": "p"}
