"""The documentation holds together: every relative link resolves, every command shown parses.

Links are read from README.md and docs/*.md outside code blocks; a link to a
heading (``page.md#anchor``) must name a heading of that page, slugged the
way GitHub does. Every ``twinstar ...`` command shown in code (``sh`` blocks, prompted lines
of other blocks, inline spans) must name a command that exists, with options that command
has, and its ``--help`` must run.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from twinstar.cli.app import main
from twinstar.manpage import find_command

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

#: Pages of the manual that other parts of the tree provide: a link to one of
#: them is accepted only while the page is absent from this tree.
PROVIDED_ELSEWHERE = {"docs/operations.md", "docs/telephony.md", "docs/migration.md", "docs/systemd.md", "docs/pacemaker.md"}

FENCE = re.compile(r"^```.*?^```", re.M | re.S)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
INLINE = re.compile(r"`([^`\n]+)`")


def _prose(text: str) -> str:
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.*)$", _prose(page.read_text()), re.M)}


def _links() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for target in LINK.findall(_prose(page.read_text())):
            if not re.match(r"[a-z]+:", target):
                found.append((str(page.relative_to(REPO)), target))
    return found


@pytest.mark.parametrize(("page", "target"), _links())
def test_a_relative_link_resolves(page: str, target: str) -> None:
    path, _, anchor = target.partition("#")
    resolved = (REPO / page).parent / path if path else REPO / page
    relative = str(resolved.resolve().relative_to(REPO)) if resolved.resolve().is_relative_to(REPO) else str(resolved)
    if relative in PROVIDED_ELSEWHERE and not resolved.exists():
        return
    assert resolved.exists(), f"{page}: {target} does not exist"
    if anchor:
        assert anchor in anchors(resolved), f"{page}: {target}: no such heading in {relative}"


def test_the_link_check_sees_the_manual() -> None:
    targets = {target for page, target in _links() if page == "README.md"}
    assert {"docs/install.md", "docs/configuration.md", "docs/troubleshooting.md"} <= targets
    assert slug("Hand-off modes (`handoff:`)") == "hand-off-modes-handoff"
    assert slug("`drbd` — promote it") == "drbd--promote-it"


def _commands() -> list[tuple[str, str]]:
    """``(page, command line)`` for each twinstar command shown in code."""
    found: set[tuple[str, str]] = set()
    for page in PAGES:
        text = page.read_text()
        lines = INLINE.findall(_prose(text))
        for block in FENCE.findall(text):
            shell = block.splitlines()[0] in ("```sh", "```console")
            # In a shell block every line is a command; elsewhere only a line with a prompt.
            lines += [line if shell else line[2:] for line in block.splitlines()[1:-1] if shell or line.startswith(("$ ", "# "))]
        for line in lines:
            line = re.split(r"(?:^|\s)#", line.strip(), maxsplit=1)[0]  # a shell comment
            for part in re.split(r"\s\|\s|&&|;|\$\(|\)", line):
                words = part.split()
                starts = [i for i, w in enumerate(words) if w == "twinstar" or w.endswith("bin/twinstar")]
                if starts and all("=" in w or w == "sudo" for w in words[: starts[0]]):
                    found.add((str(page.relative_to(REPO)), " ".join(words[starts[0]:])))
    return sorted(found)


def _check(words: list[str], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The commands ``twinstar WORDS`` names (``a/b``: each), after checking every option they use exists.

    Optional brackets and ``...`` are read as plain words; an option's value is skipped.
    """
    command = find_command(list(path))[1]
    for i, word in enumerate(words):
        params = {o: p for p in command.get_params(click.Context(command)) for o in (*p.opts, *p.secondary_opts)}
        if word.startswith("-") and word not in ("-", "--"):
            assert word.split("=", 1)[0] in params, f"{word}: no such option of twinstar {' '.join(path)}"
            param = params[word.split("=", 1)[0]]
            takes_value = isinstance(param, click.Option) and not (param.is_flag or param.count) and "=" not in word
            return _check(words[i + 1 + takes_value:], path)
        if isinstance(command, click.Group):
            return [p for name in word.split("/") for p in _check(words[i + 1:], find_command([*path, name])[0])]
    return [path]


@pytest.mark.parametrize(("page", "command_line"), _commands())
def test_a_documented_command_parses(page: str, command_line: str) -> None:
    words = command_line.replace("[", " ").replace("]", " ").replace("...", " ").split()[1:]
    for path in _check(words):
        result = CliRunner().invoke(main, [*path, "--help"], prog_name="twinstar")
        assert result.exit_code == 0, (page, command_line, result.output)
        assert f"Usage: twinstar {' '.join(path)}".rstrip() in result.output


def test_the_command_check_sees_the_commands() -> None:
    shown = {line for _, line in _commands()}
    assert "twinstar takeover" in shown and any(line.startswith("twinstar replica add") for line in shown)
    assert _check(["replica", "add/list", "/etc/asterisk"]) == [("replica", "add"), ("replica", "list")]
    assert _check(["--config", "/x", "jump", "--device", "usb:001/002"]) == [("jump",)]
    with pytest.raises(KeyError):
        _check(["no-such-command"])
    with pytest.raises(AssertionError, match="no such option"):
        _check(["takeover", "--no-such-option"])
