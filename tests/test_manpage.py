"""The generated man pages name every command, option and configuration key, and render cleanly.

``man -l`` (man-db, groff) renders each page with every groff warning on (``-ww``);
any warning fails. The bash completion is run the way bash runs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from twinstar.config import Config
from twinstar.manpage import COMPLETION, PAGES, command_tree, generate
from twinstar.schema import keys
from twinstar.steps.registry import STEP_TYPES

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("man")
    written = generate(str(directory))
    assert sorted(Path(p).name for p in written) == sorted((*PAGES, COMPLETION))
    return {Path(p).name: Path(p).read_text() for p in written}


def _plain(roff: str) -> str:
    return roff.replace("\\-", "-").replace("\\fB", "").replace("\\fR", "").replace("\\fI", "")


def test_twinstar_8_names_every_command_and_option(pages: dict[str, str]) -> None:
    page = _plain(pages["twinstar.8"])
    tree = list(command_tree())
    assert len(tree) > 15  # the lazily loaded commands are walked too
    for path, command, ctx in tree:
        if path:
            assert f'.SS "twinstar {" ".join(path)} ' in page, path
        for param in command.get_params(ctx):
            if isinstance(param, click.Option) and not param.hidden and param is not command.get_help_option(ctx):
                for opt in param.opts:
                    assert opt in page, (path, opt)


def test_twinstar_yaml_5_names_every_key(pages: dict[str, str]) -> None:
    page = _plain(pages["twinstar.yaml.5"])
    for key in keys(Config):
        assert f".TP\n{key.name}\n" in page, key.name
        if key.rule.section is not None:
            for sub in keys(key.rule.section):
                assert f".TP\n{key.name}.{sub.name}\n" in page, sub.name
    for name, step_type in STEP_TYPES.items():
        section = page.split(f".SS {name}\n", 1)[1].split(".SS ", 1)[0]
        for key in keys(step_type.spec):
            assert f".TP\n{key.name}\n" in section, (name, key.name)


def test_every_key_says_what_it_means() -> None:
    """The page's descriptions come from the schema: each key's rule carries one."""
    specs = [Config, *(k.rule.section for k in keys(Config) if k.rule.section is not None)]
    specs += [t.spec for t in STEP_TYPES.values()]
    undocumented = [f"{spec.__name__}.{key.name}" for spec in specs for key in keys(spec) if not key.rule.doc]
    assert undocumented == []


def test_atribank_hook_8_names_the_event_environment(pages: dict[str, str]) -> None:
    page = _plain(pages["atribank_hook.8"])
    for name in ("ACTION", "XBUS_NAME", "XBUS_NUM", "DEVPATH", "TWINSTAR_CONFIG"):
        assert f".TP\n{name}\n" in page
    assert "form feed" not in page  # the developer's part of the docstring stays out


@pytest.mark.parametrize("name", PAGES)
def test_man_renders_the_page_without_a_warning(pages: dict[str, str], name: str, tmp_path: Path) -> None:
    if shutil.which("man") is None:
        pytest.fail("man (Debian package man-db) is needed to render the pages")
    path = tmp_path / name
    path.write_text(pages[name])
    env = {**os.environ, "LC_ALL": "C.UTF-8", "MANWIDTH": "80", "MAN_DISABLE_SECCOMP": "1"}
    result = subprocess.run(["man", "--warnings=w", "-l", str(path)], capture_output=True, text=True, env=env,
                            timeout=60, check=False)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert name.split(".")[0].upper() in result.stdout


def test_man_reports_a_bad_page(tmp_path: Path) -> None:
    """The rendering check can fail: groff's warning for an unknown request reaches stderr."""
    path = tmp_path / "bad.8"
    path.write_text('.TH "BAD" "8"\n.SH NAME\nbad \\- x\n.nosuchrequest\n')
    env = {**os.environ, "LC_ALL": "C.UTF-8", "MAN_DISABLE_SECCOMP": "1"}
    result = subprocess.run(["man", "--warnings=w", "-l", str(path)], capture_output=True, text=True, env=env,
                            timeout=60, check=False)
    assert "nosuchrequest" in result.stderr


def test_the_bash_completion_completes_commands(pages: dict[str, str], tmp_path: Path) -> None:
    """Bash sources the generated script; its function asks twinstar (as installed: a ``twinstar`` on PATH)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    program = bindir / "twinstar"
    program.write_text(f"#!/bin/sh\nexec {sys.executable} -m twinstar \"$@\"\n")
    program.chmod(0o755)
    script = tmp_path / COMPLETION
    script.write_text(pages[COMPLETION])
    probe = f'. {script}; COMP_WORDS=(twinstar rep); COMP_CWORD=1; _twinstar_completion twinstar; echo "${{COMPREPLY[@]}}"'
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    result = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.stdout.split() == ["replica"], result.stderr
