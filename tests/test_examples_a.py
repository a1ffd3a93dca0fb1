"""Smoke tests of the examples adding_problem, vanishing_gradients, clipping and deep_residual:
each ``main(["--quick", ...])`` runs in-process in a few seconds, prints its table and saves its
plots (when matplotlib is installed). Also the shared helpers in examples/_common.py."""
import importlib
import pathlib
import sys

import numpy as np
import pytest

import tinygrad_rnn as tg

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

try:
    import matplotlib  # noqa: F401
    HAVE_MPL = True
except ImportError:
    HAVE_MPL = False

CASES = {
    # example: (PNG files it saves, text its table prints)
    "adding_problem": (["adding_problem.png"], "Adding problem"),
    "vanishing_gradients": (["vanishing_models.png", "vanishing_radius.png"], "spectral radius"),
    "clipping": (["clipping.png"], "clip_grad_norm_"),
    "deep_residual": (["deep_residual.png"], "residual ||dL/dW||"),
}


def _run(name, tmp_path, capsys, *extra):
    module = importlib.import_module(name)
    result = module.main(["--quick", "--out", str(tmp_path), *extra])
    return result, capsys.readouterr().out


@pytest.mark.parametrize("name", list(CASES))
def test_example_quick(name, tmp_path, capsys):
    pngs, marker = CASES[name]
    result, out = _run(name, tmp_path, capsys)
    assert result
    assert marker in out
    assert "----" in out                       # a table was printed
    assert (tmp_path / "results.json").exists()
    for png in pngs:
        path = tmp_path / png
        if HAVE_MPL:
            assert path.exists() and path.stat().st_size > 5000, f"{name} did not save {png}"
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            assert not path.exists()


@pytest.mark.skipif(not tg.cuda_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", list(CASES))
def test_example_quick_cuda(name, tmp_path, capsys):
    _, out = _run(name, tmp_path, capsys, "--device", "cuda")
    assert "----" in out


def test_adding_problem_results(tmp_path, capsys):
    results, out = _run("adding_problem", tmp_path, capsys, "--models", "lstm,gru")
    assert [r["model"] for r in results] == ["lstm", "gru"]
    for r in results:
        assert r["steps"] == 30 and np.isfinite(r["final_mse"])
        assert r["curve"][0][0] == 0 and len(r["curve"]) == 4      # eval at 0, 10, 20, 30


def test_adding_batch_targets():
    from adding_problem import adding_batch
    x, y = adding_batch(np.random.default_rng(0), 50, 12)
    assert x.shape == (12, 50, 2) and y.shape == (50,)
    markers = x[..., 1]
    assert np.all(markers.sum(axis=0) == 2)
    assert np.all(markers[:6].sum(axis=0) == 1)                      # one marker in each half
    np.testing.assert_allclose(y, (x[..., 0] * markers).sum(axis=0), rtol=1e-6)


def test_clipping_no_clip_diverges(tmp_path, capsys):
    """With the default (large) recurrent init and learning rate, the unclipped run blows up
    and both clipped runs stay finite."""
    import clipping
    results = clipping.main(["--steps", "60", "--out", str(tmp_path)])      # full-size model, 60 steps
    by = {r["method"]: r for r in results}
    assert by["none"]["diverged_at"] is not None
    assert by["norm"]["diverged_at"] is None and by["value"]["diverged_at"] is None
    assert 0 < by["norm"]["clipped_fraction"] <= 1


def test_deep_residual_gradients_reach_the_bottom(tmp_path, capsys):
    plain, residual = _run("deep_residual", tmp_path, capsys)[0]
    ratio = lambda r: r["init_norms"][0] / r["init_norms"][-1]
    assert ratio(residual) > 100 * ratio(plain)


def test_common_helpers(tmp_path, capsys):
    import _common as C
    args = C.parse_args("demo", ["--out", str(tmp_path / "o"), "--seed", "3"])
    assert args.out.is_dir() and args.seed == 3 and args.device == "cpu" and not args.quick
    text = C.print_table([["a", 1.5, 2], ["bb", 1e-7, None]], ["name", "x", "n"], title="T")
    assert "1.000e-07" in text and text.splitlines()[0] == "T"
    np.testing.assert_allclose(C.smooth([1, 3, 5, 7], 2), [1, 2, 4, 6])
    assert list(C.progress(range(3), quiet=True)) == [0, 1, 2]
    with C.blas_threads(1):
        pass
    saved = C.save_plot(tmp_path / "p.png", lambda fig, ax: ax.plot([1, 2]))
    assert (saved is not None) == HAVE_MPL
    if not tg.cuda_available():
        with pytest.raises(SystemExit):
            C.parse_args("demo", ["--device", "cuda", "--out", str(tmp_path)])


def test_quick_modes_show_their_lesson_or_say_they_cannot(tmp_path, capsys):
    """clipping --quick diverges without clipping only; vanishing_gradients --quick has a radius
    sweep monotone in the radius, and says on stdout (and on its figure) that its part 1 is a
    smoke test."""
    import clipping
    by = {r["method"]: r for r in clipping.main(["--quick", "--out", str(tmp_path / "c")])}
    assert by["none"]["diverged_at"] is not None
    assert by["norm"]["diverged_at"] is None and by["value"]["diverged_at"] is None
    import vanishing_gradients
    result = vanishing_gradients.main(["--quick", "--out", str(tmp_path / "v")])
    out = capsys.readouterr().out
    ratios = [norms[0] / norms[-1] for norms in result["radius"].values()]
    assert ratios == sorted(ratios) and ratios[0] < 1e-3 < 10 < ratios[-1]
    assert "--quick is a smoke test" in out


def test_progress_bar_only_on_a_terminal(monkeypatch):
    """Piped output (pytest captures stdout: not a terminal) gets the bare iterable, no tqdm."""
    import _common as C
    items = range(3)
    assert C.progress(items) is items
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    pytest.importorskip("tqdm")
    assert C.progress(items) is not items
