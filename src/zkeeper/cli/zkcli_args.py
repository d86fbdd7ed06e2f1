"""zkCli's argument handling: splitting a typed line into words, and parsing a command's
options the way zkCli.sh's Apache Commons CLI `DefaultParser` does.

Pure. The rules (options anywhere among the words, `-se` for `-s -e`, `-t100` and
`-v=3` for options with a value, `--` ending the options, option groups) and the
error texts are Commons CLI 1.5's, because zkCli.sh prints those texts verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

# ZooKeeperMain.MyCommandOptions: a word is a run of non-blanks not starting with a
# quote, or a whole '...' / "..." string, whose quotes are then removed.
_WORD = re.compile(r"""\s*([^"']\S*|"[^"]*"|'[^']*')\s*""")
_QUOTED = re.compile(r"""^(['"])(.*)(\1)$""", re.DOTALL)


def split_line(line: str) -> list[str]:
    """The words of a typed command line, as zkCli.sh splits them."""
    words = []
    for m in _WORD.finditer(line):
        word = m.group(1)
        if _QUOTED.match(word):
            word = word[1:-1]
        words.append(word)
    return words


@dataclass(frozen=True)
class Opt:
    name: str
    has_arg: bool = False
    description: str = ""


@dataclass(frozen=True)
class Group:
    """Mutually exclusive options; with `required`, one of them must be given."""

    names: tuple[str, ...]
    required: bool = False


@dataclass(frozen=True)
class OptionSpec:
    opts: tuple[Opt, ...] = ()
    groups: tuple[Group, ...] = ()

    def get(self, name: str) -> Opt | None:
        for o in self.opts:
            if o.name == name:
                return o
        return None

    def group_of(self, name: str) -> Group | None:
        for g in self.groups:
            if name in g.names:
                return g
        return None


class ParseError(Exception):
    """A Commons CLI ParseException; str() is what zkCli.sh prints (class name and message)."""

    java_class = "ParseException"

    def __str__(self) -> str:
        return f"org.apache.commons.cli.{self.java_class}: {self.args[0]}"


class UnrecognizedOption(ParseError):
    java_class = "UnrecognizedOptionException"


class MissingArgument(ParseError):
    java_class = "MissingArgumentException"


class MissingOption(ParseError):
    java_class = "MissingOptionException"


class AlreadySelected(ParseError):
    java_class = "AlreadySelectedException"


@dataclass
class Parsed:
    """The words that are not options (the command name first) and the options given."""

    args: list[str] = field(default_factory=list)
    values: dict[str, list[str]] = field(default_factory=dict)

    def has(self, name: str) -> bool:
        return name in self.values

    def value(self, name: str) -> str | None:
        vs = self.values.get(name)
        return vs[0] if vs else None


def _strip_quotes(s: str) -> str:
    if len(s) > 1 and s[0] == '"' and s[-1] == '"' and '"' not in s[1:-1]:
        return s[1:-1]
    return s


class _Parser:
    def __init__(self, spec: OptionSpec) -> None:
        self.spec = spec
        self.result = Parsed()
        self.current: Opt | None = None  # an option still waiting for its value
        self.current_has_value = False
        self.skip = False
        self.selected: dict[Group, str] = {}

    def _is_option(self, token: str) -> bool:
        if not token.startswith("-") or len(token) == 1:
            return False
        name = token[1:].split("=", 1)[0]
        return self.spec.get(name) is not None or (len(name) > 0 and self.spec.get(name[0]) is not None)

    def _is_argument(self, token: str) -> bool:
        if not self._is_option(token):
            return True
        try:
            float(token)
        except ValueError:
            return False
        return True

    def _check_required_arg(self) -> None:
        if self.current is not None and not self.current_has_value:
            raise MissingArgument(f"Missing argument for option: {self.current.name}")

    def _take(self, opt: Opt) -> None:
        self._check_required_arg()
        group = self.spec.group_of(opt.name)
        if group is not None:
            chosen = self.selected.get(group)
            if chosen is not None and chosen != opt.name:
                raise AlreadySelected(
                    f"The option '{opt.name}' was specified but an option from this group "
                    f"has already been selected: '{chosen}'")
            self.selected[group] = opt.name
        self.result.values.setdefault(opt.name, [])
        self.current = opt if opt.has_arg else None
        self.current_has_value = False

    def _add_value(self, value: str) -> None:
        assert self.current is not None
        self.result.values[self.current.name].append(value)
        self.current_has_value = True

    def _unknown(self, token: str) -> None:
        if token.startswith("-") and len(token) > 1:
            raise UnrecognizedOption(f"Unrecognized option: {token}")
        self.result.args.append(token)

    def _concatenated(self, token: str) -> None:
        for i in range(1, len(token)):
            opt = self.spec.get(token[i])
            if opt is None:
                self._unknown(token)
                return
            self._take(opt)
            if self.current is not None and len(token) != i + 1:
                self._add_value(token[i + 1:])
                return

    def _short(self, token: str) -> None:
        t = token[1:]
        if len(t) == 1 or "=" not in t:
            opt = self.spec.get(t)
            if opt is not None:
                self._take(opt)
            elif len(t) == 1:
                self._unknown(token)
            else:
                self._concatenated(token)
            return
        name, value = t.split("=", 1)
        opt = self.spec.get(name) if len(name) == 1 else None
        if opt is not None and opt.has_arg:
            self._take(opt)
            self._add_value(value)
            self.current = None
        else:
            self._unknown(token)

    def token(self, token: str) -> None:
        if self.skip:
            self.result.args.append(token)
        elif token == "--":
            self.skip = True
        elif self.current is not None and not self.current_has_value and self._is_argument(token):
            self._add_value(_strip_quotes(token))
        elif token.startswith("--"):
            self._unknown(token)  # no zkCli option has a long name
        elif token.startswith("-") and token != "-":
            self._short(token)
        else:
            self._unknown(token)
        if self.current is not None and self.current_has_value:
            self.current = None

    def finish(self) -> Parsed:
        self._check_required_arg()
        missing = [g for g in self.spec.groups if g.required and g not in self.selected]
        if missing:
            texts = []
            for g in missing:
                parts = []
                for n in g.names:
                    o = self.spec.get(n)
                    parts.append(f"-{n} {o.description}" if o and o.description else f"-{n}")
                texts.append("[" + ", ".join(parts) + "]")
            plural = "" if len(texts) == 1 else "s"
            raise MissingOption(f"Missing required option{plural}: " + ", ".join(texts))
        return self.result


def parse_options(spec: OptionSpec, words: Sequence[str]) -> Parsed:
    """Parse a command's words (its name first) like Commons CLI's DefaultParser."""
    p = _Parser(spec)
    for w in words:
        p.token(w)
    return p.finish()
