"""PIRLS compiled as one kernel (numba) for binomial and Poisson GLMMs.

The same iteration as :meth:`interlace.deviance.glmm.GlmmDeviance.pirls` — lme4's
``pwrssUpdate``: working weights and response, the blocked factor of ΛᵀZᵀWZΛ + I and the
Schur complement of [X z], the update of u (and β in nAGQ = 0 mode), step-halving, the
stopping rule and the lagged factor — plus the family's ``aic``, all in compiled loops:
one call per deviance evaluation instead of a few dozen NumPy/LAPACK calls per PIRLS
iteration, which is what bounds the speed of small and medium GLMMs at lme4's evaluation
count.  Adaptive Gauss–Hermite, after PIRLS, is :mod:`interlace.deviance.agq_kernel`.

Scope (:func:`eligible`, :func:`plan_scalar`): the binomial or Poisson family with the
logit or log link, and either one vector-valued term (:func:`pirls_vector`: one p₀ × p₀
factor per level) or every term scalar (:func:`pirls_scalar`).  With scalar terms the one
with the most levels is the diagonal block 0; the others form block R (at most
:data:`MAX_QR` columns), factored on the symbolic pattern of its Cholesky factor, with the
terms in order of decreasing levels so that a nested term (grouseticks' broods within
locations) makes no fill.  Other
models use the NumPy path.  The arithmetic is the NumPy path's up to the order of
summation (sums are accumulated row by row here, by BLAS or per pattern entry there) and,
for 0/1 responses with unit weights, the aic (the deviance residuals' sum, below), so
the two agree to rounding (``tests/test_pirls_kernel.py``: 1e-12 relative on the deviance,
every case).  Only values cross the boundary: the optimizers evaluate through it
(:meth:`~interlace.deviance.glmm.GlmmDeviance.values_only`) and the state a result keeps,
at the optimum, comes from the NumPy path with its factor.

No work that the value does not need: in u-only mode (stage 2, β fixed in the offset)
only the z column of [X z] is carried, so the Schur complement of X and its factor RX are
not formed (RX is NaN in those states).  lme4 forms them every iteration and stops if
that complement is not positive definite; for a full-rank X it is positive definite at
every finite θ, and the state kept at the optimum (NumPy path) forms and checks it.  For
0/1 responses with unit weights the aic, −2 Σ log p(yᵢ | μᵢ), equals the sum of the
deviance residuals (the saturated likelihood is 1), which the last step has formed: a
second pass of logarithms over the rows is saved (about a tenth of a VerbAgg evaluation).

Status codes (the NumPy path's errors): 1 NaN pdev, 2 step-halvings failed, 3 no
convergence in ``maxit`` iterations, 4 the Schur complement of [X z] is not positive
definite, 5 the dense block of M is not positive definite.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy import sparse

__all__ = ["LINK_IDS", "MAX_QR", "eligible", "first_weights", "pirls_scalar", "plan_scalar",
           "plus_xbeta", "sqnorm"]

#: block R (every term but the one with most levels) up to this many columns (its values
#: are held in dense qR × qR arrays, on the factor's pattern)
MAX_QR = 400
#: and a factor of L_RR of at most this many multiply-adds per PIRLS iteration
MAX_FLOPS = 2_000_000
#: A_R0 at least this dense: L_R0 L_R0ᵀ and L_R0 C0 by BLAS on a dense L_R0
DENSE_GRAM = 0.25
FAMILY_IDS = {"binomial": 0, "poisson": 1}
LINK_IDS = {"logit": 0, "log": 1}
EPS = float(np.finfo(float).eps)
DBL_MAX = float(np.finfo(float).max)
#: the template argument of the scalar-term paths, and the λ/offsets of the vector path
#: (unused there)
NO_T = np.zeros((0, 0))
NO_OFFS = np.zeros(0, dtype=np.int64)


def eligible(family, terms) -> bool:
    """Whether the family, the link and the terms' shapes are covered (see the module doc):
    scalar terms (:func:`plan_scalar` then decides on the sizes) or one vector-valued
    term (:func:`pirls_vector`)."""
    if family.name not in FAMILY_IDS or family.link.name not in LINK_IDS or not terms:
        return False
    return all(t.p == 1 for t in terms) or len(terms) == 1


def plan_scalar(terms) -> dict | None:
    """The structure :func:`pirls_scalar` works on, computed once per model, or None when
    block R is too large for it (more than :data:`MAX_QR` columns, or a factor of more
    than :data:`MAX_FLOPS` per iteration).

    Block 0 is the term with the most levels (the blocked factor's); the other terms form
    R in order of decreasing levels (a nested term after the one it nests in, so that
    eliminating the finer one first makes no fill).  A_R0's cells (block-0 level, R
    column) are numbered level by level; the pattern of L_RR is the symbolic Cholesky
    factor of I + the pattern of A_RR + that of L_R0 L_R0ᵀ (the elimination tree's column
    unions), stored by columns and by rows (strictly below the diagonal)."""
    ls = [t.n_levels for t in terms]
    k0 = int(np.argmax(ls))
    rest = sorted((k for k in range(len(terms)) if k != k0), key=lambda k: -ls[k])
    rest_pos, pos = np.full(len(ls), -1, dtype=np.int64), 0
    for k in rest:
        rest_pos[k], pos = pos, pos + ls[k]
    qR = int(pos)
    if qR > MAX_QR:
        return None
    n = len(terms[0].codes)
    codes = np.ascontiguousarray([t.codes for t in terms], dtype=np.int64)
    cell = np.full((len(ls), n), -1, dtype=np.int64)
    rcols = [rest_pos[k] + codes[k] for k in rest]
    if rest:
        keys = np.concatenate([codes[k0] * qR + r for r in rcols])
        uniq, inv = np.unique(keys, return_inverse=True)
        for j, k in enumerate(rest):
            cell[k] = inv[j * n:(j + 1) * n]
        cl_l, cl_r = np.divmod(uniq, qR)
        cl_ptr = np.searchsorted(cl_l, np.arange(ls[k0] + 1)).astype(np.int64)
    else:
        cl_r, cl_ptr = np.zeros(0, dtype=np.int64), np.zeros(ls[k0] + 1, dtype=np.int64)
    # the pattern of M_RR: A_RR's pairs (R columns of one row) and the Gram pairs (R
    # columns that share a block-0 level: B Bᵀ, B the cells' incidence)
    pattern = np.zeros((qR, qR), dtype=bool)
    for a in range(len(rcols)):
        for b in range(len(rcols)):
            pattern[rcols[a], rcols[b]] = True
    if qR:
        B = sparse.csr_matrix((np.ones(len(cl_r)), (cl_r, cl_l)), shape=(qR, ls[k0]))
        gram = (B @ B.T).tocoo()
        pattern[gram.row, gram.col] = True
    below: list[set] = [set() for _ in range(qR)]
    for i, j in zip(*(ix.tolist() for ix in np.nonzero(np.tril(pattern, -1))), strict=True):
        below[j].add(i)
    # symbolic factorization: column j's pattern gains its etree children's
    children: list[list[int]] = [[] for _ in range(qR)]
    cols: list[list[int]] = []
    for j in range(qR):
        struct = set(below[j])
        for c in children[j]:
            struct.update(i for i in cols[c] if i > j)
        col = sorted(struct)
        cols.append(col)
        if col:
            children[col[0]].append(j)
    rows: list[list[int]] = [[] for _ in range(qR)]
    for j, col in enumerate(cols):
        for i in col:
            rows[i].append(j)
    flops = sum(len(c) * len(r) for c, r in zip(cols, rows, strict=True))
    if flops > MAX_FLOPS:
        return None

    def csr(lists):
        ptr = np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int64)
        idx = np.array([v for x in lists for v in x], dtype=np.int64)
        return ptr, idx

    colpat_ptr, colpat = csr(cols)
    rowpat_ptr, rowpat = csr(rows)
    # a dense enough L_R0 is cheaper through BLAS than cell by cell
    dense_gram = bool(qR) and len(cl_r) >= DENSE_GRAM * qR * ls[k0]
    return {"k0": k0, "rest_pos": rest_pos, "qR": qR, "codes": codes, "cell": cell,
            "dense_gram": dense_gram,
            "ARR": np.zeros((qR, qR)), "LRR": np.zeros((qR, qR)),
            "cl_ptr": cl_ptr, "cl_r": np.asarray(cl_r, dtype=np.int64),
            "rowpat_ptr": rowpat_ptr, "rowpat": rowpat, "colpat_ptr": colpat_ptr,
            "colpat": colpat}


_JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath=False)


@njit(**_JIT)
def sqnorm(u):
    """‖u‖², summed in order (the same bits wherever the Laplace value is formed)."""
    s = 0.0
    for i in range(len(u)):
        s += u[i] * u[i]
    return s


@njit(**_JIT)
def _plus_xbeta(offset, X, beta):
    """offset + Xβ, each row's product summed in column order (stage 2's offset, formed
    the same way by the Python path and the compiled stage-2 loop)."""
    n, p = X.shape
    out = np.empty(n)
    for i in range(n):
        s = 0.0
        for j in range(p):
            s += X[i, j] * beta[j]
        out[i] = offset[i] + s
    return out


@njit(**_JIT)
def _linkinv_e(eta, link):
    """(μ, exp(−η)) for the logit link (the exponential :func:`_mu_eta` reuses), (μ, 0)
    for the log link; μ is :func:`_linkinv`'s to the bit."""
    if link == 0:
        e = math.exp(-eta)
        return max(EPS, min(1.0 - EPS, 1.0 / (1.0 + e))), e
    return max(EPS, math.exp(eta)), 0.0


