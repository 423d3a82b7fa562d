"""The compiled configuration: used only for the exact content it was built from, ignored when bad, never trusted."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twinstar import config as config_mod
from twinstar.config import compiled
from twinstar.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "twinstar.yaml"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o700)
    monkeypatch.setenv("TWINSTAR_CACHE_DIR", str(directory))
    return directory


@pytest.fixture
def example(tmp_path: Path) -> Path:
    path = tmp_path / "twinstar.yaml"
    path.write_bytes(EXAMPLE.read_bytes())
    path.chmod(0o644)
    return path


def _load(path: Path) -> config_mod.Config:
    return config_mod.load(str(path), strict_modes=False)


def _cache_file(cache: Path, path: Path) -> Path:
    return Path(compiled.cache_file(str(cache), str(path)))


def test_every_record_of_the_example_round_trips() -> None:
    config = config_mod.load(str(EXAMPLE), strict_modes=False)
    again = compiled.decode(config_mod.Config, marshal.loads(marshal.dumps(compiled.encode(config))))
    assert again == config
    assert [type(s) for s in again.takeover] == [type(s) for s in config.takeover]
    assert again.groups == config.groups != ()


@pytest.mark.parametrize("groups", [(("service:mysql",),), (("service:mysql", "service:nope"),), (("service:mysql", "service:asterisk"),), ("service:mysql",)])
def test_stored_groups_that_do_not_fit_the_steps_are_refused(groups: object) -> None:
    data = compiled.encode(config_mod.load(str(EXAMPLE), strict_modes=False))
    data["groups"] = groups  # one step, an unknown step, steps not listed together, not a list of groups
    with pytest.raises(ValueError, match="parallel group"):
        compiled.decode(config_mod.Config, marshal.loads(marshal.dumps(data)))


def test_a_second_load_takes_the_compiled_form_without_pyyaml(cache: Path, example: Path) -> None:
    first = _load(example)
    assert _cache_file(cache, example).stat().st_mode & 0o777 == 0o600
    code = (
        "import sys\nfrom twinstar import config\n"
        f"c = config.load({str(example)!r}, strict_modes=False)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'yaml' or m == 'twinstar.config.yamlread'))\n"
        "print(repr(c))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "TWINSTAR_CACHE_DIR": str(cache)})
    modules, shown = proc.stdout.splitlines()
    assert modules == "[]", proc.stdout
    assert shown == repr(first)


def test_an_edit_that_keeps_size_and_times_is_still_seen(cache: Path, example: Path) -> None:
    """The content is compared byte for byte: same size, times put back, one byte changed."""
    _load(example)
    st = example.stat()
    text = example.read_text()
    assert "lock_timeout: 600" in text
    example.write_text(text.replace("lock_timeout: 600", "lock_timeout: 601"))
    os.utime(example, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _load(example).lock_timeout == 601.0


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: f.write_bytes(b"\x00garbage"),
        lambda f: f.write_bytes(f.read_bytes()[:-7]),
        lambda f: f.chmod(0o644),
        lambda f: _rewrite(f, lambda config: {**config, "lock_timeout": "600"}),
        lambda f: _rewrite(f, lambda config: {**config, "state_dir": "relative/dir"}),
        lambda f: _rewrite(f, lambda config: {**config, "handoff": "sideways"}),
        lambda f: _rewrite(f, lambda config: {**config, "surplus": 1}),
        lambda f: _rewrite(f, lambda config: {k: v for k, v in config.items() if k != "daemon"}),
        lambda f: _rewrite(f, lambda config: {**config, "takeover": (("nosuchstep", {}),)}),
        lambda f: _rewrite(f, lambda config: {**config, "node": None}),
    ],
    ids=["garbage", "torn", "mode", "number-as-text", "relative-path", "bad-choice", "extra-field", "missing-field",
         "unknown-step", "null-node"],
)
def test_a_bad_cache_is_ignored_and_replaced(cache: Path, example: Path, damage) -> None:  # type: ignore[no-untyped-def]
    expected = _load(example)
    entry = _cache_file(cache, example)
    damage(entry)
    assert _load(example) == expected
    assert entry.stat().st_mode & 0o777 == 0o600
    assert compiled.read(str(cache), str(example), example.read_bytes()) == expected  # rewritten, good again


def _rewrite(entry: Path, change) -> None:  # type: ignore[no-untyped-def]
    stored = marshal.loads(entry.read_bytes())
    stored["config"] = change(stored["config"])
    entry.write_bytes(marshal.dumps(stored))


def test_a_cache_made_for_other_code_or_another_host_is_stale(cache: Path, example: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _load(example)
    data = example.read_bytes()
    assert compiled.read(str(cache), str(example), data) is not None
    monkeypatch.setattr(compiled, "_code_identity", lambda: ())
    assert compiled.read(str(cache), str(example), data) is None
    monkeypatch.undo()
    monkeypatch.setattr(os, "uname", lambda: os.uname_result(("Linux", "elsewhere", "6", "#1", "x86_64")))
    assert compiled.read(str(cache), str(example), data) is None


def test_no_cache_directory_no_cache_and_errors_are_never_cached(tmp_path: Path, example: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWINSTAR_CACHE_DIR", str(tmp_path / "absent"))
    _load(example)
    assert not (tmp_path / "absent").exists()
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    monkeypatch.setenv("TWINSTAR_CACHE_DIR", str(cache))
    example.write_text(example.read_text().replace("lock_timeout: 600", "lock_timeout: -1"))
    for _ in range(2):
        with pytest.raises(ConfigError, match="lock_timeout"):
            _load(example)
    assert list(cache.iterdir()) == []


def test_a_directory_open_to_others_is_not_used(cache: Path, example: Path) -> None:
    cache.chmod(0o755)
    _load(example)
    assert list(cache.iterdir()) == []


def test_a_kind_of_value_without_a_check_is_never_cached(cache: Path, example: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule kind added later, before the cache learns to check it, makes the configuration parsed each time."""
    from twinstar.schema import Kind

    monkeypatch.setattr(compiled, "_FITS", {k: v for k, v in compiled._FITS.items() if k is not Kind.ARGVS})
    assert _load(example).on_ready
    assert list(cache.iterdir()) == []
