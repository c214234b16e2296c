"""`dilm icl`: in-context learning with a set as the demonstrations (paper Table 3).

For each set and each order r = 0..R-1 (a shuffle of the set's rows seeded by r), the
rows become k-shot demonstrations rendered with the dataset's template, e.g. for SST-2

    Review: a great film
    Sentiment: positive

and every validation example is classified by the causal LM's log-likelihood of each
label word after the prompt (sum of the word's token log-probs). The demonstrations are
shared by every example of an order, so their KV cache is computed once per order; per
example the query is run once on a copy of it and the C label words are scored as one
batch of C continuations. A (set, model, order) result is stored in the results store
under learner `icl:<model>`, an `icl-` protocol hash (template, label words, number of
examples, precision, context) and seed = order, so a rerun resumes.
"""

from __future__ import annotations

import copy
import inspect
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from dilm import dist
from dilm.config import RunConfig
from dilm.data import DatasetSpec, Split, load_dataset
from dilm.errors import DilmError
from dilm.metrics import scores, summary
from dilm.precision_probe import resolve_precision, resolved_config
from dilm.runtime import autocast, device, set_threads
from dilm.sets import SetInfo, read_sets
from dilm.store import (
    ResultStore,
    RunKey,
    RunRecord,
    file_hash,
    machine,
    protocol_fields,
    protocol_hash,
    versions,
)

log = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2-135m"
PROTOCOL_PREFIX = "icl-"  # ICL protocol hashes never equal a fine-tuning protocol hash


# ---- templates --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Template:
    """How one labelled example reads in a prompt.

    `example` is a format string with one placeholder per text field (named by `fields`, in
    the spec's text-field order) and `{label_word}`; the query is the part before
    `{label_word}`, and the whitespace just before it starts each scored continuation.
    """

    name: str
    example: str
    fields: tuple[str, ...]
    label_words: tuple[str, ...]
    separator: str = "\n\n"  # between demonstrations, and before the query

    def _values(self, texts: tuple[str, ...]) -> dict[str, str]:
        if len(texts) != len(self.fields):
            raise DilmError(f"template '{self.name}' takes {len(self.fields)} text field(s), got {len(texts)}")
        return {f: t.strip() for f, t in zip(self.fields, texts)}

    def demonstration(self, texts: tuple[str, ...], label: int) -> str:
        return self.example.format_map({**self._values(texts), "label_word": self.label_words[label]})

    def query(self, texts: tuple[str, ...]) -> str:
        head = self.example.split("{label_word}")[0]
        return head.rstrip(" ").format_map(self._values(texts))

    def continuations(self) -> tuple[str, ...]:
        """The scored text of each label: the gap before `{label_word}` plus the word (" positive")."""
        head = self.example.split("{label_word}")[0]
        gap = head[len(head.rstrip(" ")):]
        return tuple(gap + w for w in self.label_words)


TEMPLATES: dict[str, Template] = {}


def register_template(t: Template) -> Template:
    if t.name in TEMPLATES:
        raise ValueError(f"ICL template '{t.name}' registered twice")
    if "{label_word}" not in t.example:
        raise ValueError(f"ICL template '{t.name}' has no {{label_word}}")
    TEMPLATES[t.name] = t
    return t


register_template(Template("sst2", "Review: {sentence}\nSentiment: {label_word}", ("sentence",),
                           ("negative", "positive")))
register_template(Template("mrpc", "Sentence 1: {sentence1}\nSentence 2: {sentence2}\n"
                           "Same meaning: {label_word}", ("sentence1", "sentence2"), ("no", "yes")))
register_template(Template("qqp", "Question 1: {question1}\nQuestion 2: {question2}\n"
                           "Same question: {label_word}", ("question1", "question2"), ("no", "yes")))
register_template(Template("ag_news", "Article: {text}\nTopic: {label_word}", ("text",),
                           ("world", "sports", "business", "technology")))
register_template(Template("emotion", "Tweet: {text}\nEmotion: {label_word}", ("text",),
                           ("anger", "joy", "optimism", "sadness")))
register_template(Template("mnli", "Premise: {premise}\nHypothesis: {hypothesis}\nRelation: {label_word}",
                           ("premise", "hypothesis"), ("entailment", "neutral", "contradiction")))