@njit(**_JIT)
def _linkinv(eta, link):
    """μ = g⁻¹(η) with lme4's clamps (logit: max(ε, min(1 − ε, plogis η)))."""
    return _linkinv_e(eta, link)[0]


@njit(**_JIT)
def _mu_of(eta, link):
    """μ = g⁻¹(η), element by element (lme4's clamps), and exp(−η) (logit)."""
    mu = np.empty(len(eta))
    E = np.empty(len(eta))
    for i in range(len(eta)):
        mu[i], E[i] = _linkinv_e(eta[i], link)
    return mu, E


@njit(**_JIT)
def _mu_eta(eta, mu, e_neg, link):
    """μ'(η) as lme4 (logit: dlogis from exp(−|η|); log: exp(η)), reusing the iterate's
    exp(−η) (``e_neg``) where η ≥ 0 and its μ for the log link: the same bits."""
    if link == 0:
        e = e_neg if eta >= 0.0 else math.exp(eta)
        f = 1.0 + e
        return max(EPS, e / (f * f))
    return mu  # max(ε, exp(η)), which μ is


@njit(**_JIT)
def _variance(mu, fam):
    if fam == 0:
        return max(EPS, mu * (1.0 - mu))
    return mu


@njit(**_JIT)
def _ylogy(y, mu):
    return y * math.log(y / mu) if y != 0.0 else 0.0


