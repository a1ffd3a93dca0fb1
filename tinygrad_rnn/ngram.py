"""Count-based n-gram language models: the baselines that recurrent networks are measured against.

An n-gram model predicts a token from the ``n - 1`` before it, from counts in the training text.
Most long contexts are never seen (sparsity), so raw counts give zero probability to text that
is perfectly possible; smoothing moves some probability mass to what was not seen:

- ``addk``: add ``k`` to every count, ``P(w | h) = (c(hw) + k) / (c(h) + kV)``; an unseen
  context gives the uniform ``1/V``. Simple, and badly wrong for long contexts: it spreads mass
  over all ``V`` tokens instead of using what shorter contexts know.
- ``kn``: interpolated (modified) Kneser-Ney. Every seen count ``c`` is discounted by ``D(c)``
  (three discounts, for counts 1, 2 and 3+, estimated from how many k-grams were seen 1..4
  times) and the freed mass ``sum D / c(h)`` goes to the next shorter context's distribution,
  down to the uniform one, so no token gets zero probability. The
  shorter contexts count *continuations* (in how many different contexts a token followed),
  not occurrences: "Francisco" may be frequent, but only after "San", so it is a bad guess after
  an unseen context. An unseen context backs off entirely to the shorter one.

Everything is counted with NumPy: the ``k``-grams are numbered by ``np.unique`` on
``id_of(k-1 prefix) * V + last token``, so a k-gram's continuations sit in one sorted run and
the million characters of Tiny Shakespeare are counted to order 6 in a few seconds.

The models read the same ids as the neural models (a ``CharVocab`` or ``WordVocab`` over the
whole text, ``split_train_val`` for train/validation) and ``evaluate`` predicts exactly the
targets that ``lm.evaluate`` predicts (``batch_size`` streams, no context across a stream start)
and reports with the same ``lm.perplexity``.
"""
import math
import time

import numpy as np

from .lm import perplexity

__all__ = ["NGramLM", "evaluate", "sample", "SMOOTHING"]

SMOOTHING = ("kn", "addk")


class _Order:
    """The k-grams of one order: sorted keys ``prefix_id * V + last`` (a k-gram's id is its
    position), their counts, and per prefix (context): the total count, and the number of
    distinct followers seen once, twice and three times or more (for the three discounts)."""

    def __init__(self, keys, counts, V, n_prefixes):
        self.keys, self.counts = keys, counts.astype(np.float64)
        prefix = keys // V
        self.totals = np.bincount(prefix, weights=self.counts, minlength=n_prefixes)
        self.types = np.bincount(prefix, minlength=n_prefixes).astype(np.float64)
        self.discounts = _discounts(self.counts)
        # the mass the discounts free in each context: sum of D(count) over its followers
        self.freed = np.bincount(prefix, weights=self.discount_of(self.counts), minlength=n_prefixes)

    def discount_of(self, counts):
        """D(c): D1 for c = 1, D2 for c = 2, D3+ above; 0 for an unseen k-gram."""
        d1, d2, d3 = self.discounts
        return np.select([counts <= 0, counts == 1, counts == 2], [0.0, d1, d2], d3)

    def lookup(self, keys):
        """Ids of ``keys`` (-1 where that k-gram was never seen)."""
        pos = np.searchsorted(self.keys, keys)
        pos = np.minimum(pos, len(self.keys) - 1)
        found = (len(self.keys) > 0) & (self.keys[pos] == keys)
        return np.where(found, pos, -1)


def _discounts(counts):
    """Modified Kneser-Ney discounts (Chen & Goodman, 1999) from the numbers n1..n4 of k-grams
    seen exactly 1..4 times: ``Y = n1 / (n1 + 2 n2)``, ``D_c = c - (c + 1) Y n_{c+1} / n_c``.
    Falls back to one discount ``Y`` (0.5 if even that is undefined) when a count is missing."""
    n = [float(np.sum(counts == c)) for c in (1, 2, 3, 4)]
    y = n[0] / (n[0] + 2 * n[1]) if n[0] + 2 * n[1] > 0 else 0.5
    if min(n) == 0:
        d = min(max(y, 0.05), 0.95)
        return d, d, d
    d = [c - (c + 1) * y * n[c] / n[c - 1] for c in (1, 2, 3)]
    return tuple(min(max(dc, 0.05), c - 0.05) for c, dc in zip((1, 2, 3), d))


