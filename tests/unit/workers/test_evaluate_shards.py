"""The evaluation job's shards (``workers.evaluate.launch``): contiguous, covering every sample once, and
gathered back in dataset order — or refused when one is missing."""
import numpy as np
import pytest

from workers.evaluate.launch import gather, shard_bounds


@pytest.mark.parametrize("n, k", [(10, 2), (7, 3), (2, 4), (0, 2), (1000, 7)])
def test_it_covers_every_sample_once(n, k):
    bounds = shard_bounds(n, k)
    assert len(bounds) == k and [i for a, b in bounds for i in range(a, b)] == list(range(n))
    assert max(b - a for a, b in bounds) - min(b - a for a, b in bounds) <= 1


def _part(start, stop, classes=("a", "b")):
    return {"start": start, "stop": stop, "scores": np.full((stop - start, 2), float(start), np.float32),
            "labels": np.arange(start, stop) % 2, "files": [f"f{i}" for i in range(start, stop)],
            "classes": list(classes)}


def test_it_gathers_the_shards_in_dataset_order_whatever_order_they_arrive_in():
    out = gather([_part(5, 10), _part(0, 5)])
    assert out["index"].tolist() == list(range(10)) and out["files"][:2] == ["f0", "f1"]
    assert out["scores"][:5].max() == 0.0 and out["scores"][5:].min() == 5.0 and out["classes"] == ["a", "b"]


def test_it_refuses_a_lost_or_repeated_sample():
    with pytest.raises(RuntimeError, match="does not follow 5"):
        gather([_part(0, 5), _part(6, 10)])
    with pytest.raises(RuntimeError, match="does not follow 5"):
        gather([_part(0, 5), _part(4, 10)])
