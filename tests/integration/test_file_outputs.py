"""Jobs whose output is a file: stored by us, served from our own origin at an unguessable URL."""
import base64
import io
from urllib.parse import urlparse

from PIL import Image

from tests.helpers import auth, data, grant, register, settled
from tests.integration.conftest import wait_for
from tests.needs import require_binary


def _png_data_uri(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _fetch(client, url: str):
    path = urlparse(url).path
    assert path.startswith("/files/") and len(path) > len("/files/") + 40  # 256-bit token
    return client.get(path)


def test_upscaled_image_is_served_from_our_origin(app, client, db_session, worker):
    key = register(client, "img@example.com")
    grant(app, "img@example.com", "1")
    body = {"service": "upscale-l4", "input": {"image_url": _png_data_uri(30, 20), "scale": 4}}
    job_id = data(client.post("/run", json=body, headers=auth(key)))["job_id"]
    done = wait_for(lambda: settled(client, job_id))
    assert done["status"] == "completed", done
    served = _fetch(client, done["output"]["url"])
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert served.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert Image.open(io.BytesIO(served.data)).size == (120, 80)
    assert done["cost_usd"] + done["refund_amount_usd"] == done["estimated_cost_usd"]


def test_speech_is_served_as_wav(app, client, db_session, worker):
    require_binary("espeak-ng")
    key = register(client, "tts@example.com")
    grant(app, "tts@example.com", "1")
    body = {"service": "tts-l4", "input": {"text": "Hello from the bridge"}}
    job_id = data(client.post("/run", json=body, headers=auth(key)))["job_id"]
    done = wait_for(lambda: settled(client, job_id))
    assert done["status"] == "completed", done
    served = _fetch(client, done["output"]["audio_url"])
    assert served.status_code == 200 and served.data[:4] == b"RIFF" and len(served.data) > 8000


def test_a_bad_image_fails_the_job_and_refunds_it(app, client, db_session, worker):
    key = register(client, "bad@example.com")
    grant(app, "bad@example.com", "1")
    junk = "data:image/png;base64," + base64.b64encode(b"not an image").decode()
    job_id = data(client.post("/run", json={"service": "upscale-l4", "input": {
        "image_url": junk}}, headers=auth(key)))["job_id"]
    done = wait_for(lambda: settled(client, job_id))
    assert done["status"] == "failed" and done["error"]["code"] == "invalid_input"
    assert [a["outcome"] for a in done["attempts"]] == ["permanent"]
    assert done["cost_usd"] == 0 and done["refunded"] is True
    assert data(client.get("/account/balance", headers=auth(key)))["balance"] == 1


def test_unknown_file_token_is_404(client, db_session):
    response = client.get("/files/" + "x" * 43)
    assert response.status_code == 404 and response.get_json()["code"] == "file_not_found"