@njit(**_JIT)
def _dev_resid(y, mu, wt, fam):
    if fam == 0:
        return 2.0 * wt * (_ylogy(y, mu) + _ylogy(1.0 - y, 1.0 - mu))
    return 2.0 * wt * (_ylogy(y, mu) - (y - mu))


@njit(**_JIT)
def _aic(y, mu, wt, fam, c1, c2, c3, c4):
    """lme4's aic: binomial (c1 = k, c2 = m − k, c3 = scale or NaN where m ≤ 0, c4 =
    lchoose) or Poisson (c3 = lgamma(y + 1), c4 = 1 where y is an integer)."""
    s = 0.0
    for i in range(len(y)):
        m = mu[i]
        if fam == 0:
            if math.isnan(c3[i]):
                continue
            ld = c4[i]
            ld += c1[i] * math.log(m) if c1[i] != 0.0 else 0.0
            ld += c2[i] * math.log1p(-m) if c2[i] != 0.0 else 0.0
            s += c3[i] * ld
        else:
            if c4[i] == 0.0:
                return math.inf
            ld = (y[i] * math.log(m) if y[i] != 0.0 else 0.0) - m - c3[i]
            s += wt[i] * ld
    return -2.0 * s


@njit(**_JIT)
def _chol(A):
    """Lower Cholesky factor of a symmetric A (lower triangle read); (L, ok)."""
    n = A.shape[0]
    L = np.zeros((n, n))
    for j in range(n):
        s = A[j, j]
        for k in range(j):
            s -= L[j, k] * L[j, k]
        if not s > 0.0:
            return L, False
        d = math.sqrt(s)
        L[j, j] = d
        for i in range(j + 1, n):
            t = A[i, j]
            for k in range(j):
                t -= L[i, k] * L[j, k]
            L[i, j] = t / d
    return L, True


