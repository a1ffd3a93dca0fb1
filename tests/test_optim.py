"""Optimizers and LR schedules: closed-form single steps, equality with torch.optim over many
steps on the same gradients (float64), state_dict round trips, and schedules."""
import math

import numpy as np
import pytest

import tinygrad_rnn as tg
from tinygrad_rnn import optim
from tinygrad_rnn.nn import Parameter


def make_params(seed=0, shapes=((3, 4), (5,), (2, 1, 3))):
    rng = np.random.default_rng(seed)
    return [Parameter(rng.standard_normal(s)) for s in shapes]   # float64 arrays stay float64


def set_grads(params, grads):
    for p, g in zip(params, grads):
        p.grad = tg.Tensor(g.copy())


def grad_sequence(params, n, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(p.shape) for p in params] for _ in range(n)]


# ---- closed-form single steps ------------------------------------------------------------
def test_sgd_single_step_closed_form():
    (p,) = make_params(shapes=((4,),))
    p0, g = p.data.copy(), np.array([1.0, -2.0, 0.5, 0.0])
    set_grads([p], [g])
    optim.SGD([p], lr=0.1, weight_decay=0.01).step()
    np.testing.assert_allclose(p.data, p0 - 0.1 * (g + 0.01 * p0), rtol=1e-14)


def test_sgd_momentum_two_steps_closed_form():
    (p,) = make_params(shapes=((3,),))
    p0 = p.data.copy()
    g1, g2 = np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.5, 0.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    set_grads([p], [g1]); opt.step()
    set_grads([p], [g2]); opt.step()
    buf = 0.9 * g1 + g2
    np.testing.assert_allclose(p.data, p0 - 0.1 * g1 - 0.1 * buf, rtol=1e-14)


def test_adam_first_step_is_lr_times_sign():
    # after one step m_hat = g and v_hat = g^2, so the update is lr * g / (|g| + eps)
    (p,) = make_params(shapes=((4,),))
    p0, g = p.data.copy(), np.array([3.0, -0.2, 1e-3, -7.0])
    set_grads([p], [g])
    optim.Adam([p], lr=0.01, eps=1e-8).step()
    np.testing.assert_allclose(p.data, p0 - 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-12)


def test_adamw_decays_weights_before_the_adam_step():
    (p,) = make_params(shapes=((3,),))
    p0, g = p.data.copy(), np.array([1.0, -1.0, 2.0])
    set_grads([p], [g])
    optim.AdamW([p], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(p.data, p0 * (1 - 0.1 * 0.5) - 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12)


def test_step_skips_params_without_grad_and_zero_grad_clears():
    a, b = make_params(shapes=((2,), (2,)))
    b0 = b.data.copy()
    opt = optim.Adam([a, b], lr=0.1)
    set_grads([a], [np.ones(2)])
    opt.step()
    np.testing.assert_array_equal(b.data, b0)
    assert list(opt.state_dict()["state"]) == [0]          # torch's form: only b has no state
    assert opt.flat_state_dict()["steps"] == [1, 0]
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_update_is_in_place_on_the_parameter_array():
    (p,) = make_params(shapes=((3,),))
    array = p.data
    opt = optim.Adam([p], lr=0.1)
    for _ in range(2):
        set_grads([p], [np.ones(3)])
        opt.step()
    assert p.data is array


def test_gradient_array_is_not_modified():
    (p,) = make_params(shapes=((3,),))
    for opt in (optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
                optim.Adam([p], lr=0.1, weight_decay=0.1), optim.AdamW([p], lr=0.1)):
        g = np.array([1.0, 2.0, 3.0])
        set_grads([p], [g])
        before = p.grad.data.copy()
        opt.step(); opt.step()
        np.testing.assert_array_equal(p.grad.data, before)


def test_float32_parameters_stay_float32():
    p = Parameter(np.ones(3, dtype=np.float32))
    opt = optim.Adam([p], lr=0.1)
    p.grad = tg.Tensor(np.ones(3, dtype=np.float32))
    opt.step()
    assert p.dtype == np.float32 and opt.state[p]["exp_avg"].dtype == np.float32


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=-1.0),
    lambda ps: optim.SGD(ps, lr=0.1, nesterov=True),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=-0.5),
    lambda ps: optim.Adam(ps, betas=(1.0, 0.999)),
    lambda ps: optim.Adam(ps, eps=float("nan")),
    lambda ps: optim.Adam([]),
])
def test_invalid_hyperparameters_raise(make):
    with pytest.raises(ValueError):
        make(make_params())


# ---- equality with torch.optim -----------------------------------------------------------
SGD_CASES = [dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.3),
             dict(lr=0.05, momentum=0.9, nesterov=True), dict(lr=0.05, momentum=0.8, weight_decay=0.01),
             dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1), dict(lr=0.1, weight_decay=0.2)]
ADAM_CASES = [dict(lr=1e-2), dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6), dict(lr=1e-2, weight_decay=0.1),
              dict(lr=1e-2, betas=(0.3, 0.9))]
ADAMW_CASES = [dict(lr=1e-2), dict(lr=5e-3, weight_decay=0.3, betas=(0.5, 0.95))]


