"""``torch.utils.data`` and the setup calls programs make before training (``torch.backends``,
``set_num_threads``, formatting a loss): the same snippet runs on torch and on tinygrad_rnn
where torch is installed, and the batches must match in shapes, dtypes and values."""
import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn.utils import data as D

X = np.arange(30, dtype=np.float32).reshape(10, 3)
Y = np.arange(10) % 3


class Pairs:
    """A map-style dataset of mixed fields, as programs write them (defined per framework)."""

    def __init__(self, lib):
        self.lib = lib

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": self.lib.tensor(X[i]), "id": i, "w": 0.5 * i, "name": f"s{i}"}, (i, [i, -i])


def _batches(lib, loader_kwargs, dataset=None):
    from importlib import import_module
    data = import_module(lib.__name__ + ".utils.data")
    dataset = dataset or data.TensorDataset(lib.tensor(X), lib.tensor(Y))
    return list(data.DataLoader(dataset, **loader_kwargs))


def _flatten(batch):
    if isinstance(batch, dict):
        return [leaf for key in sorted(batch) for leaf in _flatten(batch[key])]
    if isinstance(batch, (list, tuple)):
        return [leaf for item in batch for leaf in _flatten(item)]
    return [batch]


@pytest.mark.parametrize("kwargs", [dict(batch_size=4), dict(batch_size=4, drop_last=True), dict(batch_size=3),
                                    dict(batch_size=None), dict(batch_size=10, num_workers=2, pin_memory=True)])
