"""Length-sorted chunks (dilm/batching.py)."""

from dilm.batching import length_chunks


def test_chunks_are_the_stable_length_order_split_near_equally():
    # by length: rows 1 and 3 (1, in input order), 2 (3), 4 (4), 0 (5); 5 rows, at most 2 a chunk
    # -> 3 chunks cut at 5*1//3 = 1 and 5*2//3 = 3
    assert length_chunks([5, 1, 3, 1, 4], 2) == [[1], [3, 2], [4, 0]]
    assert length_chunks([5, 1, 3, 1, 4], 5) == [[1, 3, 2, 4, 0]]


def test_zero_means_one_chunk_and_no_rows_means_no_chunk():
    assert length_chunks([2, 1], 0) == [[1, 0]]
    assert length_chunks([], 4) == []
    assert length_chunks([], 0) == []