def generic_template(spec: DatasetSpec) -> Template:
    """Fallback for any dataset: one `Field: text` line per text field, then `Label: <label name>`."""
    slots = tuple(f"text_{i + 1}" for i in range(len(spec.text_fields)))
    lines = [f"{_escape(f.replace('_', ' ').capitalize())}: {{{s}}}" for f, s in zip(spec.text_fields, slots)]
    words = tuple(name.replace("_", " ") for name in spec.label_names)
    return Template(f"generic:{spec.name}", "\n".join([*lines, "Label: {label_word}"]), slots, words)


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def template_for(spec: DatasetSpec) -> Template:
    """The registered template of the dataset if it fits its fields and classes, else the generic one."""
    t = TEMPLATES.get(spec.name)
    if t is not None and len(t.fields) == len(spec.text_fields) and len(t.label_words) == spec.num_classes:
        return t
    return generic_template(spec)


def demonstration_order(n: int, order: int) -> list[int]:
    """Row indices of a set in the order of demonstration `order` (a shuffle seeded by it)."""
    idx = list(range(n))
    random.Random(order).shuffle(idx)
    return idx


def demonstrations_text(template: Template, demos: Split, idx: Sequence[int]) -> str:
    """The prompt's shared part: each demonstration followed by the separator."""
    return "".join(template.demonstration(demos.texts[i], demos.labels[i]) + template.separator for i in idx)


def build_prompt(template: Template, demos: Split, order: int, texts: tuple[str, ...]) -> str:
    """The full prompt of one example (scored label words follow it)."""
    return demonstrations_text(template, demos, demonstration_order(len(demos), order)) + template.query(texts)


@dataclass(frozen=True)
class IclProtocol:
    """What an ICL result depends on besides the set, the model and the order; hashed into the store key."""

    template: str
    separator: str
    label_words: tuple[str, ...]
    examples: int  # validation examples scored (the first ones)
    precision: str
    max_context: int | None = None  # an explicit context override (None: the model's own)
    scoring: str = "sum_logprob"  # sum of the label word's token log-probs, argmax over labels

    def fields(self) -> dict:
        return protocol_fields(self, kind="icl")

    def hash(self) -> str:
        return PROTOCOL_PREFIX + protocol_hash(self, kind="icl")


def icl_protocol(spec: DatasetSpec, examples: int, precision: str,
                 max_context: int | None = None) -> tuple[Template, IclProtocol]:
    """The template of a dataset and the protocol of scoring its first `examples` validation rows."""
    t = template_for(spec)
    return t, IclProtocol(t.example, t.separator, t.label_words, examples, resolve_precision(precision), max_context)


# ---- the language model -----------------------------------------------------------------------

@dataclass
class IclModel:
    model: torch.nn.Module
    tokenizer: object
    max_context: int  # positions the model can attend over
    precision: str = "auto"

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    @property
    def start_ids(self) -> list[int]:
        """The BOS token if the tokenizer puts one in front of a text, else nothing."""
        bos = self.tokenizer.bos_token_id
        return [bos] if bos is not None and self.tokenizer("")["input_ids"][:1] == [bos] else []


