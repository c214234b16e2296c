"""Flags shared by every subcommand: preset, data description and --debug, and their overrides.

A `key=value` word is never a value of a list option (`--dpc 5 precision=fp32`,
`--label-names neg pos distill.real_batch=1`): it ends the list and is applied as an override.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from dilm.config import preset_names

_OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")
TRAILING = "trailing_words"  # namespace attribute: the words from the first `key=value` after a list option on


def is_override(item: str) -> bool:
    """Whether a command-line word is a `key=value` config override."""
    return bool(_OVERRIDE.match(item))


def is_override_not_path(item: str) -> bool:
    """A `key=value` word that is not an existing file or folder (a set path may hold '=')."""
    return is_override(item) and not Path(item).exists()


class ListOption(argparse.Action):
    """A one-or-more-values option whose list ends at the first `key=value` word; that word and
    the ones after it are kept in `namespace.trailing_words` for the command's positional list."""

    def __init__(self, *args, convert=str, **kwargs):
        self.convert = convert
        super().__init__(*args, nargs="+", **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        cut = next((i for i, v in enumerate(values) if is_override(v)), len(values))
        items, trailing = values[:cut], values[cut:]
        if not items:
            raise argparse.ArgumentError(self, f"expected at least one value before '{trailing[0]}'")
        try:
            converted = [self.convert(v) for v in items]
        except ValueError:
            bad = next(v for v in items if not _converts(self.convert, v))
            raise argparse.ArgumentError(self, f"invalid {self.convert.__name__} value: '{bad}'") from None
        setattr(namespace, self.dest, converted)
        setattr(namespace, TRAILING, [*getattr(namespace, TRAILING, []), *trailing])


def _converts(convert, value: str) -> bool:
    try:
        convert(value)
        return True
    except ValueError:
        return False


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", "--config", dest="preset",
                   help=f"shipped preset ({', '.join(preset_names())}) or a YAML file")
    p.add_argument("--dataset", help="built-in dataset name or a folder with train/validation files")
    p.add_argument("--text-fields", action=ListOption, help="text field name(s) of your data (1 or 2)")
    p.add_argument("--label-field", help="label field name of your data")
    p.add_argument("--label-names", action=ListOption, help="class names, in label order")
    p.add_argument("--debug", action="store_true", help="show tracebacks")


def data_overrides(args: argparse.Namespace) -> list[str]:
    """`key=value` overrides equivalent to the data flags (list values quoted: `yes` stays a string)."""
    extra = []
    for flag, key in (("dataset", "data.dataset"), ("label_field", "data.label_field")):
        if getattr(args, flag, None) is not None:
            extra.append(f"{key}={getattr(args, flag)}")
    for flag, key in (("text_fields", "data.text_fields"), ("label_names", "data.label_names")):
        if getattr(args, flag, None):
            extra.append(f"{key}=[{', '.join(repr(str(v)) for v in getattr(args, flag))}]")
    return extra
