"""The man pages and the bash completion, generated from the program itself.

``twinstar(8)`` walks the click command tree (the lazily loaded commands
included), ``atribank_hook(8)`` is the hook's module documentation, and
``twinstar.yaml(5)`` is the configuration schema (:mod:`twinstar.schema`: the
sections' and steps' keys, their defaults, ranges and choices), so a page
cannot drift from what the program accepts. The package build runs
``python3 -m twinstar.manpage DIR``.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
from dataclasses import MISSING, fields

import click
from click.shell_completion import BashComplete

from twinstar import __version__, settings
from twinstar.cli.app import main
from twinstar.schema import Key, Kind, keys
from twinstar.steps.registry import STEP_TYPES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

PROGRAM = "twinstar"
#: The generated files: name -> what writes it.
PAGES = ("twinstar.8", "atribank_hook.8", "twinstar.yaml.5")
COMPLETION = "twinstar.bash"
#: Where the Debian package installs the operator's manual (debian/twinstar.docs).
MANUAL_DIR = "/usr/share/doc/twinstar/docs"

#: The environment twinstar's programs read, and what for.
ENVIRONMENT = (
    (settings.CONFIG_ENV, f"the configuration file, when --config is not given (default {settings.CONFIG_PATH})"),
    ("TWINSTAR_USB_SIMULATOR", "a simulated-Astribank state file used instead of real USB (see twinstar sim)"),
    ("TWINSTAR_USB_SIM_PORT", "the simulated units' port this host is cabled to, 0 or 1"),
    (settings.HOOK_CACHE_ENV, f"the hook's configuration cache (default {settings.HOOK_CACHE_DIR})"),
)

#: The files every page names.
FILES = (
    (settings.CONFIG_PATH, "the configuration, twinstar.yaml(5)"),
    (settings.XPP_ORDER, "the Astribank units this node needs, in DAHDI registration order"),
    (settings.MAINTENANCE_FILE, "while it exists, nothing automatic happens (the default maintenance_file)"),
    (f"{settings.STATE_DIR}/{settings.STATE_FILE}", "the node's role and last transition (the default state_dir)"),
    (f"{settings.STATE_DIR}/{settings.JOURNAL_FILE}", "one JSON line per step event"),
)

EXIT_STATUS = (
    ("0", "success"),
    ("1", "an operation failed"),
    ("2", "bad usage, an invalid configuration or invalid input; nothing was changed"),
    ("3", "refused by a safety guard (peer still Primary, address answered by another host, "
          "no power on the other port, calls not drained, a path in use)"),
)


# --- roff ----------------------------------------------------------------------------------


def esc(text: str) -> str:
    """``text`` as roff running text: backslashes and minus signs escaped, no line read as a request."""
    out = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line for line in out.split("\n"))


def _doc(obj: type) -> str:
    """A class's own docstring (not the signature a dataclass makes up without one)."""
    doc = obj.__dict__.get("__doc__") or ""
    return "" if doc.startswith(obj.__name__ + "(") else doc


def _paragraphs(text: str) -> list[str]:
    """roff for click-style help text: paragraphs, ``\\b`` ones kept as they are; ````code```` plain."""
    out: list[str] = []
    text = re.sub(r":\w+:`~?([^`]*)`", r"\1", text.replace("``", ""))
    for para in inspect.cleandoc(text).split("\f", 1)[0].split("\n\n"):
        if para.startswith("\b\n"):
            out += [".PP", ".nf", esc(para[2:]), ".fi"]
        elif para.strip():
            out += [".PP", esc(" ".join(para.split()))]
    return out


def _header(name: str, section: int, version: str, title: str, summary: str) -> list[str]:
    manual = "System Administration" if section == 8 else "File Formats"
    return [
        f'.TH "{name.upper()}" "{section}" "" "twinstar {version}" "{manual}"',
        ".SH NAME",
        f"{esc(name)} \\- {esc(summary)}",
    ] + ([f".\\\" {title}"] if title else [])


def _table(heading: str, rows: tuple[tuple[str, str], ...], *, bold: bool = True) -> list[str]:
    out = [f".SH {heading}"]
    for term, text in rows:
        out += [".TP", f"\\fB{esc(term)}\\fR" if bold else esc(term), esc(text)]
    return out


def _see_also(*pages: str) -> list[str]:
    return [".SH SEE ALSO", ",\n".join(f".BR {p.split('(')[0]} ({p.split('(')[1]}" for p in pages),
            ".PP", f"The operator's manual: {esc(MANUAL_DIR)}/manual.md."]


