"""The class-conditional generator: `prefix_c s1 [<sep> s2] <eos>` on any HF causal LM.

Holds the token layout (a per-class prefix from `dilm.layout`, the paper's `<bos_c>` by
default, separator, EOS), encodes real examples, scores sequences (per-sample
log-probabilities, paper Eq. 1 and the weights of Eq. 4-5), samples with top-p and a KV
cache, and parses samples back into fields. Tokens that are never targets (class tokens;
<sep> of a single-text task) are masked out of the softmax when scoring and when sampling,
so the scored distribution is the sampled one and they get no output-side gradient.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from dilm import dist
from dilm.batching import length_chunks
from dilm.errors import DilmError
from dilm.io import default_mode
from dilm.layout import Conditioning, build_prefixes, encode_text, label_text, match_prefix
from dilm.models import load_pretrained
from dilm.runtime import autocast, device

log = logging.getLogger(__name__)

META_FILE = "dilm_generator.json"
SEP_TOKEN = "<sep>"


def class_token(c: int) -> str:
    return f"<bos_{c}>"


@dataclass
class Generator:
    model: torch.nn.Module
    tokenizer: object
    num_classes: int
    pair: bool
    max_length: int = 64  # tokens per text field
    prefixes: list[list[int]] | None = None  # per class; None = the paper's [<bos_c>]
    layout: str = "class_token"

    def __post_init__(self):
        if self.prefixes is None:
            self.prefixes = [[t] for t in self.class_token_ids]

    # ---- token layout -------------------------------------------------------
    @property
    def class_token_ids(self) -> list[int]:
        return self.tokenizer.convert_tokens_to_ids([class_token(c) for c in range(self.num_classes)])

    @property
    def never_targets(self) -> list[int]:
        """Added tokens that no text contains: class tokens, and <sep> of a single-text task."""
        added = self.tokenizer.get_added_vocab()
        names = [class_token(c) for c in range(self.num_classes)] + ([] if self.pair else [SEP_TOKEN])
        return [added[n] for n in names if n in added]

    @property
    def sep_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(SEP_TOKEN)

    @property
    def eos_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_id

    def encode(self, texts: tuple[str, ...], label: int) -> list[int]:
        """Token ids of `<bos_label> s1 [<sep> s2] <eos>`, each text cut to max_length tokens."""
        if len(texts) != (2 if self.pair else 1):
            raise DilmError(f"generator expects {2 if self.pair else 1} text field(s), got {len(texts)}")
        ids = list(self.prefixes[label])
        for i, text in enumerate(texts):
            if i:
                ids.append(self.sep_id)
            ids += self.tokenizer(text, add_special_tokens=False)["input_ids"][: self.max_length]
        return ids + [self.eos_id]

    def encode_many(self, texts: list[tuple[str, ...]], labels: list[int]) -> list[list[int]]:
        """Batched `encode` (one tokenizer call per field) for pre-tokenising a whole split."""
        fields = list(zip(*texts))
        if len(fields) != (2 if self.pair else 1):
            raise DilmError(f"generator expects {2 if self.pair else 1} text field(s), got {len(fields)}")
        cols = [self.tokenizer(list(f), add_special_tokens=False)["input_ids"] for f in fields]
        seqs = []
        for i, label in enumerate(labels):
            ids = self.prefixes[label] + cols[0][i][: self.max_length]
            if self.pair:
                ids += [self.sep_id] + cols[1][i][: self.max_length]
            seqs.append(ids + [self.eos_id])
        return seqs

    def label_of(self, seq: list[int]) -> int | None:
        """The class whose prefix starts `seq` (None if none does)."""
        return match_prefix(self.prefixes, seq)

    def prefix_length(self, seq: list[int]) -> int:
        c = self.label_of(seq)
        if c is None:
            raise DilmError("sequence does not start with a class prefix of this generator")
        return len(self.prefixes[c])

    def decode(self, seq: list[int]) -> tuple[str, ...] | None:
        """Fields of a sequence `prefix_c ... <eos>`; None if it cannot be parsed (no class prefix,
        a pair without exactly one <sep>, an empty field)."""
        c = self.label_of(seq)
        if c is None:
            return None
        body = list(seq[len(self.prefixes[c]):])
        if self.eos_id in body:
            body = body[: body.index(self.eos_id)]
        if self.pair:
            if body.count(self.sep_id) != 1:
                return None
            cut = body.index(self.sep_id)
            parts = (body[:cut], body[cut + 1:])
        else:
            parts = (body,)
        texts = tuple(self.tokenizer.decode(p, skip_special_tokens=True).strip() for p in parts)
        return texts if all(texts) else None

    # ---- scoring ------------------------------------------------------------
    def batch(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded (B, L) ids and attention mask on the model's device."""
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        dev = next(self.model.parameters()).device
        return ids.to(dev), mask.to(dev)

    def token_logprobs(self, seqs: list[list[int]], micro_batch: int = 8,
                       spread: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Sum of log p(token) over each sample's own tokens after its class prefix, and their count.

        Rows are sorted by length and run in chunks of at most `micro_batch` (0 = one batch),
        each padded to its own longest row, and the LM head only sees real (unpadded) tokens.
        Within a chunk, each class prefix runs once and its keys and values serve every row of
        that class (rows whose prefixes have one length run as one batch), so a long instruction
        costs once per class, not once per row. The values equal one padded full-sequence batch
        up to float rounding.

        With `spread` (no grad), the processes of a launch share the chunks out and every one gets
        all the values; each chunk is the same as in one process, so are its values.

        Returns:
            (B,) summed log-probabilities (with grad if enabled) and (B,) token counts, input order.
        """
        chunks = length_chunks([len(s) for s in seqs], micro_batch)
        if spread and dist.world_size() > 1:
            dev = next(self.model.parameters()).device
            shared = dist.map_shared(lambda j: tuple(x.detach().cpu() for x in self._chunk_logprobs(
                [seqs[i] for i in chunks[j]])), len(chunks))  # on the CPU: they travel between processes
            parts = [(t.to(dev), c.to(dev)) for t, c in shared]
        else:
            parts = [self._chunk_logprobs([seqs[i] for i in rows]) for rows in chunks]
        order = [i for rows in chunks for i in rows]
        total, count = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        back = torch.empty(len(order), dtype=torch.long, device=total.device)
        back[torch.tensor(order, device=total.device)] = torch.arange(len(order), device=total.device)
        return total[back], count[back]

    def _chunk_logprobs(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        labels = [self.label_of(s) for s in seqs]
        if None in labels:
            raise DilmError("sequence does not start with a class prefix of this generator")
        body, head = self._body_and_head()
        masked = self.never_targets
        groups = {}  # rows whose prefixes have one length share one pass (shared path) or one batch
        for i, c in enumerate(labels):
            groups.setdefault(len(self.prefixes[c]), []).append(i)
        totals, counts, order = [], [], []
        for p, rows in groups.items():
            group = [seqs[i] for i in rows]
            if body is not None and p > 1:
                logits, targets, row_of = self._shared_prefix_logits(body, head, [labels[i] for i in rows], group)
            else:
                logits, targets, row_of = self._full_logits(body, head, p, group)
            logits = logits.float()
            if masked:
                logits = logits.index_fill(1, torch.tensor(masked, device=logits.device), float("-inf"))
            logp = -torch.nn.functional.cross_entropy(logits, targets, reduction="none")  # (T,)
            totals.append(torch.zeros(len(group), dtype=logp.dtype, device=logp.device).index_add(0, row_of, logp))
            counts.append(torch.bincount(row_of, minlength=len(group)).to(logp.dtype))
            order += rows
        total, count = torch.cat(totals), torch.cat(counts)
        index = torch.tensor(order, device=total.device)  # input row of each output row: put back
        return torch.zeros_like(total).index_copy(0, index, total), torch.zeros_like(count).index_copy(0, index, count)

    def _full_logits(self, body, head, start: int, seqs: list[list[int]]):
        """(T, V) logits of every real token after the first `start` (prefix) tokens, their targets,
        and the row of each."""
        ids, mask = self.batch(seqs)
        keep = mask[:, 1:].bool()  # (B, L-1): predicted positions that are real tokens
        keep[:, : start - 1] = False  # positions that predict prefix tokens are not scored
        targets = ids[:, 1:][keep]  # (T,)
        if body is None:  # a model whose head is not a plain projection: full logits
            logits = self.model(input_ids=ids, attention_mask=mask).logits[:, :-1][keep]
        else:
            hidden = body(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1]  # (B, L-1, H)
            logits = head(hidden[keep])  # (T, V): the vocabulary projection of real tokens only
        return logits, targets, keep.nonzero()[:, 0]

    def _shared_prefix_logits(self, body, head, labels: list[int], seqs: list[list[int]]):
        """As `_full_logits` for rows whose class prefixes have one length: each distinct prefix runs
        once, and every row attends to its own class's cached keys and values."""
        dev = next(self.model.parameters()).device
        classes = sorted(set(labels))
        p = len(self.prefixes[classes[0]])
        pre = body(input_ids=torch.tensor([self.prefixes[c] for c in classes], device=dev), use_cache=True)
        cache = getattr(pre, "cache", None) or pre.past_key_values  # renamed in transformers 5
        which = torch.tensor([classes.index(c) for c in labels], device=dev)  # (B,) prefix row of each row
        cache.batch_select_indices(which)
        ids, mask = self.batch([s[p:] for s in seqs])  # (B, L): the text after the prefix
        attention = torch.cat([torch.ones((len(seqs), p), dtype=mask.dtype, device=mask.device), mask], dim=1)
        rest = body(input_ids=ids, attention_mask=attention, **{cache_arg(body): cache}).last_hidden_state
        last = pre.last_hidden_state[which, -1:]  # (B, 1, H): predicts each row's first text token
        hidden = torch.cat([last, rest[:, :-1]], dim=1)  # (B, L, H): position t predicts ids[:, t]
        keep = mask.bool()
        return head(hidden[keep]), ids[keep], keep.nonzero()[:, 0]

    def _body_and_head(self):
        """(transformer body, output projection) of a plain causal LM, else (None, None)."""
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model  # peft
        cfg = base.config
        if getattr(cfg, "final_logit_softcapping", None) or getattr(cfg, "logit_scale", None):
            return None, None
        body = getattr(base, base.base_model_prefix, None)
        head = base.get_output_embeddings()
        if body is None or body is base or not isinstance(head, torch.nn.Linear):
            return None, None
        return body, head

    def lm_loss(self, seqs: list[list[int]], batch_size: int | None = None) -> torch.Tensor:
        """Paper Eq. 1: per-sample negative log-likelihood averaged over its own tokens, batch mean.

        `batch_size` > len(seqs) gives this share's part of the mean over a larger (global) batch."""
        total, count = self.token_logprobs(seqs, micro_batch=0)  # pre-training batches are length-bucketed
        return -(total / count).sum() / (batch_size or len(seqs))

    # ---- sampling -----------------------------------------------------------
    @torch.no_grad()
    def sample(self, label: int, n: int, top_p: float = 0.95, max_new_tokens: int = 48,
               batch_size: int = 64, max_dropped_ratio: int = 20, precision: str = "auto",
               rng: torch.Generator | None = None) -> tuple[list[list[int]], int]:
        """Draw n parseable samples of class `label` (top-p, no top-k, KV cache).

        Unparseable or unfinished samples (no EOS within max_new_tokens, a pair without
        exactly one <sep>) are dropped and drawn again. Returns (sequences, dropped count),
        each sequence `prefix_c ... <eos>`. `rng` (on the model's device) makes the draws
        independent of the global RNG: the same seed gives the same samples in any process.
        """
        was_training = self.model.training
        self.model.eval()
        suppress = self.never_targets
        kept, dropped = [], 0
        while len(kept) < n:
            want = min(batch_size, n - len(kept))
            with autocast(precision, next(self.model.parameters()).device):
                raw = self._sample_batch(label, want, top_p, max_new_tokens, suppress, rng)
            for seq in raw:
                if seq[-1] != self.eos_id or self.decode(seq) is None:
                    dropped += 1
                else:
                    kept.append(seq)
            if dropped > max_dropped_ratio * n + 100 and len(kept) < n:
                raise DilmError(f"generator produced only {len(kept)}/{n} parseable samples for class "
                                f"{label} ({dropped} dropped); raise max_new_tokens or pre-train longer")
        self.model.train(was_training)
        return kept[:n], dropped

    def _sample_batch(self, label: int, n: int, top_p: float, max_new_tokens: int,
                      suppress: list[int], rng: torch.Generator | None = None) -> list[list[int]]:
        """One batch of top-p samples; finished rows leave the batch (and the KV cache) at their EOS."""
        dev = next(self.model.parameters()).device
        prefix = self.prefixes[label]
        seqs = [list(prefix) for _ in range(n)]
        alive = torch.arange(n, device=dev)  # row in `seqs` of each batch row
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model  # peft
        cache_kw = cache_arg(base)
        out = self.model(input_ids=torch.tensor([prefix], device=dev), use_cache=True)  # the prefix, once
        cache = getattr(out, "cache", None) or out.past_key_values  # renamed in transformers 5
        cache.batch_repeat_interleave(n)
        logits = out.logits[:, -1].float().expand(n, -1).clone()  # (n, V)
        for step in range(max_new_tokens):
            logits[:, suppress] = float("-inf")
            nxt = top_p_sample(logits, top_p, rng=rng)  # (b,)
            for row, tok in zip(alive.tolist(), nxt.tolist()):
                seqs[row].append(tok)
            running = nxt != self.eos_id
            if not running.any() or step == max_new_tokens - 1:
                break
            if not running.all():  # drop finished rows from the batch and the cache
                keep = running.nonzero().squeeze(1)
                cache.reorder_cache(keep)
                alive, nxt = alive[keep], nxt[keep]
            out = self.model(input_ids=nxt.unsqueeze(1), use_cache=True, **{cache_kw: cache})
            cache = getattr(out, "cache", None) or out.past_key_values
            logits = out.logits[:, -1].float()  # (b, V)
        return seqs

    # ---- persistence --------------------------------------------------------
    def save(self, path: str | Path, extra: dict | None = None) -> None:
        """Write an HF folder (safetensors) + dilm metadata atomically (temp folder, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
        os.chmod(tmp, default_mode(0o777))  # mkdtemp makes 0700 folders
        self.model.save_pretrained(tmp, safe_serialization=True)
        self.tokenizer.save_pretrained(tmp)
        meta = {"num_classes": self.num_classes, "pair": self.pair, "max_length": self.max_length,
                "layout": self.layout, "prefixes": self.prefixes, **(extra or {})}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2))
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)


def cache_arg(module) -> str:
    """The forward's keyword for the KV cache: `cache` in newer transformers, else `past_key_values`."""
    return "cache" if "cache" in inspect.signature(module.forward).parameters else "past_key_values"


def top_p_sample(logits: torch.Tensor, top_p: float, candidates: int = 512,
                 rng: torch.Generator | None = None) -> torch.Tensor:
    """Nucleus sampling: draw from the smallest set of tokens whose probability reaches top_p.

    Sorting the whole vocabulary costs as much as a forward pass on CPU, so rows whose
    nucleus lies within the top `candidates` tokens (nearly all, once trained) only sort those;
    the others fall back to a full sort. Both paths give the same distribution.

    Args:
        logits: (B, V) next-token logits. Returns (B,) token ids.
    """
    probs = torch.softmax(logits, dim=-1)
    if top_p >= 1.0:
        return torch.multinomial(probs, 1, generator=rng).squeeze(-1)
    k = min(candidates, probs.shape[-1])
    top_vals, top_idx = probs.topk(k, dim=-1)  # (B, k), descending
    full = top_vals.sum(-1) < top_p  # nucleus may reach past the candidates
    if full.any():
        sorted_p, order = probs[full].sort(dim=-1, descending=True)
        out = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
        out[full] = _draw_nucleus(sorted_p, order, top_p, rng)
        if (~full).any():
            out[~full] = _draw_nucleus(top_vals[~full], top_idx[~full], top_p, rng)
        return out
    return _draw_nucleus(top_vals, top_idx, top_p, rng)


def _draw_nucleus(sorted_p: torch.Tensor, order: torch.Tensor, top_p: float,
                  rng: torch.Generator | None = None) -> torch.Tensor:
    """Sample from descending probabilities `sorted_p` (token ids `order`) cut at mass top_p."""
    outside = sorted_p.cumsum(-1) - sorted_p >= top_p  # mass before this token already >= p
    choice = torch.multinomial(sorted_p.masked_fill(outside, 0.0), 1, generator=rng)
    return order.gather(-1, choice).squeeze(-1)


def load_generator(name: str, num_classes: int, pair: bool, max_length: int = 64,
                   trust_remote_code: bool = False, init_names: Sequence[str] | None = None,
                   conditioning: Conditioning | None = None) -> Generator:
    """Load a causal LM as a generator. A dilm generator folder keeps the layout it was trained
    with; a base model gets the layout of `conditioning` (default: the paper's class tokens, from
    EOS, or from `init_names[c]` when given) and the tokens it needs (<sep> for pairs)."""
    tokenizer = load_pretrained(AutoTokenizer, name, "generator", trust_remote_code)
    model = load_pretrained(AutoModelForCausalLM, name, "generator", trust_remote_code, dtype=torch.float32)
    if tokenizer.eos_token_id is None:
        raise DilmError(f"generator '{name}': tokenizer has no EOS token")
    meta_path = Path(name) / META_FILE
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta["num_classes"] != num_classes or meta["pair"] != pair:
            raise DilmError(f"generator {name} was trained for {meta['num_classes']} classes "
                            f"(pair={meta['pair']}), the dataset has {num_classes} (pair={pair})")
        layout, prefixes = meta.get("layout", "class_token"), meta.get("prefixes")
    else:
        cond = conditioning or Conditioning(class_token_init="eos" if init_names is None else "label_names",
                                            label_names=tuple(init_names or ()))
        layout, prefixes = cond.layout, None
        if layout == "class_token":
            add_class_tokens(model, tokenizer, num_classes,
                             cond.label_names if cond.class_token_init == "label_names" else None)
        else:
            if pair:  # a line break is what the pre-trained model knows between two sentences
                add_tokens(model, tokenizer, [SEP_TOKEN], [encode_text(tokenizer, "\n") or [tokenizer.eos_token_id]])
            prefixes = build_prefixes(tokenizer, layout, cond.label_names, cond.instructions)
            if len(prefixes) != num_classes:
                raise DilmError(f"{len(prefixes)} class prefixes for {num_classes} classes")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
    return Generator(model.to(device()), tokenizer, num_classes, pair, max_length, prefixes, layout)


def name_token_ids(tokenizer, names: Sequence[str]) -> list[list[int]]:
    """Token ids of each class name as a word in running text (' Sci/Tech', ' not equivalent')."""
    ids = [tokenizer.encode(" " + label_text(name), add_special_tokens=False) for name in names]
    for name, toks in zip(names, ids):
        if not toks:
            raise DilmError(f"class name {name!r} has no tokens to start its class token from")
    return ids


def class_vectors(weight: torch.Tensor, source_ids: list[list[int]]) -> torch.Tensor:
    """Row c: the mean of `weight`'s rows `source_ids[c]`."""
    return torch.stack([weight[ids].mean(0) for ids in source_ids])


def add_class_tokens(model, tokenizer, num_classes: int, init_names: Sequence[str] | None = None) -> None:
    """Add <bos_0..C-1> and <sep>. <sep> starts as a copy of EOS; so do the class tokens, unless
    `init_names` gives each class a name whose mean token embedding it starts from instead."""
    if init_names is not None and len(init_names) != num_classes:
        raise DilmError(f"{len(init_names)} class names for {num_classes} classes")
    eos = tokenizer.eos_token_id
    sources = name_token_ids(tokenizer, init_names) if init_names is not None else [[eos]] * num_classes
    add_tokens(model, tokenizer, [class_token(c) for c in range(num_classes)] + [SEP_TOKEN], sources + [[eos]])


def add_tokens(model, tokenizer, names: list[str], sources: list[list[int]]) -> None:
    """Add special tokens `names`; token i starts as the mean embedding of tokens `sources[i]`
    (input and, if untied, output embeddings)."""
    tokenizer.add_special_tokens({"additional_special_tokens": names}, replace_extra_special_tokens=False)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    ids = tokenizer.convert_tokens_to_ids(names)
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        out = model.get_output_embeddings()
        tables = [emb] + ([out.weight] if out is not None and out.weight.data_ptr() != emb.data_ptr() else [])
        for weight in tables:
            weight[ids] = class_vectors(weight, sources)