def test_tensor_dataset_batches_match_torch(kwargs):
    torch = pytest.importorskip("torch")
    ours, theirs = _batches(tg, kwargs), _batches(torch, kwargs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        for x, y in zip(_flatten(a), _flatten(b), strict=True):
            assert tuple(x.shape) == tuple(y.shape) and str(x.dtype) == str(y.dtype).replace("torch.", "")
            np.testing.assert_array_equal(x.numpy(), y.numpy())


def test_default_collate_of_mixed_samples_matches_torch():
    torch = pytest.importorskip("torch")
    ours = _batches(tg, dict(batch_size=2), Pairs(tg))
    theirs = _batches(torch, dict(batch_size=2), Pairs(torch))
    assert len(ours) == len(theirs) == 3
    for a, b in zip(ours, theirs):
        assert a[0]["name"] == b[0]["name"]
        for x, y in zip(_flatten(a), _flatten(b), strict=True):
            if isinstance(x, str):
                assert x == y
                continue
            assert str(x.dtype) == str(y.dtype).replace("torch.", ""), (x, y)
            np.testing.assert_array_equal(x.numpy(), y.numpy())


def test_shuffle_is_a_permutation_repeated_by_manual_seed():
    def epoch():
        tg.manual_seed(7)
        return [int(i) for _, yb in D.DataLoader(D.TensorDataset(tg.tensor(X), tg.arange(10)), 3, shuffle=True)
                for i in yb]
    first = epoch()
    assert sorted(first) == list(range(10)) and first != list(range(10)) and epoch() == first
    loader = D.DataLoader(D.TensorDataset(tg.tensor(X)), batch_size=4, shuffle=True)
    assert len(loader) == 3 and len(D.DataLoader(loader.dataset, 4, drop_last=True)) == 2


def test_random_split_subsets_and_concat():
    tg.manual_seed(0)
    train, valid = D.random_split(range(10), [8, 2])
    assert len(train) == 8 and len(valid) == 2
    assert sorted(list(train) + list(valid)) == list(range(10))
    parts = D.random_split(range(10), [0.5, 0.3, 0.2])
    assert [len(p) for p in parts] == [5, 3, 2]
    both = D.Subset(range(10), [9, 1]) + D.TensorDataset(tg.tensor(X))
    assert len(both) == 12 and both[1] == 1 and both[-1][0].tolist() == X[9].tolist()
    with pytest.raises(ValueError, match="Sum of input lengths"):
        D.random_split(range(10), [3, 3])
    with pytest.raises(IndexError):
        both[12]


def test_iterable_dataset_samplers_and_refusals():
    class Stream(D.IterableDataset):
        def __iter__(self):
            return iter(range(7))
    assert [b.tolist() for b in D.DataLoader(Stream(), batch_size=3)] == [[0, 1, 2], [3, 4, 5], [6]]
    sampler = D.BatchSampler(D.SequentialSampler(range(5)), 2, drop_last=False)
    assert list(sampler) == [[0, 1], [2, 3], [4]] and len(sampler) == 3
    loader = D.DataLoader(D.TensorDataset(tg.tensor(X)), batch_sampler=sampler)
    assert [len(b[0]) for b in loader] == [2, 2, 1]
    with pytest.raises(ValueError, match="mutually exclusive"):
        D.DataLoader(range(3), batch_sampler=sampler, batch_size=2)
    with pytest.raises(ValueError, match="mutually exclusive"):
        D.DataLoader(range(3), sampler=D.SequentialSampler(range(3)), shuffle=True)
    with pytest.raises(ValueError, match="Size mismatch"):
        D.TensorDataset(tg.zeros(3), tg.zeros(4))
    with pytest.raises(TypeError, match="default_collate"):
        D.default_collate([object(), object()])


def test_setup_calls_and_formatting_match_torch():
    torch = pytest.importorskip("torch")
    for lib in (tg, torch):
        lib.backends.cudnn.deterministic = True
        lib.backends.cudnn.benchmark = False
        assert isinstance(lib.backends.mps.is_available(), bool)
        assert lib.get_num_threads() >= 1
    threads = torch.get_num_threads()
    tg.set_num_threads(2)
    assert tg.get_num_threads() == 2
    with pytest.raises(RuntimeError):
        tg.set_num_threads(0)
    loss_ours, loss_theirs = tg.tensor(1.23456), torch.tensor(1.23456)
    assert f"{loss_ours:.3f} {loss_ours:>8.2e}" == f"{loss_theirs:.3f} {loss_theirs:>8.2e}"
    x = np.array([-1.0, 0.5, 2.0])
    for ours, theirs in [(tg.tensor(x).clamp_min(0), torch.tensor(x).clamp_min(0)),
                         (tg.tensor(x).clamp_max(1), torch.tensor(x).clamp_max(1))]:
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    with pytest.raises(TypeError):
        f"{tg.tensor(x):.2f}"
    assert torch.get_num_threads() == threads


def test_isclose_allclose_and_empty_cache_match_torch():
    torch = pytest.importorskip("torch")
    a = np.array([1.0, 2.0, np.nan, 1e-9])
    b = np.array([1.0 + 1e-6, 2.1, np.nan, 0.0])
    for kwargs in ({}, {"equal_nan": True}, {"rtol": 0.1}, {"atol": 1e-8, "rtol": 0}):
        ours, theirs = tg.isclose(tg.tensor(a), tg.tensor(b), **kwargs), torch.isclose(torch.tensor(a), torch.tensor(b), **kwargs)
        assert ours.tolist() == theirs.tolist() and str(ours.dtype) == "bool"
        assert tg.allclose(tg.tensor(a[:2]), tg.tensor(b[:2]), **kwargs) == torch.allclose(
            torch.tensor(a[:2]), torch.tensor(b[:2]), **kwargs)
    assert tg.cuda.empty_cache() is None


def test_a_generator_repeats_splits_and_shuffles_without_the_global_stream():
    def split_and_epoch(seed):
        train, valid = D.random_split(range(20), [0.75, 0.25], generator=tg.Generator().manual_seed(seed))
        loader = D.DataLoader(D.TensorDataset(tg.arange(20)), batch_size=5, shuffle=True,
                              generator=tg.Generator().manual_seed(seed))
        return list(train), list(valid), [int(i) for (b,) in loader for i in b]
    tg.manual_seed(1)
    first = split_and_epoch(42)
    global_draw = tg.rand(3).tolist()
    tg.manual_seed(1)
    assert split_and_epoch(42) == first and tg.rand(3).tolist() == global_draw   # global stream untouched
    assert split_and_epoch(43) != first and sorted(first[2]) == list(range(20))
    gen = tg.Generator()
    assert gen.manual_seed(5) is gen and gen.initial_seed() == 5 and gen.seed() != 5