def version() -> str:
    return __version__


# --- twinstar(8): the command tree ---------------------------------------------------------


def command_tree(
    command: click.Command = main, path: tuple[str, ...] = (), ctx: click.Context | None = None
) -> Iterator[tuple[tuple[str, ...], click.Command, click.Context]]:
    """Every command below ``command`` (itself first), with its words after ``twinstar`` and a context."""
    ctx = click.Context(command, info_name=path[-1] if path else PROGRAM, parent=ctx, **command.context_settings)
    yield path, command, ctx
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from command_tree(sub, (*path, name), ctx)


def find_command(words: list[str]) -> tuple[tuple[str, ...], click.Command]:
    """The command that ``twinstar WORDS...`` names, and its path; KeyError for an unknown one."""
    found = {path: cmd for path, cmd, _ in command_tree()}
    path: tuple[str, ...] = ()
    for word in words:
        if (*path, word) not in found:
            if isinstance(found[path], click.Group):
                raise KeyError(" ".join((*path, word)))
            break
        path = (*path, word)
    return path, found[path]


def _options(command: click.Command, ctx: click.Context) -> list[str]:
    out: list[str] = []
    for param in command.get_params(ctx):
        if not isinstance(param, click.Option) or param is command.get_help_option(ctx):
            continue  # arguments are in the synopsis line; every command has --help
        record = param.get_help_record(ctx)
        if record is None:
            continue
        term, text = record
        out += [".TP", f"\\fB{esc(term)}\\fR", esc(text) if text else ""]
    return [line for line in out if line != ""]


def twinstar_page(version: str) -> str:
    lines = _header(PROGRAM, 8, version, "", "failover for two-server Asterisk PBX clusters on Astribank TwinStar units")
    lines += [".SH SYNOPSIS", ".B twinstar", "[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR]"]
    tree = list(command_tree())
    (_, root, root_ctx), commands = tree[0], tree[1:]
    lines += [".SH DESCRIPTION", *_paragraphs(root.help or ""), ".PP", "Every command takes \\fB\\-h\\fR or \\fB\\-\\-help\\fR."]
    lines += [".SH GLOBAL OPTIONS", *_options(root, root_ctx)]
    lines += [".SH COMMANDS"]
    for path, command, ctx in commands:
        usage = " ".join(command.collect_usage_pieces(ctx))
        lines += [f'.SS "{esc(" ".join((PROGRAM, *path)))} {esc(usage)}"', *_paragraphs(command.help or "")]
        options = _options(command, ctx)
        if options:
            lines += [".PP", "Options:", ".RS", *options, ".RE"]
    lines += _table("EXIT STATUS", EXIT_STATUS)
    lines += _table("ENVIRONMENT", ENVIRONMENT)
    lines += _table("FILES", FILES)
    lines += _see_also("atribank_hook(8)", "twinstar.yaml(5)", "udev(7)", "systemctl(1)", "drbdadm(8)")
    return "\n".join(lines) + "\n"


# --- atribank_hook(8) ----------------------------------------------------------------------


def atribank_hook_page(version: str) -> str:
    from twinstar.cli import atribank_hook
    from twinstar.hotplug.hook import EVENT_VARIABLES

    lines = _header("atribank_hook", 8, version, "", "udev hook of twinstar for Astribank xbus events")
    lines += [".SH SYNOPSIS", ".B atribank_hook", ".PP", "Run by the udev rule 60\\-twinstar.rules; by hand:",
              ".B ACTION=online XBUS_NAME=XBUS\\-00 twinstar hook"]
    doc = inspect.getdoc(atribank_hook) or ""
    lines += [".SH DESCRIPTION", *_paragraphs(doc.split("\n", 1)[1] if "\n" in doc else doc)]
    lines += _table("ENVIRONMENT", tuple((name, "from udev's event") for name in EVENT_VARIABLES) + ENVIRONMENT[:1] + ENVIRONMENT[3:])
    lines += _table("EXIT STATUS", (("0", "the event was handled, also when it is not actionable"),
                                    ("1", "a hand-off failed, or the node's state cannot be read"),
                                    ("2", "a configuration error, an invalid xpp_order or state.json, or ACTION missing")))
    lines += _table("FILES", FILES)
    lines += _see_also("twinstar(8)", "twinstar.yaml(5)", "udev(7)")
    return "\n".join(lines) + "\n"


# --- twinstar.yaml(5): the configuration schema --------------------------------------------


