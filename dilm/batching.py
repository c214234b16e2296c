"""Length-sorted chunks: batches that pad little, for the learner and the generator alike."""

from __future__ import annotations

from collections.abc import Sequence


def length_chunks(lengths: Sequence[int], max_rows: int) -> list[list[int]]:
    """Row indices sorted by length (stable), split into the fewest near-equal chunks of at most
    `max_rows` rows (0 = one chunk). Concatenated, the chunks are the sorted order."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    n = -(-len(order) // max_rows) if max_rows > 0 else 1
    return [rows for rows in (order[k * len(order) // n: (k + 1) * len(order) // n] for k in range(n)) if rows]
