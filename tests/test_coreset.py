"""Selection maths: K-means, K-centers, herding and random subsets."""

from __future__ import annotations

import pytest
import torch

from dilm.coreset import herding, kcenters, kmeans, random_subset, select
from dilm.errors import DilmError

CENTERS = torch.tensor([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0], [100.0, 100.0]])


def clusters(per_cluster: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(4 * per_cluster, 2) points around four far-apart centers, shuffled; and each point's cluster."""
    gen = torch.Generator().manual_seed(seed)
    x = CENTERS.repeat_interleave(per_cluster, 0) + torch.randn(4 * per_cluster, 2, generator=gen)
    truth = torch.arange(4).repeat_interleave(per_cluster)
    order = torch.randperm(len(x), generator=gen)
    return x[order], truth[order]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kmeans_recovers_separated_clusters(seed):
    x, truth = clusters(seed=seed)
    centroids, assign = kmeans(x, 4, seed=seed)
    assert centroids.shape == (4, 2) and assign.shape == (40,)
    # every found cluster is exactly one true cluster, and its centroid is that cluster's mean
    for j in range(4):
        members = truth[assign == j]
        assert len(members) == 10 and members.unique().numel() == 1
        torch.testing.assert_close(centroids[j], x[assign == j].mean(0))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kcenters_returns_nearest_real_sample_to_each_centroid(seed):
    x, truth = clusters(seed=seed)
    chosen = kcenters(x, 4, seed=seed)
    assert len(chosen) == 4 and len(set(chosen)) == 4
    assert all(isinstance(i, int) and 0 <= i < len(x) for i in chosen)
    centroids, _ = kmeans(x, 4, seed=seed)
    for j, i in enumerate(chosen):
        nearest = int((x - centroids[j]).pow(2).sum(1).argmin())
        assert i == nearest
    assert sorted(truth[chosen].tolist()) == [0, 1, 2, 3]  # one per cluster


def test_kcenters_picks_distinct_rows_even_with_duplicates():
    x = torch.tensor([[0.0], [0.0], [0.0], [10.0]])
    chosen = kcenters(x, 3, seed=0)
    assert len(set(chosen)) == 3


def test_kcenters_k_equal_n_selects_everything():
    x, _ = clusters(per_cluster=2)
    assert sorted(kcenters(x, 8, seed=0)) == list(range(8))


def test_kcenters_too_many_centers_is_an_error():
    with pytest.raises(DilmError, match="cannot pick 5 centers from 4"):
        kcenters(torch.zeros(4, 2), 5)


def test_herding_by_hand():
    # mean 3.25. t=1: nearest to 3.25 is 2 (idx 2); t=2: (2+x)/2 -> 3.25 wants x=4.5: 1 gives 1.5
    # (gap 1.75) beats 10 (gap 2.75) and 0 (gap 2.25); t=3: (3+x)/3 wants 6.75: 10 gives 4.33.
    x = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    assert herding(x, 3) == [2, 1, 3]
    assert herding(x, 4) == [2, 1, 3, 0]
    with pytest.raises(DilmError):
        herding(x, 5)


def test_herding_towards_a_target_by_hand():
    # target 0.4 (not the data mean 3.25). t=1: 0 (gap 0.16) beats 1 (0.36); t=2: (0+x)/2 wants 0.8:
    # 1 gives 0.5 (gap 0.01), 2 gives 1.0 (0.36); t=3: (1+x)/3 wants 0.2: 2 gives 1.0, 10 gives 3.67.
    x = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    assert herding(x, 3, target=torch.tensor([0.4])) == [0, 1, 2]
    assert herding(x, 3, target=x.mean(0)) == herding(x, 3)
    with pytest.raises(DilmError, match=r"target has shape \(2,\), expected \(1,\)"):
        herding(x, 2, target=torch.zeros(2))


def test_herding_2d_first_pick_is_nearest_to_mean():
    x = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [1.0, 1.0]])  # mean (1.25, 1.25)
    assert herding(x, 1) == [3]


def test_random_subset_is_seeded():
    x = torch.zeros(50, 3)
    a = random_subset(x, 10, seed=0)
    assert a == random_subset(x, 10, seed=0)
    assert a != random_subset(x, 10, seed=1)
    assert len(set(a)) == 10 and all(0 <= i < 50 for i in a)
    assert a == torch.randperm(50, generator=torch.Generator().manual_seed(0))[:10].tolist()
    with pytest.raises(DilmError):
        random_subset(x, 51)


def test_select_by_name():
    x, _ = clusters()
    assert select("kcenters", x, 4, seed=3) == kcenters(x, 4, seed=3)
    assert select("herding", x, 4) == herding(x, 4)
    assert select("random", x, 4, seed=3) == random_subset(x, 4, seed=3)
    with pytest.raises(DilmError, match="unknown selection method 'kcenter' \\(did you mean 'kcenters'\\?\\)"):
        select("kcenter", x, 4)


def test_kmeans_on_a_subsample_for_large_inputs_is_nearly_as_good():
    """Above `fit_rows` the centroids are fitted on a seeded subsample; below it, all rows are used."""
    from dilm.coreset import _sq_dist, kmeans

    gen = torch.Generator().manual_seed(0)
    centers = torch.randn(8, 16, generator=gen) * 5
    x = centers[torch.randint(8, (4000,), generator=gen)] + torch.randn(4000, 16, generator=gen)

    def inertia(c):
        return _sq_dist(x, (x * x).sum(1), c).min(1).values.sum().item()

    import statistics

    full = statistics.median(inertia(kmeans(x, 8, seed=s, fit_rows=10_000)[0]) for s in range(5))
    sub = statistics.median(inertia(kmeans(x, 8, seed=s, fit_rows=500)[0]) for s in range(5))
    assert sub <= 1.1 * full  # k-means++ local optima vary by seed: compare medians
    c1, assign = kmeans(x, 8, seed=1, fit_rows=500)
    assert assign.shape == (4000,) and set(assign.tolist()) == set(range(8))  # every row assigned
    assert torch.equal(kmeans(x, 8, seed=1, fit_rows=500)[0], c1)  # seeded