class NGramLM:
    """An order-``n`` model over ids ``0..vocab_size-1``, fitted on a 1-D id array.

    ``smoothing`` is "kn" (interpolated Kneser-Ney) or "addk" (add ``k``). Ids that never occur
    in training still get probability (an unknown word mapped to ``<unk>`` by the vocabulary
    is just another id here).
    """

    def __init__(self, order, vocab_size, smoothing="kn", k=1.0):
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
            raise ValueError(f"order must be an integer >= 1, got {order!r}")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 1:
            raise ValueError(f"vocab_size must be an integer >= 1, got {vocab_size!r}")
        if smoothing not in SMOOTHING:
            raise ValueError(f"smoothing must be one of {', '.join(SMOOTHING)}, got {smoothing!r}")
        if not (isinstance(k, (int, float)) and math.isfinite(k) and k > 0):
            raise ValueError(f"k must be a number > 0, got {k!r}")
        self.order, self.vocab_size, self.smoothing, self.k = int(order), int(vocab_size), smoothing, float(k)
        self.orders = None

    def _check_ids(self, ids, what):
        ids = np.asarray(ids)
        if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(f"{what} must be a 1-D integer array, got shape {ids.shape} dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"{what} holds ids outside 0..{self.vocab_size - 1}")
        return ids.astype(np.int64)

    def fit(self, ids):
        """Count every k-gram (k = 1..order) of ``ids``; returns self."""
        ids = self._check_ids(ids, "training ids")
        if len(ids) < self.order:
            raise ValueError(f"an order-{self.order} model needs at least {self.order} training tokens, "
                             f"got {len(ids)}")
        V, N = self.vocab_size, len(ids)
        gid = np.zeros(N, dtype=np.int64)        # id of the (k-1)-gram starting at each position
        n_prefixes, raw = 1, []
        for k in range(1, self.order + 1):
            keys = gid[:N - k + 1] * V + ids[k - 1:]
            uniq, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True,
                                                     return_counts=True)
            raw.append((uniq, first, counts, n_prefixes))
            gid, n_prefixes = inverse.reshape(-1), len(uniq)
        self._uniq = [u for u, *_ in raw]       # k-gram id -> key, the context numbering
        self.orders = []
        for k, (uniq, first, counts, n_prev) in enumerate(raw, start=1):
            if self.smoothing == "kn" and k < self.order:
                # continuation count of a k-gram: distinct tokens seen before it = the distinct
                # (k+1)-grams whose last k tokens are it
                suffix = np.searchsorted(uniq, self._keys_at(ids, raw[k][1] + 1, k))
                counts = np.bincount(suffix, minlength=len(uniq))
                keep = counts > 0      # a k-gram seen only at the very start has no continuation
                self.orders.append(_Order(uniq[keep], counts[keep], V, n_prev))
            else:
                self.orders.append(_Order(uniq, counts, V, n_prev))
        return self

    def _keys_at(self, ids, starts, k):
        """Keys (in the numbering of ``fit``) of the k-grams starting at ``starts``."""
        g = np.zeros(len(starts), dtype=np.int64)
        for j in range(1, k + 1):
            key = g * self.vocab_size + ids[starts + j - 1]
            g = np.searchsorted(self._uniq[j - 1], key) if j < k else key
        return g

    def _need_fit(self):
        if self.orders is None:
            raise RuntimeError("the n-gram model is not fitted: call fit(train_ids) first")

    # ---- probabilities -----------------------------------------------------------------------
    def _context_ids(self, ids):
        """For each position i and j = 0..order-1: the id of the j-gram ids[i-j:i] in the
        training numbering (-1 unseen); column 0 is the empty context (always 0)."""
        N, V = len(ids), self.vocab_size
        ctx = np.full((N, self.order), -1, dtype=np.int64)
        ctx[:, 0] = 0
        for j in range(1, self.order):
            # the j-gram ending just before i is the (j-1)-gram ending before i-1, then ids[i-1]
            prev = ctx[j - 1:N - 1, j - 1]
            keys = prev * V + ids[j - 1:N - 1]
            table = self._uniq[j - 1]
            found = np.minimum(np.searchsorted(table, keys), len(table) - 1)
            hit = (prev >= 0) & (table[found] == keys)
            ctx[j:, j] = np.where(hit, found, -1)
        return ctx

    def _probs_of(self, contexts, targets, usable):
        """P(target | context) for each row; ``usable[i]`` caps the context length."""
        if self.smoothing == "addk":
            return self._addk_probs(contexts, targets, usable)
        return self._kn_probs(contexts, targets, usable)

    def _addk_probs(self, contexts, targets, usable):
        """(c(hw) + k) / (c(h) + kV) with the longest usable context h; 1/V if h is unseen."""
        V, n = self.vocab_size, len(targets)
        j = np.minimum(usable, self.order - 1)
        c = contexts[np.arange(n), j]
        p = np.full(n, 1.0 / V)
        for jj in np.unique(j):
            rows = (j == jj) & (c >= 0)
            order = self.orders[jj]
            ids = order.lookup(c[rows] * V + targets[rows])
            count = np.where(ids >= 0, order.counts[np.maximum(ids, 0)], 0.0)
            p[rows] = (count + self.k) / (order.totals[c[rows]] + self.k * V)
        return p

    def _kn_probs(self, contexts, targets, usable):
        """Interpolate from the uniform distribution up: at each context length whose context
        was seen, p = (c - D(c) + freed mass * p_shorter) / c(h)."""
        V, n = self.vocab_size, len(targets)
        p = np.full(n, 1.0 / V)
        for jj in range(self.order):
            order = self.orders[jj]
            c = contexts[:, jj]
            rows = (c >= 0) & (usable >= jj)
            cc = c[rows]
            total = order.totals[cc]
            seen = total > 0
            ids = order.lookup(cc * V + targets[rows])
            count = np.where(ids >= 0, order.counts[np.maximum(ids, 0)], 0.0)
            kept = count - order.discount_of(count)
            mixed = (kept + order.freed[cc] * p[rows]) / np.where(seen, total, 1.0)
            p[rows] = np.where(seen, mixed, p[rows])
        return p

    def log_probs(self, ids, starts=None):
        """ln P(ids[i] | the tokens before it) for every position i >= 1 of each segment.

        ``starts`` (sorted positions, default ``[0]``) begin segments: no context reaches back
        across one, as the neural models start each stream from a fresh state. Returns the
        positions scored and their log-probabilities."""
        self._need_fit()
        ids = self._check_ids(ids, "ids")
        starts = np.asarray([0] if starts is None else starts, dtype=np.int64)
        seg_start = starts[np.searchsorted(starts, np.arange(len(ids)), side="right") - 1]
        offset = np.arange(len(ids)) - seg_start
        positions = np.nonzero(offset >= 1)[0]
        ctx = self._context_ids(ids)
        usable = np.minimum(offset[positions], self.order - 1)
        p = self._probs_of(ctx[positions], ids[positions], usable)
        return positions, np.log(p)

    def distribution(self, context):
        """P(w | context) for every id w (a float64 vector summing to 1)."""
        self._need_fit()
        context = self._check_ids(context, "context")[-(self.order - 1):] if self.order > 1 else np.zeros(0, np.int64)
        ids = np.concatenate([context, [0]]).astype(np.int64)
        ctx = self._context_ids(ids)[-1:]
        V = self.vocab_size
        contexts = np.repeat(ctx, V, axis=0)
        usable = np.full(V, len(context), dtype=np.int64)
        return self._probs_of(contexts, np.arange(V, dtype=np.int64), usable)