def _value_text(key: Key, default: object) -> str:
    """What a key accepts, and its default, from its rule."""
    rule = key.rule
    if rule.range is not None:
        what = rule.range.text() + (" seconds" if rule.seconds else "")
    elif rule.choices is not None:
        what = "one of " + ", ".join(c.value for c in rule.choices)
    else:
        what = {
            Kind.TEXT: "a string", Kind.PATH: "an absolute path", Kind.FLAG: "true or false",
            Kind.ARGV: "a command: a list of a program (name or absolute path) and its arguments",
            Kind.ARGVS: "a list of commands, each a list of a program and its arguments",
            Kind.SECTION: "a mapping (below)", Kind.PROGRAMS: "a mapping of program names to absolute paths",
            Kind.STEPS: "a list of steps (below)",
        }[rule.kind]
    if rule.nullable:
        what += ", or null"
    if key.required:
        what += "; required"
    elif rule.missing is not None:
        what += "; default: the host name" if key.name == "node" else "; computed when absent"
    elif default not in (MISSING, None, ()) and rule.kind not in (Kind.SECTION,):
        shown = default.value if hasattr(default, "value") else default
        if isinstance(shown, tuple):
            shown = " ".join(shown)
        shown = str(shown).lower() if isinstance(shown, bool) else f"{shown:g}" if isinstance(shown, float) else shown
        what += f"; default {shown}"
    return what


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _keys(cls: type, prefix: str = "") -> list[str]:
    defaults = {f.name: f.default for f in fields(cls)}
    out: list[str] = []
    for key in keys(cls):
        value = _value_text(key, defaults.get(key.field, MISSING))
        text = f"{_sentence(key.rule.doc)} {_sentence(value)}" if key.rule.doc else _sentence(value)
        out += [".TP", f"\\fB{esc(prefix + key.name)}\\fR", esc(text)]
    return out


def config_page(version: str) -> str:
    from twinstar.config import Config

    lines = _header("twinstar.yaml", 5, version, "", "configuration of twinstar")
    lines += [".SH SYNOPSIS", f".B {esc(settings.CONFIG_PATH)}"]
    lines += [".SH DESCRIPTION", ".PP", esc(
        "A YAML mapping. Unknown keys, wrong types, relative paths and values out of range are errors "
        "that name the file, the line and the key; twinstar check validates the file and the host. "
        "Run as root, twinstar refuses a file that is not owned by root or is writable by group or others. "
        "Numbers must be finite. The installed example is a complete, commented configuration."
    )]
    lines += [".SH KEYS", *_keys(Config)]
    sections = [k for k in keys(Config) if k.rule.section is not None]
    for key in sections:
        section = key.rule.section
        assert section is not None
        lines += [f".SS {esc(key.name)}", *_paragraphs(_doc(section)), *_keys(section, key.name + ".")]
    lines += [".SH STEPS", ".PP", esc(
        "takeover: lists the steps in order; a release runs them in reverse. Each entry is a mapping of one "
        "step type to its keys."
    )]
    for name, step_type in STEP_TYPES.items():
        lines += [f".SS {esc(name)}", *_paragraphs(_doc(step_type.spec))]
        if step_type.shorthand is not None:
            (short,) = [k.name for k in keys(step_type.spec) if k.field == step_type.shorthand]
            lines += [".PP", esc(f"A plain string is short for its {short} key: - {name}: VALUE.")]
        lines += _keys(step_type.spec, "")
    lines += _see_also("twinstar(8)", "atribank_hook(8)")
    return "\n".join(lines) + "\n"


# --- the bash completion -------------------------------------------------------------------


def bash_completion() -> str:
    """Click's bash completion script for ``twinstar``."""
    return BashComplete(main, {}, PROGRAM, "_TWINSTAR_COMPLETE").source()


def generate(directory: str, v: str | None = None) -> list[str]:
    """Write the pages (of version ``v``, default the installed one) and the completion into ``directory``."""
    v = v or version()
    texts = dict(zip(PAGES, (twinstar_page(v), atribank_hook_page(v), config_page(v)), strict=True))
    texts[COMPLETION] = bash_completion()
    os.makedirs(directory, exist_ok=True)
    written = []
    for name, text in texts.items():
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        written.append(path)
    return written


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m twinstar.manpage", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--version", help="the version the pages name (default: the installed twinstar's)")
    parser.add_argument("directory", help="where to write " + ", ".join((*PAGES, COMPLETION)))
    args = parser.parse_args(argv)
    for path in generate(args.directory, args.version):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
