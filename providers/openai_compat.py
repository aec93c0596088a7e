"""The OpenAI-compatible adapter (Groq, DeepInfra, Fireworks, Together, any such base URL).

Tasks: chat (POST /chat/completions), embed (/embeddings), image (/images/generations),
transcribe (/audio/transcriptions, multipart) and speech (/audio/speech, audio bytes back).
One instance per catalog backend; the base URL is written the way the provider documents it
(e.g. https://api.groq.com/openai/v1) and the paths are appended to it.
"""
from __future__ import annotations

import base64
import binascii
import time

from .base import BackendUnavailable, Call, File, Result, UpstreamError, Usage
from .media import fetch_media
from .outputs import file_output
from .urlguard import UrlPolicy
from .wire import Client

OCR_PROMPT = "Extract all the text in this image. Answer with the text only, keeping its layout."
SIZES = {"1:1": (1024, 1024), "16:9": (1344, 768), "9:16": (768, 1344), "4:3": (1152, 896),
         "3:4": (896, 1152), "3:2": (1216, 832), "2:3": (832, 1216)}


def chat_messages(data: dict, service: str) -> list[dict]:
    """OpenAI messages from our input: optional system, the prompt, and an image if given."""
    prompt = data.get("prompt") or (OCR_PROMPT if service == "ocr" else "Describe this image.")
    if data.get("language") and service == "ocr":
        prompt += f" The text is in language '{data['language']}'."
    content = prompt
    if data.get("image_url"):
        content = [{"type": "text", "text": prompt},
                   {"type": "image_url", "image_url": {"url": data["image_url"]}}]
    messages = [{"role": "system", "content": data["system"]}] if data.get("system") else []
    return messages + [{"role": "user", "content": content}]


class OpenAIBackend:
    """A backend speaking the OpenAI REST API."""

    TASKS = ("chat", "embed", "image", "transcribe", "speech")

    def __init__(self, name: str, client: Client, policy: UrlPolicy):
        self.name, self.client, self.policy = name, client, policy

    def availability(self, task: str) -> str | None:
        return None if task in self.TASKS else f"the openai adapter has no task {task!r}"

    def run(self, call: Call) -> Result:
        """Run one call; usage seconds are measured (these APIs do not report compute time)."""
        if call.task not in self.TASKS:
            raise BackendUnavailable(self.availability(call.task))
        started = time.monotonic()
        result = getattr(self, "_" + call.task)(call)
        result.usage.compute_seconds = time.monotonic() - started
        return result

    def _chat(self, call: Call) -> Result:
        data = call.input
        body = {"model": call.model, "messages": chat_messages(data, call.service)}
        body.update({k: data[k] for k in ("max_tokens", "temperature", "top_p") if k in data})
        answer = self.client.json("POST", "/chat/completions", call.timeout, json=body)
        try:
            text = answer["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError) as exc:
            raise UpstreamError(f"{self.name}: no choices in the chat answer") from exc
        usage = answer.get("usage") or {}
        return Result(output={"text": text, "model": data.get("model") or call.model},
                      usage=Usage(input_tokens=int(usage.get("prompt_tokens") or 0),
                                  output_tokens=int(usage.get("completion_tokens") or 0)))

    def _embed(self, call: Call) -> Result:
        text = call.input["text"]
        answer = self.client.json("POST", "/embeddings", call.timeout,
                                  json={"model": call.model, "input": text})
        try:
            rows = [row["embedding"] for row in sorted(answer["data"], key=lambda r: r["index"])]
        except (KeyError, TypeError) as exc:
            raise UpstreamError(f"{self.name}: no embeddings in the answer") from exc
        output = {"embedding": rows[0]} if isinstance(text, str) else {"embeddings": rows}
        output.update(dimensions=len(rows[0]) if rows else 0,
                      model=call.input.get("model") or call.model)
        tokens = (answer.get("usage") or {}).get("prompt_tokens") or 0
        return Result(output=output, usage=Usage(input_tokens=int(tokens)))

    def _image(self, call: Call) -> Result:
        data = call.input
        width, height = SIZES.get(data.get("aspect_ratio", "1:1"), SIZES["1:1"])
        body = {"model": call.model, "prompt": data["prompt"], "n": data.get("num_outputs", 1),
                "size": f"{width}x{height}", "width": width, "height": height}
        body.update({k: data[k] for k in ("seed", "negative_prompt") if k in data})
        answer = self.client.json("POST", "/images/generations", call.timeout, json=body)
        urls = [_image_url(item) for item in answer.get("data") or []]
        output, files = file_output("image", urls)
        return Result(output=output, files=files, usage=Usage(outputs=len(urls)))

    def _transcribe(self, call: Call) -> Result:
        audio, media_type = fetch_media(call.input["audio_url"], self.policy)
        form = {"model": call.model, "response_format": "json"}
        form.update({k: call.input[k] for k in ("language", "prompt") if call.input.get(k)})
        answer = self.client.json("POST", "/audio/transcriptions", call.timeout, data=form,
                                  files={"file": ("audio", audio, media_type)})
        if not isinstance(answer, dict) or "text" not in answer:
            raise UpstreamError(f"{self.name}: no text in the transcription")
        return Result(output={"text": answer["text"]})

    def _speech(self, call: Call) -> Result:
        data = call.input
        body = {"model": call.model, "input": data["text"], "voice": data.get("voice"),
                "speed": data.get("speed", 1), "response_format": "wav"}
        response = self.client.request("POST", "/audio/speech", call.timeout, json=body)
        if not response.content:
            raise UpstreamError(f"{self.name}: empty audio")
        media_type = response.headers.get("Content-Type", "audio/wav").split(";")[0]
        return Result(output={"audio_url": "file:audio", "format": "wav"},
                      files={"audio": File(response.content, media_type)})


def _image_url(item: dict) -> str:
    """The provider's URL for one image, or a data: URI of its inline base64."""
    if item.get("url"):
        return item["url"]
    if item.get("b64_json"):
        try:  # refuse garbage before storing it
            base64.b64decode(item["b64_json"], validate=True)
        except binascii.Error as exc:
            raise UpstreamError("an image came back with invalid base64") from exc
        return "data:image/png;base64," + item["b64_json"]
    raise UpstreamError("an image came back with neither url nor b64_json")