def evaluate(model, ids, batch_size=32):
    """Mean next-token loss on ``ids`` cut into ``batch_size`` streams exactly as
    ``lm.evaluate`` cuts them (same targets, no context across streams). Returns
    ``{"loss": nats/token, "bits": bits/token, "perplexity", "tokens"}``."""
    ids = np.asarray(ids)
    if ids.ndim != 1 or len(ids) < 2:
        raise ValueError(f"evaluation needs at least 2 tokens, got {ids.size}")
    batch_size = max(1, min(int(batch_size), len(ids) // 2))
    L = len(ids) // batch_size
    used = ids[:batch_size * L]
    _, logp = model.log_probs(used, starts=np.arange(batch_size) * L)
    loss = float(-logp.mean())
    return {"loss": loss, "bits": loss / math.log(2), "perplexity": perplexity(loss), "tokens": int(logp.size)}


def sample(model, vocab, length, prime="", seed=None, warmup=""):
    """``prime`` (text) followed by ``length`` tokens drawn from the model, decoded by ``vocab``;
    ``warmup`` (text, not returned) is read first as context, like ``lm.sample``'s."""
    rng = np.random.default_rng(seed)
    context = [int(i) for i in vocab.encode(warmup + prime)] if warmup + prime else []
    ids = []
    for _ in range(length):
        recent = (context + ids)[-(model.order - 1):] if model.order > 1 else []
        p = model.distribution(np.asarray(recent, dtype=np.int64))
        ids.append(int(rng.choice(len(p), p=p)))
    from .lm import _join
    return _join(vocab, prime, ids)


def run(text, vocab, order, smoothing="kn", k=1.0, val_fraction=0.1, batch_size=32):
    """Fit on the training split of ``text`` and evaluate on its validation split; returns the
    evaluation dict plus ``seconds`` and the fitted ``model``."""
    from .data import split_train_val
    started = time.perf_counter()
    train_ids, val_ids = split_train_val(vocab.encode(text), val_fraction)
    model = NGramLM(order, len(vocab), smoothing, k).fit(train_ids)
    result = evaluate(model, val_ids, batch_size)
    result.update(seconds=time.perf_counter() - started, model=model)
    return result
