"""Learner embeddings of many texts, cached on disk under the dilm cache by content.

Embedding a full training split (SST-2: 67k rows) takes minutes on a CPU; coreset
selection and the memorisation check both need it, so it is computed once per
(learner, max length, pooling, texts).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path

import torch

from dilm.learner import Learner, Texts
from dilm.models import cache_root

log = logging.getLogger(__name__)


def feature_key(learner_name: str, max_length: int, pooling: str, texts: Texts) -> str:
    return hashlib.sha256(repr((learner_name, max_length, pooling, texts)).encode()).hexdigest()


def load_cache(path: Path) -> object | None:
    """A features cache file's content; None when there is none or it cannot be read (a damaged
    cache is a miss: it is recomputed and replaced, as one made under another key is)."""
    if not path.exists():
        return None
    try:
        return torch.load(path, weights_only=True)
    except Exception as e:  # truncated zip, unpickling error, ...: only a cache
        log.warning("%s cannot be read (%s): recomputing it", path, str(e).splitlines()[0] if str(e) else e)
        return None


def embeddings(learner: Learner, learner_name: str, texts: Texts, pooling: str, cache: bool = True) -> torch.Tensor:
    """(n, H) `learner.embed(texts, pooling)` of the pre-trained encoder, from the cache when present."""
    key = feature_key(learner_name, learner.max_length, pooling, texts)
    path = cache_root() / "features" / f"{key[:32]}.pt"
    stored = load_cache(path) if cache else None
    if isinstance(stored, dict) and stored.get("key") == key:
        return stored["features"]
    t0 = time.time()
    feats = learner.embed(texts, pooling)
    log.info("embedded %d texts (%s pooling) in %.1f s", len(texts), pooling, time.time() - t0)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".features.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        torch.save({"key": key, "features": feats}, tmp)
        os.replace(tmp, path)
    return feats
