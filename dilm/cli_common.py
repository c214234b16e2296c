"""Flags shared by every subcommand: preset, data description and --debug, and their overrides."""

from __future__ import annotations

import argparse

from dilm.config import preset_names


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", "--config", dest="preset",
                   help=f"shipped preset ({', '.join(preset_names())}) or a YAML file")
    p.add_argument("--dataset", help="built-in dataset name or a folder with train/validation files")
    p.add_argument("--text-fields", nargs="+", help="text field name(s) of your data (1 or 2)")
    p.add_argument("--label-field", help="label field name of your data")
    p.add_argument("--label-names", nargs="+", help="class names, in label order")
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