def load_icl_model(name: str, precision: str = "auto", trust_remote_code: bool = False,
                   max_context: int | None = None) -> IclModel:
    """A causal LM (fp32 weights, `precision` autocast) in eval mode; context from its config."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from dilm.models import load_pretrained

    tokenizer = load_pretrained(AutoTokenizer, name, "ICL model", trust_remote_code)
    model = load_pretrained(AutoModelForCausalLM, name, "ICL model", trust_remote_code, dtype=torch.float32)
    context = max_context or getattr(model.config, "max_position_embeddings", None)
    if not context:
        raise DilmError(f"ICL model '{name}' does not state its context length; give --max-context")
    return IclModel(model.to(device()).eval(), tokenizer, int(context), precision)


def _forward(model: torch.nn.Module, ids: torch.Tensor, cache) -> tuple[torch.Tensor, object]:
    """One cached forward pass: (B, L, V) logits and the grown cache."""
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    out = model(input_ids=ids, use_cache=True, **({name: cache} if cache is not None else {}))
    return out.logits, getattr(out, "cache", None) or out.past_key_values  # renamed in transformers 5


@torch.no_grad()
def prefill(model: torch.nn.Module, ids: list[int]):
    """KV cache of the shared prompt part (None when it is empty)."""
    if not ids:
        return None
    dev = next(model.parameters()).device
    return _forward(model, torch.tensor([ids], device=dev), None)[1]


@torch.no_grad()
def label_logprobs(model: torch.nn.Module, prefix_cache, query_ids: list[int],
                   continuations: Sequence[list[int]]) -> torch.Tensor:
    """log p(continuation | prefix + query) for each continuation, summed over its tokens.

    The query runs once on a copy of the prefix cache; the first token of every
    continuation is read from its last logits, the rest run as one batch of C rows
    (right-padded: causal attention never lets a real token see the padding after it).

    Returns:
        (C,) float32 log-likelihoods.
    """
    dev = next(model.parameters()).device
    cache = copy.deepcopy(prefix_cache) if prefix_cache is not None else None
    logits, cache = _forward(model, torch.tensor([query_ids], device=dev), cache)  # (1, Q, V)
    first = torch.log_softmax(logits[0, -1].float(), dim=-1)  # (V,)
    total = first[torch.tensor([c[0] for c in continuations], device=dev)]  # (C,)
    width = max(len(c) for c in continuations)
    if width == 1:
        return total
    C = len(continuations)
    ids = torch.zeros((C, width), dtype=torch.long, device=dev)
    keep = torch.zeros((C, width - 1), device=dev)
    for i, c in enumerate(continuations):
        ids[i, : len(c)] = torch.tensor(c)
        keep[i, : len(c) - 1] = 1
    cache.batch_repeat_interleave(C)
    logits, _ = _forward(model, ids[:, :-1], cache)  # (C, width-1, V)
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    return total + (logp * keep).sum(-1)


def classify(lm: IclModel, template: Template, demos: Split, order: int, queries: list[tuple[str, ...]],
             desc: str = "icl") -> list[int]:
    """Predicted label of each query with the demonstrations of `order` in front of it.

    Demonstrations are dropped from the front (farthest from the query) until the prefix,
    the longest query and the longest label word fit the context; a query that alone
    does not fit keeps its end. Both are logged.
    """
    conts = [lm.encode(c) for c in template.continuations()]
    query_ids = [lm.encode(template.query(q)) for q in queries]
    start = lm.start_ids
    room = lm.max_context - max(len(c) for c in conts) - len(start)
    if room <= 0:
        raise DilmError(f"a context of {lm.max_context} tokens cannot hold even a label word")
    cut = sum(len(q) > room for q in query_ids)
    if cut:
        log.info("%s: %d validation example(s) longer than the %d-token context keep their last %d tokens",
                 desc, cut, lm.max_context, room)
        query_ids = [q[-room:] for q in query_ids]
    longest = max(len(q) for q in query_ids)
    idx = demonstration_order(len(demos), order)
    prefix = start + lm.encode(demonstrations_text(template, demos, idx))
    while idx and len(prefix) + longest > room + len(start):
        idx = idx[1:]
        prefix = start + lm.encode(demonstrations_text(template, demos, idx))
    if len(idx) < len(demos):
        log.info("%s: kept %d of %d demonstrations to fit the %d-token context", desc, len(idx), len(demos),
                 lm.max_context)
    preds = []
    with torch.no_grad(), autocast(lm.precision, next(lm.model.parameters()).device):
        cache = prefill(lm.model, prefix)
        for q in tqdm(query_ids, desc=desc, disable=None, leave=False):
            ids = q if prefix else start + q
            preds.append(int(label_logprobs(lm.model, cache, ids, conts).argmax()))
    return preds


# ---- the workflow -----------------------------------------------------------------------------

def icl_sets(sets: Sequence[SetInfo], model_name: str, orders: int, spec: DatasetSpec, validation: Split,
             store: ResultStore, precision: str = "auto", limit: int | None = None,
             trust_remote_code: bool = False, max_context: int | None = None) -> list[RunRecord]:
    """Score every (set, order) missing from `store`; return the new records (the model loads only if needed).

    Raises:
        DilmError for an invalid set file (with file and line) before the model is loaded.
    """
    if orders < 1:
        raise DilmError(f"--orders must be >= 1, got {orders}")
    if limit is not None and limit < 1:
        raise DilmError(f"--limit must be >= 1, got {limit}")
    contents = read_sets(sets, spec)  # validate all before loading
    queries = validation.texts[:limit] if limit else validation.texts
    gold = validation.labels[: len(queries)]
    template, protocol = icl_protocol(spec, len(queries), precision, max_context)
    learner = f"icl:{model_name}"
    todo = [(info, RunKey(file_hash(info.path), learner, protocol.hash(), r)) for info in sets for r in range(orders)]
    todo = [(info, key) for info, key in todo if not store.has(key)]
    dist.barrier()  # every process has planned before any stores a run
    log.info("ICL with %s, template '%s': %d (set, order) runs to do, %d already in %s", model_name,
             template.name, len(todo), len(sets) * orders - len(todo), store.path)
    todo = dist.shard(todo)  # several processes: a round-robin share each
    lm = load_icl_model(model_name, precision, trust_remote_code, max_context) if todo else None
    records = []
    for n, (info, key) in enumerate(todo, start=1):
        t0 = time.time()
        pred = classify(lm, template, contents[info.path], key.seed, queries, f"{info.path.name} order {key.seed}")
        score, values = scores(spec.metric, pred, gold, spec.num_classes)
        record = RunRecord(key, spec.name, info.method, info.dpc, str(info.path), spec.metric, score, values,
                           protocol.fields(), round(time.time() - t0, 2), versions=versions(), machine=machine())
        store.add(record)
        records.append(record)
        log.info("[%d/%d] %s (%s, dpc %d) %s order %d: %s %.2f (%.1f s)", n, len(todo), info.path, info.method,
                 info.dpc, learner, key.seed, spec.metric, score, record.seconds)
    dist.barrier()  # the summary after this sees every process's runs
    return records


def stored_results(store: ResultStore, sets: Sequence[SetInfo], model_name: str, orders: int,
                   protocol: IclProtocol) -> list[RunRecord]:
    """The stored ICL records of these sets with `model_name` and `protocol`, orders 0..orders-1."""
    hashes = {file_hash(info.path) for info in sets}
    return [r for r in store.query(learner=f"icl:{model_name}", protocol=protocol.hash())
            if r.key.set_hash in hashes and r.key.seed < orders]


def summary_lines(records: Sequence[RunRecord]) -> list[str]:
    """`dataset method dpc K: metric mean ± std (n = sets × orders)` per group."""
    groups: dict[tuple, list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.dataset, r.key.learner, r.key.protocol, r.method, r.dpc), []).append(r)
    lines = []
    for (dataset, learner, _, method, dpc), rs in sorted(groups.items()):
        s = summary([r.score for r in rs])
        n_sets = len({r.key.set_hash for r in rs})
        lines.append(f"{learner} {dataset} {method} dpc {dpc}: {rs[0].metric} {s.mean:.2f} ± {s.std:.2f} "
                     f"(n={s.n}: {n_sets} sets × {s.n // max(1, n_sets)} orders)")
    return lines


def run_icl(cfg: RunConfig, sets: Sequence[SetInfo], model_name: str, orders: int, store_path: str | Path,
            limit: int | None = None, max_context: int | None = None) -> tuple[list[RunRecord], list[str]]:
    """The `dilm icl` workflow: the config's dataset gives the spec and the validation split.

    Returns:
        (the new records, summary lines over every stored (set, order) of this call).
    """
    set_threads()
    cfg = resolved_config(cfg)
    dataset = load_dataset(cfg.data, cfg.seed)
    if dataset.validation is None:
        raise DilmError(f"dataset '{dataset.spec.name}' has no validation split to score on")
    validation = dataset.validation
    examples = min(limit, len(validation)) if limit else len(validation)
    _, protocol = icl_protocol(dataset.spec, examples, cfg.precision, max_context)
    with ResultStore(store_path) as store:
        new = icl_sets(sets, model_name, orders, dataset.spec, validation, store, cfg.precision, limit,
                       cfg.model.trust_remote_code, max_context)
        records = stored_results(store, sets, model_name, orders, protocol)
    return new, summary_lines(records)
