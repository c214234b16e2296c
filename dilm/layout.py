"""How the class reaches the generator: the token prefix written before each text.

A layout turns class c into a fixed list of token ids that starts every sequence of that
class; the generator learns `prefix_c s1 [<sep> s2] <eos>`, scores only what follows the
prefix, and samples by continuing it. Four kinds:

- `class_token`: the paper's `<bos_c>`, one new token per class (its embedding starts from
  EOS or from the class name, `model.class_token_init`).
- `label_words`: EOS, then the class name as words and a line break (`negative:\\n`).
- `plain_instruction`: EOS, then an instruction built from the task and the class name, and a
  line break (`Write a negative movie review.\\n`).
- `instruction`: the same instruction as a user turn of the model's own chat template, with the
  assistant turn opened after it; a tokenizer without a chat template (a base model such as
  GPT-2) falls back to `plain_instruction`.

The instruction comes from a template with `{label}` (the class name, underscores as spaces)
and optionally `{description}` (what one example is: "movie review", "tweet").
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

from dilm.errors import DilmError

LAYOUTS = ("class_token", "label_words", "plain_instruction", "instruction")
DEFAULT_INSTRUCTION = 'Write a {description} with the label "{label}".'
DEFAULT_PAIR_INSTRUCTION = 'Write a pair of texts ({description}) with the label "{label}".'
DEFAULT_DESCRIPTION = "text"


@dataclass(frozen=True)
class Conditioning:
    """How a new generator is told the class (a saved dilm generator keeps its own layout)."""

    layout: str = "class_token"
    class_token_init: str = "eos"  # class_token layout: "eos" or "label_names"
    label_names: tuple[str, ...] = ()
    instructions: tuple[str, ...] = ()  # one per class, for the instruction layouts


def label_text(name: str) -> str:
    """A class name as words: `not_equivalent` -> `not equivalent`."""
    return name.replace("_", " ").strip()


def check_template(template: str) -> None:
    """A template may use {label} (required) and {description}, nothing else."""
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as e:
        raise DilmError(f"instruction template {template!r} is not a valid format string ({e})") from None
    if "label" not in fields:
        raise DilmError(f"instruction template {template!r} must contain {{label}}")
    unknown = fields - {"label", "description"}
    if unknown:
        raise DilmError(f"instruction template {template!r} has unknown field(s) "
                        f"{', '.join(sorted(unknown))}; use {{label}} and {{description}}")


def instructions(template: str, description: str, label_names: Sequence[str]) -> list[str]:
    """The instruction for each class."""
    check_template(template)
    return [template.format(label=label_text(n), description=description) for n in label_names]


def encode_text(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def chat_prefix(tokenizer, instruction: str) -> list[int] | None:
    """`instruction` as a user turn of the tokenizer's chat template, assistant turn opened; None
    when the tokenizer has no template."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    text = tokenizer.apply_chat_template([{"role": "user", "content": instruction}], tokenize=False,
                                         add_generation_prompt=True)
    return encode_text(tokenizer, text)


def build_prefixes(tokenizer, kind: str, label_names: Sequence[str], instruction_texts: Sequence[str],
                   class_token_ids: Sequence[int] = ()) -> list[list[int]]:
    """Per class, the token ids that start its sequences (see the module docstring)."""
    if kind not in LAYOUTS:
        raise DilmError(f"unknown conditioning layout {kind!r}; choose from: {', '.join(LAYOUTS)}")
    if kind == "class_token":
        prefixes = [[t] for t in class_token_ids]
    elif kind == "label_words":
        prefixes = [[tokenizer.eos_token_id] + encode_text(tokenizer, f"{label_text(n)}:\n") for n in label_names]
    else:
        chat = [chat_prefix(tokenizer, text) for text in instruction_texts] if kind == "instruction" else None
        if chat is None or None in chat:
            chat = [[tokenizer.eos_token_id] + encode_text(tokenizer, f"{text}\n") for text in instruction_texts]
        prefixes = chat
    check_prefixes(prefixes)
    return prefixes


def check_prefixes(prefixes: Sequence[Sequence[int]]) -> None:
    """Each class needs its own prefix, and none may start another (parsing finds the class)."""
    for i, a in enumerate(prefixes):
        if not a:
            raise DilmError(f"class {i}: empty conditioning prefix")
        for j, b in enumerate(prefixes):
            if i != j and list(b[: len(a)]) == list(a):
                raise DilmError(f"classes {i} and {j} get the same conditioning prefix "
                                f"(class names or instruction template do not tell them apart)")


def match_prefix(prefixes: Sequence[Sequence[int]], seq: Sequence[int]) -> int | None:
    """The class whose prefix `seq` starts with, or None."""
    for c, p in enumerate(prefixes):
        if len(seq) >= len(p) and list(seq[: len(p)]) == list(p):
            return c
    return None