@njit(**_JIT)
def _linear(X, beta, use_beta, codes, xv, lam, offs, T, vector, u, out):
    """out = Xβ (if use_beta) + ZΛu.  Scalar terms: Σ_k x_k λ_k u[offs_k + code_k];
    ``vector`` (one term of p₀ columns, template T): per row Σ_a x_a (T u_level)_a, Λu
    summed as the NumPy path's ``BlockDiagPattern.apply`` and Z's rows in column order."""
    n, p = X.shape
    K = codes.shape[0]
    if vector:
        p0 = T.shape[0]
        b = np.empty(len(u))
        for lv in range(len(u) // p0):
            for r in range(p0):
                acc = 0.0 + T[r, 0] * u[lv * p0]
                for c in range(1, r + 1):
                    acc = acc + T[r, c] * u[lv * p0 + c]
                b[lv * p0 + r] = acc
    for i in range(n):
        s = 0.0
        if use_beta:
            for j in range(p):
                s += X[i, j] * beta[j]
        zu = 0.0
        if vector:
            base = codes[0, i] * T.shape[0]
            for a in range(T.shape[0]):
                zu += xv[a, i] * b[base + a]
        else:
            for k in range(K):
                zu += xv[k, i] * (lam[k] * u[offs[k] + codes[k, i]])
        out[i] = s + zu if use_beta else zu


@njit(**_JIT)
def _move(X, delb, u_only, codes, xv, lam, offs, T, vector, delu, lin, offset, eta, mu, E, y,
          pw, fam, link):
    """The iterate at (u, β): lin, η = offset + lin, μ (and exp(−η) into E); returns Σ
    deviance residuals."""
    _linear(X, delb, not u_only, codes, xv, lam, offs, T, vector, delu, lin)
    dsum = 0.0
    for i in range(len(y)):
        eta[i] = offset[i] + lin[i]
        mu[i], E[i] = _linkinv_e(eta[i], link)
        dsum += _dev_resid(y[i], mu[i], pw[i], fam)
    return dsum


@njit(**_JIT)
def _step(X, delb, olddelb, delu, olddelu, u_only, codes, xv, lam, offs, T, vector, lin,
          offset, eta, mu, E, y, pw, fam, link, oldpdev, tol, maxhalf):
    """Move to the new (u, β), then lme4's rule: converged when |Δpdev/pdev| < tol, else a
    larger (or NaN) pdev halves the step towards the previous iterate up to ``maxhalf``
    times.  Returns (code, pdev, Σ devResid, u, β): code 0 go on, 1 converged, 2 NaN, 3
    step-halvings failed (the kernels' statuses 1 and 2)."""
    dsum = _move(X, delb, u_only, codes, xv, lam, offs, T, vector, delu, lin, offset, eta, mu,
                 E, y, pw, fam, link)
    pdev = dsum + np.dot(delu, delu)
    if abs((oldpdev - pdev) / pdev) < tol:
        return 1, pdev, dsum, delu, delb
    if math.isnan(pdev) or pdev > oldpdev:
        for _h in range(maxhalf):
            if not (math.isnan(pdev) or pdev > oldpdev):
                break
            delu = 0.5 * (olddelu + delu)
            if not u_only:
                delb = 0.5 * (olddelb + delb)
            dsum = _move(X, delb, u_only, codes, xv, lam, offs, T, vector, delu, lin, offset,
                         eta, mu, E, y, pw, fam, link)
            pdev = dsum + np.dot(delu, delu)
        if math.isnan(pdev):
            return 2, pdev, dsum, delu, delb
        if pdev - oldpdev > tol:
            return 3, pdev, dsum, delu, delb
    return 0, pdev, dsum, delu, delb


@njit(**_JIT)
def _weights(eta, mu, E, offset, y, pw, X, fam, link, u_only, ME, SW, W, V):
    """Working weights and response at the iterate (E: its exp(−η), logit): √W[X z] into
    V (X's columns only when β is updated), μ'(η) into ME, √w and w into SW and W."""
    n, p = X.shape
    for i in range(n):
        me = _mu_eta(eta[i], mu[i], E[i], link)
        sw = me * math.sqrt(pw[i] / _variance(mu[i], fam))
        ME[i] = me
        SW[i] = sw
        W[i] = sw * sw
        if not u_only:
            for j in range(p):
                V[i, j] = X[i, j] * sw
        V[i, p] = ((eta[i] - offset[i]) + (y[i] - mu[i]) / me) * sw


@njit(**_JIT)
def _accumulate(W, SW, V, codes, xv, k0, rest_pos, cell, j0, weighted, A00, A0m, ar0, ARm,
                ARR):
    """The blocks of √W[Z X z]: the columns j0… of [X z] into A0m and ARm, and
    (``weighted``) the blocks that depend on W only, A00, A_R0's cells and A_RR.

    Every entry is a sum over the rows in row order; each kind of entry has a loop of its
    own over the rows (the entries of different terms and kinds are distinct), which runs
    faster than one loop doing every kind per row, with the same sums to the bit."""
    K = codes.shape[0]
    c0s = codes[k0]
    x0s = xv[k0]
    if weighted:
        for i in range(len(W)):
            x0 = x0s[i]
            A00[c0s[i]] += W[i] * x0 * x0
    _add_columns(A0m, 0, c0s, x0s, SW, V, j0)
    for a in range(K):
        if a == k0:
            continue
        cas, xas, ra0 = codes[a], xv[a], rest_pos[a]
        if weighted:
            cells = cell[a]
            for i in range(len(W)):
                ar0[cells[i]] += (W[i] * xas[i]) * x0s[i]
        _add_columns(ARm, ra0, cas, xas, SW, V, j0)
        for b in range(K):
            if weighted and b != k0:
                _add_cross(ARR, ra0, cas, xas, W, rest_pos[b], codes[b], xv[b])


@njit(**_JIT)
def _add_columns(T, base, lv, x, SW, V, j0):
    """T[base + lvᵢ, j] += (xᵢ √wᵢ)·V[i, j] for the columns j ≥ j0, row by row."""
    n, m = V.shape
    for i in range(n):
        r = base + lv[i]
        s = x[i] * SW[i]
        for j in range(j0, m):
            T[r, j] += s * V[i, j]


@njit(**_JIT)
def _add_cross(T, ra, la, xa, W, rb, lb, xb):
    """T[ra + laᵢ, rb + lbᵢ] += (wᵢ xaᵢ)·xbᵢ, row by row (one pair of terms of A_RR)."""
    for i in range(len(W)):
        T[ra + la[i], rb + lb[i]] += (W[i] * xa[i]) * xb[i]


@njit(**_JIT)
def _zero_pattern(ARR, colpat_ptr, colpat):
    """Zero A_RR on L_RR's pattern (which holds A_RR's)."""
    for j in range(ARR.shape[0]):
        ARR[j, j] = 0.0
        for t in range(colpat_ptr[j], colpat_ptr[j + 1]):
            ARR[colpat[t], j] = 0.0
            ARR[j, colpat[t]] = 0.0


@njit(**_JIT)
def first_weights(codes, xv, k0, cell, rest_pos, ncell, l0, qR, colpat_ptr, colpat, X, y, pw,
                  eta0, fam, link):
    """What the first PIRLS iteration from ``eta0`` computes that does not depend on θ, β
    or the offset in u-only mode (stage 2, where every evaluation starts from the same
    η): μ, μ'(η), √w, and the W-only blocks A00, A_R0's cells and A_RR — the same
    arithmetic as :func:`pirls_scalar`'s, so reusing them changes no bit."""
    n, p = X.shape
    mu, E = _mu_of(eta0, link)
    ME, SW, W = np.empty(n), np.empty(n), np.empty(n)
    V = np.zeros((n, p + 1))
    _weights(eta0, mu, E, np.zeros(n), y, pw, X, fam, link, True, ME, SW, W, V)
    A00, ar0 = np.zeros(l0), np.zeros(ncell)
    ARR = np.zeros((qR, qR))
    _accumulate(W, SW, V, codes, xv, k0, rest_pos, cell, p + 1, True, A00,
                np.zeros((l0, p + 1)), ar0, np.zeros((qR, p + 1)), ARR)
    return mu, ME, SW, A00, ar0, ARR


@njit(**_JIT)
def _beta_update(S, p, RX):
    """Factor the Schur complement S of √W[X z] (RX is its upper-left block, written into
    ``RX``) and solve for β's update: (ok, δβ)."""
    LS, ok = _chol(S)
    delb = np.zeros(p)
    if not ok:
        return False, delb
    for a in range(p):
        for b in range(p):
            RX[a, b] = LS[b, a]
    for a in range(p - 1, -1, -1):  # RX δβ = R[:p, p]  (R = LSᵀ)
        t = LS[p, a]
        for b in range(a + 1, p):
            t -= LS[b, a] * delb[b]
        delb[a] = t / LS[a, a]
    return True, delb


@njit(**_JIT)
def _finish(status, it, delu, delb, eta, mu, lin, ldL2, RX, dsum, L00, y, pw, fam, a1, a2, a3,
            a4, bernoulli):
    """The kernels' result: after convergence with the family's aic, else status 3.
    ``bernoulli`` (0/1 responses, unit weights): the aic is −2 Σ log p(yᵢ | μᵢ), which is
    the sum of the deviance residuals the last step formed (the saturated model's
    likelihood is 1), so that sum is taken instead of a second pass of logarithms."""
    if status != 0:
        return 3, it, delu, delb, eta, mu, lin, ldL2, RX, 0.0, 0.0, L00
    aic = dsum if bernoulli else _aic(y, mu, pw, fam, a1, a2, a3, a4)
    return 0, it, delu, delb, eta, mu, lin, ldL2, RX, dsum, aic, L00


@njit(**_JIT)
def _pirls_scalar(lam, codes, xv, nlev, offs, k0, rest_pos, qR, cell, cl_ptr, cl_r,
                 rowpat_ptr, rowpat, colpat_ptr, colpat, dense_gram, ARR, LRR, X, y, pw,
                 offset, eta0, u_only, fam, link, maxit, tol, maxhalf, a1, a2, a3, a4,
                 bernoulli, cached, c_mu, c_me, c_sw, c_A00, c_ar0, c_ARR):
    """lme4's PIRLS for scalar terms (see the module doc).

    ``lam`` (K,): λ of each term; ``codes``/``xv`` (K, n): level codes and values;
    ``nlev`` (K,): levels per term; ``offs`` (K,): each term's first column in u (lme4
    order); ``k0``: the diagonal term; ``rest_pos`` (K,): each other term's first column
    in block R (−1 for k0); the sparse structure (:func:`plan_scalar`): ``cell`` (K, n),
    each row's cell of A_R0 per term, the cells grouped by level of block 0 (``cl_ptr``)
    with their R column ``cl_r``, and the pattern of L_RR by rows (below the diagonal)
    and by columns; ``dense_gram``: L_R0 L_R0ᵀ by BLAS on a dense L_R0; ``ARR``, ``LRR``
    (qR, qR): work arrays, zero off the pattern (:func:`plan_scalar`'s, reused by every
    call: only pattern entries are written); a1–a4: the family's aic constants
    (:func:`_aic`), ``bernoulli``: the aic from the deviance residuals (:func:`_finish`);
    ``cached`` (u only): the first iteration takes μ, μ'(η), √w and the
    W-only blocks from :func:`first_weights` of the same ``eta0`` (the c_* arrays).
    Returns (status, iterations, u, β, η, μ, lin, ldL2, RX, drsum, aic, L00)."""
    n, p = X.shape
    K = codes.shape[0]
    m = p + 1
    l0 = nlev[k0]
    q = 0
    for k in range(K):
        q += nlev[k]
    lam0 = lam[k0]
    lamR = np.zeros(qR)
    for k in range(K):
        if k != k0:
            for j in range(nlev[k]):
                lamR[rest_pos[k] + j] = lam[k]
    ncell = len(cl_r)
    cached = cached and u_only
    eta = eta0.copy()
    if cached:  # exp(−η) is first needed after a move
        mu, E = c_mu.copy(), np.empty(n)
    else:
        mu, E = _mu_of(eta, link)
    delu = np.zeros(q)
    delb = np.zeros(p)
    lin = np.zeros(n)
    W = np.empty(n)
    SW = np.empty(n)
    ME = np.empty(n)
    V = np.empty((n, m))
    A00 = np.empty(l0)
    A0m = np.empty((l0, m))
    ARm = np.empty((qR, m))
    ar0 = np.empty(ncell)
    lr0 = np.empty(ncell)
    CR = np.zeros((qR, m))  # u only: its X columns stay 0 (β's update is 0)
    L00 = np.empty(l0)
    d = np.empty(l0)
    C0 = np.zeros((l0, m))  # likewise
    # u only (stage 2): only the z column of [X z] is needed; RX is then not formed (NaN)
    j0 = p if u_only else 0
    RX = np.full((p, p), np.nan) if u_only else np.zeros((p, p))
    ldL2 = 0.0
    dsum = 0.0
    oldpdev = DBL_MAX
    pdev = 0.0
    status = 3
    it = 0
    for it in range(1, maxit + 1):
        olddelu = delu.copy()
        olddelb = delb.copy()
        # -- working weights and response, the blocks of √W[Z X z] ---------------------
        A0m[:] = 0.0
        ARm[:] = 0.0
        if cached and it == 1:  # the W-only parts as first_weights left them
            for i in range(n):
                sw = c_sw[i]
                SW[i] = sw
                W[i] = sw * sw
                V[i, p] = ((eta[i] - offset[i]) + (y[i] - mu[i]) / c_me[i]) * sw
            A00[:] = c_A00
            ar0[:] = c_ar0
            for j in range(qR):
                ARR[j, j] = c_ARR[j, j]
                for t in range(colpat_ptr[j], colpat_ptr[j + 1]):
                    ARR[colpat[t], j] = c_ARR[colpat[t], j]
                    ARR[j, colpat[t]] = c_ARR[j, colpat[t]]
            _accumulate(W, SW, V, codes, xv, k0, rest_pos, cell, p, False, A00, A0m, ar0,
                        ARm, ARR)
        else:
            _weights(eta, mu, E, offset, y, pw, X, fam, link, u_only, ME, SW, W, V)
            A00[:] = 0.0
            ar0[:] = 0.0
            _zero_pattern(ARR, colpat_ptr, colpat)
            _accumulate(W, SW, V, codes, xv, k0, rest_pos, cell, j0, True, A00, A0m, ar0,
                        ARm, ARR)
        # -- the factor: block 0 (diagonal), then R on its pattern ----------------------
        ld = 0.0
        for l in range(l0):
            L00[l] = math.sqrt(lam0 * lam0 * A00[l] + 1.0)
            ld += math.log(L00[l])
            d[l] = lam0 / L00[l]
        ld *= 2.0
        for l in range(l0):
            for j in range(j0, m):
                C0[l, j] = A0m[l, j] * d[l]
        if qR:
            for j in range(qR):  # M_RR = I + Λ_R A_RR Λ_R (lower pattern) into LRR
                LRR[j, j] = ARR[j, j] * lamR[j] * lamR[j] + 1.0
                for t in range(colpat_ptr[j], colpat_ptr[j + 1]):
                    i = colpat[t]
                    LRR[i, j] = ARR[i, j] * lamR[i] * lamR[j]
            for j in range(qR):
                for c in range(j0, m):
                    CR[j, c] = lamR[j] * ARm[j, c]
            for l in range(l0):
                for c in range(cl_ptr[l], cl_ptr[l + 1]):
                    lr0[c] = lamR[cl_r[c]] * ar0[c] * d[l]
            if dense_gram:  # a dense L_R0: its Gram and product with C0 by BLAS
                LR0 = np.zeros((qR, l0))
                for l in range(l0):
                    for c in range(cl_ptr[l], cl_ptr[l + 1]):
                        LR0[cl_r[c], l] = lr0[c]
                G = LR0 @ LR0.T
                for j in range(qR):
                    LRR[j, j] -= G[j, j]
                    for t in range(colpat_ptr[j], colpat_ptr[j + 1]):
                        LRR[colpat[t], j] -= G[colpat[t], j]
                if u_only:
                    CR[:, p] -= LR0 @ C0[:, p]
                else:
                    CR -= LR0 @ C0
            else:  # − L_R0 L_R0ᵀ and − L_R0 C0, level by level of block 0
                for l in range(l0):
                    for c in range(cl_ptr[l], cl_ptr[l + 1]):
                        r = cl_r[c]
                        v = lr0[c]
                        for c2 in range(cl_ptr[l], c + 1):  # cells sorted by R column
                            LRR[r, cl_r[c2]] -= v * lr0[c2]
                        for j in range(j0, m):
                            CR[r, j] -= v * C0[l, j]
            for j in range(qR):  # left-looking Cholesky on the pattern
                s = LRR[j, j]
                for t in range(rowpat_ptr[j], rowpat_ptr[j + 1]):
                    k = rowpat[t]
                    s -= LRR[j, k] * LRR[j, k]
                if not s > 0.0:
                    return 5, it, delu, delb, eta, mu, lin, 0.0, RX, 0.0, 0.0, L00
                djj = math.sqrt(s)
                LRR[j, j] = djj
                for t in range(colpat_ptr[j], colpat_ptr[j + 1]):
                    i = colpat[t]
                    v = LRR[i, j]
                    for t2 in range(rowpat_ptr[j], rowpat_ptr[j + 1]):
                        k = rowpat[t2]
                        v -= LRR[i, k] * LRR[j, k]
                    LRR[i, j] = v / djj
                ld += 2.0 * math.log(djj)
                for c in range(j0, m):  # forward substitution L_RR CR = rhs, row j
                    v = CR[j, c]
                    for t2 in range(rowpat_ptr[j], rowpat_ptr[j + 1]):
                        k = rowpat[t2]
                        v -= LRR[j, k] * CR[k, c]
                    CR[j, c] = v / djj
        ldL2 = ld
        delb = np.zeros(p)
        if not u_only:  # the Schur complement of √W[X z], its factor RX and β's update
            S = V.T @ V - C0.T @ C0
            if qR:
                S = S - CR.T @ CR
            ok, delb = _beta_update(S, p, RX)
            if not ok:
                return 4, it, delu, delb, eta, mu, lin, 0.0, RX, 0.0, 0.0, L00
        # -- the update ---------------------------------------------------------------
        delu = np.empty(q)
        rhs0 = np.empty(l0)
        for l in range(l0):
            t = C0[l, p]
            for j in range(p):
                t -= C0[l, j] * delb[j]
            rhs0[l] = t
        if qR:
            uR = np.empty(qR)
            for r in range(qR):
                t = CR[r, p]
                for j in range(p):
                    t -= CR[r, j] * delb[j]
                uR[r] = t
            for j in range(qR - 1, -1, -1):  # L_RRᵀ uR = rhs
                t = uR[j]
                for t2 in range(colpat_ptr[j], colpat_ptr[j + 1]):
                    i = colpat[t2]
                    t -= LRR[i, j] * uR[i]
                uR[j] = t / LRR[j, j]
            for l in range(l0):
                t = 0.0
                for c in range(cl_ptr[l], cl_ptr[l + 1]):
                    t += lr0[c] * uR[cl_r[c]]
                rhs0[l] -= t
            for k in range(K):
                if k != k0:
                    for j in range(nlev[k]):
                        delu[offs[k] + j] = uR[rest_pos[k] + j]
        for l in range(l0):
            delu[offs[k0] + l] = rhs0[l] / L00[l]
        code, pdev, dsum, delu, delb = _step(X, delb, olddelb, delu, olddelu, u_only, codes,
                                             xv, lam, offs, NO_T, False, lin, offset, eta,
                                             mu, E, y, pw, fam, link, oldpdev, tol, maxhalf)
        if code == 1:
            status = 0
            break
        if code > 1:
            return code - 1, it, delu, delb, eta, mu, lin, ldL2, RX, 0.0, 0.0, L00
        oldpdev = pdev
    return _finish(status, it, delu, delb, eta, mu, lin, ldL2, RX, dsum, L00, y, pw, fam, a1,
                   a2, a3, a4, bernoulli)


@njit(**_JIT)
def pirls_vector(T, codes, xv, l0, X, y, pw, offset, eta0, u_only, fam, link, maxit, tol,
                 maxhalf, a1, a2, a3, a4, bernoulli):
    """lme4's PIRLS for a model with one vector-valued term of p₀ columns (template T,
    lower triangular): the factor is block diagonal, one p₀ × p₀ Cholesky factor of
    TᵀA_lT + I per level, then the Schur complement of [X z] as :func:`pirls_scalar`.
    ``codes`` (1, n) and ``xv`` (p₀, n): each row's level and the term's columns.
    Returns as :func:`pirls_scalar` (L00 empty: no AGQ for vector terms)."""
    n, p = X.shape
    m = p + 1
    p0 = T.shape[0]
    q = l0 * p0
    eta = eta0.copy()
    mu, E = _mu_of(eta, link)
    delu = np.zeros(q)
    delb = np.zeros(p)
    lin = np.zeros(n)
    W, SW, ME = np.empty(n), np.empty(n), np.empty(n)
    V = np.empty((n, m))
    j0 = p if u_only else 0
    RX = np.full((p, p), np.nan) if u_only else np.zeros((p, p))
    Lb = np.zeros((l0, p0, p0))
    C0 = np.zeros((l0, p0, m))
    NO_L00 = np.zeros(0)
    ldL2 = 0.0
    dsum = 0.0
    oldpdev = DBL_MAX
    status = 3
    it = 0
    for it in range(1, maxit + 1):
        olddelu = delu.copy()
        olddelb = delb.copy()
        _weights(eta, mu, E, offset, y, pw, X, fam, link, u_only, ME, SW, W, V)
        A00 = np.zeros((l0, p0, p0))
        A0m = np.zeros((l0, p0, m))
        for i in range(n):
            c = codes[0, i]
            w = W[i]
            sw = SW[i]
            for a in range(p0):
                wxa = w * xv[a, i]
                for b in range(p0):
                    A00[c, a, b] += wxa * xv[b, i]
                xs = xv[a, i] * sw
                for j in range(j0, m):
                    A0m[c, a, j] += xs * V[i, j]
        ld = 0.0
        for lv in range(l0):
            M = T.T @ A00[lv] @ T
            for a in range(p0):
                M[a, a] += 1.0
            L, ok = _chol(M)
            if not ok:
                return 5, it, delu, delb, eta, mu, lin, 0.0, RX, 0.0, 0.0, NO_L00
            Lb[lv] = L
            TA = T.T @ A0m[lv]
            for j in range(j0, m):  # C0 = L⁻¹ Tᵀ A_0m (forward substitution)
                for a in range(p0):
                    t = TA[a, j]
                    for b in range(a):
                        t -= L[a, b] * C0[lv, b, j]
                    C0[lv, a, j] = t / L[a, a]
            for a in range(p0):
                ld += math.log(L[a, a])
        ldL2 = 2.0 * ld
        delb = np.zeros(p)
        if not u_only:
            S = V.T @ V
            for lv in range(l0):
                S -= C0[lv].T @ C0[lv]
            ok, delb = _beta_update(S, p, RX)
            if not ok:
                return 4, it, delu, delb, eta, mu, lin, 0.0, RX, 0.0, 0.0, NO_L00
        delu = np.empty(q)
        for lv in range(l0):  # u = L⁻ᵀ (C0[:, p] − C0[:, :p] δβ), level by level
            L = Lb[lv]
            for a in range(p0 - 1, -1, -1):
                t = C0[lv, a, p]
                for j in range(p):
                    t -= C0[lv, a, j] * delb[j]
                for b in range(a + 1, p0):
                    t -= L[b, a] * delu[lv * p0 + b]
                delu[lv * p0 + a] = t / L[a, a]
        code, pdev, dsum, delu, delb = _step(X, delb, olddelb, delu, olddelu, u_only, codes,
                                             xv, NO_L00, NO_OFFS, T, True, lin, offset, eta,
                                             mu, E, y, pw, fam, link, oldpdev, tol, maxhalf)
        if code == 1:
            status = 0
            break
        if code > 1:
            return code - 1, it, delu, delb, eta, mu, lin, ldL2, RX, 0.0, 0.0, NO_L00
        oldpdev = pdev
    return _finish(status, it, delu, delb, eta, mu, lin, ldL2, RX, dsum, NO_L00, y, pw, fam,
                   a1, a2, a3, a4, bernoulli)


# Python-facing entry points.  numba's on-disk cache keeps, for a function first compiled
# as another compiled function's callee, no environment to hand a new array back to
# Python ("NRT_adapt_ndarray_to_python: descr is NULL" on a later process's call), so
# the functions that both compiled code and Python call are compiled code's (underscore)
# and these thin wrappers are Python's.


@njit(**_JIT)
def plus_xbeta(offset, X, beta):
    """offset + Xβ (:func:`_plus_xbeta`), for Python callers."""
    return _plus_xbeta(offset, X, beta)


@njit(**_JIT)
def pirls_scalar(lam, codes, xv, nlev, offs, k0, rest_pos, qR, cell, cl_ptr, cl_r,
                 rowpat_ptr, rowpat, colpat_ptr, colpat, dense_gram, ARR, LRR, X, y, pw,
                 offset, eta0, u_only, fam, link, maxit, tol, maxhalf, a1, a2, a3, a4,
                 bernoulli, cached, c_mu, c_me, c_sw, c_A00, c_ar0, c_ARR):
    """:func:`_pirls_scalar` (lme4's PIRLS for scalar terms), for Python callers."""
    return _pirls_scalar(lam, codes, xv, nlev, offs, k0, rest_pos, qR, cell, cl_ptr, cl_r,
                         rowpat_ptr, rowpat, colpat_ptr, colpat, dense_gram, ARR, LRR, X, y,
                         pw, offset, eta0, u_only, fam, link, maxit, tol, maxhalf, a1, a2, a3,
                         a4, bernoulli, cached, c_mu, c_me, c_sw, c_A00, c_ar0, c_ARR)
