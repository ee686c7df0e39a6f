"""Where translation runs: NEWSFLOW_TRANSLATE_DEVICE and the CPU threads of each worker."""

from __future__ import annotations

import pytest

from pipeline.record import Document
from pipeline.translate.engine import (
    TranslationEngine,
    TranslationSetupError,
    cuda_device_count,
    engine_for,
    translate_device,
    translate_threads,
)
from pipeline.translate.installed_model import InstalledModel
from pipeline.translate.stage import translate_documents

NO_GPU = cuda_device_count() == 0
SETTINGS = ("NEWSFLOW_TRANSLATE_DEVICE", "NEWSFLOW_TRANSLATE_THREADS", "NEWSFLOW_WORKERS_PER_HOST")


@pytest.fixture(autouse=True)
def default_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


def indonesian() -> Document:
    return Document(source_path="id.txt", text="Harga beras naik.", language="id", language_confidence=0.99)


def test_an_explicit_cpu_engine_runs_on_the_cpu(installed_model: InstalledModel):
    engine = TranslationEngine(installed_model, device="cpu")
    assert (engine.device, engine.translator.device) == ("cpu", "cpu")
    assert engine.translate_sentences(["Harga beras naik."])[0].strip()


@pytest.mark.skipif(not NO_GPU, reason="CTranslate2 sees a CUDA device here")
@pytest.mark.parametrize("setting", [None, "auto", " AUTO "])
def test_auto_falls_back_to_the_cpu_without_a_gpu(setting, installed_model: InstalledModel, monkeypatch):
    if setting is not None:
        monkeypatch.setenv("NEWSFLOW_TRANSLATE_DEVICE", setting)
    engine = engine_for(installed_model)
    assert (engine.device, engine.translator.device) == ("cpu", "cpu")
    (result,) = translate_documents([indonesian()])
    assert result.translation_status == "translated"


def test_auto_picks_cuda_when_ctranslate2_sees_a_device():
    assert translate_device({}, cuda_devices=1) == "cuda"
    assert translate_device({"NEWSFLOW_TRANSLATE_DEVICE": "auto"}, cuda_devices=0) == "cpu"
    assert translate_device({"NEWSFLOW_TRANSLATE_DEVICE": "cpu"}, cuda_devices=2) == "cpu"
    assert translate_device({"NEWSFLOW_TRANSLATE_DEVICE": "cuda"}, cuda_devices=1) == "cuda"


def test_an_unknown_device_names_the_allowed_values():
    with pytest.raises(TranslationSetupError, match="NEWSFLOW_TRANSLATE_DEVICE='gpu'.*auto, cpu, cuda"):
        translate_device({"NEWSFLOW_TRANSLATE_DEVICE": "gpu"})


@pytest.mark.skipif(not NO_GPU, reason="CTranslate2 sees a CUDA device here")
def test_cuda_without_a_gpu_fails_the_translation_with_what_to_do(installed_model: InstalledModel, monkeypatch):
    monkeypatch.setenv("NEWSFLOW_TRANSLATE_DEVICE", "cuda")

    (result,) = translate_documents([indonesian()])

    assert (result.translation_status, result.text_en, result.translation_model) == ("failed", None, None)
    reason = result.translation_failure.reason
    assert reason.startswith(f"{installed_model.label} was not loaded: ")
    assert "no CUDA device" in reason
    assert "NEWSFLOW_TRANSLATE_DEVICE=auto or cpu" in reason
    assert "newsflow translate --pending" in reason
    assert "reinstall" not in reason  # the package is fine


def test_threads_share_the_cores_among_the_workers_of_a_host():
    assert translate_threads({}, cores=8) == 8
    assert translate_threads({"NEWSFLOW_WORKERS_PER_HOST": "1"}, cores=8) == 8
    assert translate_threads({"NEWSFLOW_WORKERS_PER_HOST": "2"}, cores=8) == 4
    assert translate_threads({"NEWSFLOW_WORKERS_PER_HOST": "3"}, cores=8) == 2
    assert translate_threads({"NEWSFLOW_WORKERS_PER_HOST": "4"}, cores=2) == 1  # at least one
    assert translate_threads({"NEWSFLOW_WORKERS_PER_HOST": ""}, cores=2) == 2


def test_an_explicit_thread_count_wins():
    assert translate_threads({"NEWSFLOW_TRANSLATE_THREADS": "3", "NEWSFLOW_WORKERS_PER_HOST": "4"}, cores=8) == 3
    assert translate_threads({"NEWSFLOW_TRANSLATE_THREADS": "16"}, cores=2) == 16


@pytest.mark.parametrize("name", ["NEWSFLOW_TRANSLATE_THREADS", "NEWSFLOW_WORKERS_PER_HOST"])
@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_thread_setting_that_is_not_a_positive_whole_number_is_refused(name, value):
    with pytest.raises(TranslationSetupError, match=f"{name}='{value}' must be a whole number of at least 1"):
        translate_threads({name: value}, cores=8)


def test_the_engine_takes_its_threads_from_the_environment(installed_model: InstalledModel, monkeypatch):
    monkeypatch.setenv("NEWSFLOW_WORKERS_PER_HOST", "64")
    assert TranslationEngine(installed_model, device="cpu").intra_threads == 1
    monkeypatch.setenv("NEWSFLOW_TRANSLATE_THREADS", "2")
    assert TranslationEngine(installed_model, device="cpu").intra_threads == 2
    assert TranslationEngine(installed_model, device="cpu", intra_threads=1).intra_threads == 1