@pytest.mark.parametrize("name,kwargs", [("SGD", k) for k in SGD_CASES] + [("Adam", k) for k in ADAM_CASES]
                         + [("AdamW", k) for k in ADAMW_CASES])
def test_matches_torch_optim(name, kwargs):
    torch = pytest.importorskip("torch")
    params = make_params()
    tparams = [torch.tensor(p.data.copy(), requires_grad=True) for p in params]
    ours = getattr(optim, name)(params, **kwargs)
    theirs = getattr(torch.optim, name)(tparams, **kwargs)
    for grads in grad_sequence(params, 25):
        set_grads(params, grads)
        for tp, g in zip(tparams, grads):
            tp.grad = torch.tensor(g.copy())
        ours.step()
        theirs.step()
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-12)


# ---- state_dict --------------------------------------------------------------------------
@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
                                  lambda ps: optim.Adam(ps, lr=1e-2, weight_decay=0.1),
                                  lambda ps: optim.AdamW(ps, lr=1e-2)])
def test_state_dict_round_trip_continues_identically(make, tmp_path):
    import json
    from tinygrad_rnn.checkpoint import load_checkpoint, save_checkpoint
    grads = grad_sequence(make_params(), 10)
    a = make_params()
    opt_a = make(a)
    for g in grads:
        set_grads(a, g); opt_a.step()

    b = make_params()
    opt_b = make(b)
    for g in grads[:5]:
        set_grads(b, g); opt_b.step()
    state = opt_b.flat_state_dict()          # the CLI checkpoint's form: JSON numbers + arrays
    save_checkpoint(tmp_path, state["arrays"], {k: v for k, v in state.items() if k != "arrays"})
    arrays, meta = load_checkpoint(tmp_path)
    json.dumps(meta)
    c = [Parameter(p.data.copy()) for p in b]
    opt_c = make(c)
    opt_c.load_state_dict({**meta, "arrays": arrays})
    for g in grads[5:]:
        set_grads(c, g); opt_c.step()
    for pa, pc in zip(a, c):
        np.testing.assert_array_equal(pa.data, pc.data)


def test_load_state_dict_rejects_mismatch():
    opt = optim.Adam(make_params(), lr=0.1)
    with pytest.raises(ValueError, match="SGD"):
        opt.load_state_dict(optim.SGD(make_params(), lr=0.1).flat_state_dict())
    with pytest.raises(ValueError, match="parameters"):
        opt.load_state_dict(optim.Adam(make_params()[:1], lr=0.1).flat_state_dict())
    with pytest.raises(ValueError, match="doesn't match the size"):     # torch's form and wording
        opt.load_state_dict(optim.Adam(make_params()[:1], lr=0.1).state_dict())


# ---- schedules ---------------------------------------------------------------------------
def test_step_lr():
    opt = optim.SGD(make_params(), lr=1.0)
    sched = optim.StepLR(opt, step_size=3, gamma=0.5)
    lrs = [opt.lr]
    for _ in range(7):
        sched.step()
        lrs.append(opt.lr)
    assert lrs == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_cosine_annealing_closed_form_and_endpoints():
    opt = optim.Adam(make_params(), lr=0.1)
    sched = optim.CosineAnnealingLR(opt, T_max=10, eta_min=0.01)
    assert opt.lr == 0.1
    for t in range(1, 11):
        sched.step()
        assert opt.lr == pytest.approx(0.01 + 0.09 * (1 + math.cos(math.pi * t / 10)) / 2, rel=1e-14)
    assert opt.lr == pytest.approx(0.01)


@pytest.mark.parametrize("name,kwargs", [("StepLR", dict(step_size=4, gamma=0.3)),
                                         ("CosineAnnealingLR", dict(T_max=12, eta_min=1e-3))])
def test_schedules_match_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    opt = optim.SGD(make_params(), lr=0.2)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2)
    ours, theirs = getattr(optim, name)(opt, **kwargs), getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    for _ in range(12):
        topt.step()
        ours.step(); theirs.step()
        assert opt.lr == pytest.approx(topt.param_groups[0]["lr"], rel=1e-9, abs=1e-15)


def test_scheduler_state_dict_round_trip():
    opt = optim.Adam(make_params(), lr=0.1)
    sched = optim.CosineAnnealingLR(opt, T_max=20)
    for _ in range(7):
        sched.step()
    state = sched.state_dict()
    opt2 = optim.Adam(make_params(), lr=0.1)
    sched2 = optim.CosineAnnealingLR(opt2, T_max=20)
    opt2.load_state_dict(opt.state_dict())      # as in torch, the optimizer holds the current rate
    sched2.load_state_dict(state)
    assert opt2.lr == opt.lr
    sched.step(); sched2.step()
    assert opt2.lr == opt.lr


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
                                  lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.5),
                                  lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.1),
                                  lambda ps: optim.AdamW(ps, lr=0.1)])
def test_steps_after_the_first_allocate_no_arrays(make):
    import tracemalloc
    params = [Parameter(np.ones((200, 200)))]                    # 320 kB
    opt = make(params)
    set_grads(params, [np.full((200, 200), 0.5)])
    opt.step(); opt.step()
    tracemalloc.start()
    opt.step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 50_000
