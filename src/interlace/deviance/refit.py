"""lme4's ``refit(m, newresp)`` for a linear mixed model: the deviance of the same design on
a new response.

Only the response's cross-products change — Zᵀy₀, Xᵀy₀ and y₀ᵀy₀ of the shifted response
y₀ = y − offset − X b₀ (:mod:`interlace.linalg.centering`), rows weighted by √w — so ZᵀZ,
XᵀX, the random-effects pattern and the factor's ordering and plan are reused
(``with_cross_products``): a replicate costs the optimization and O(n) for its products.
:meth:`ResponseRefit.blocks` gives many responses' products in the batched layout of
:mod:`interlace.linalg.batched`, whose Newton method refits them all together.
"""

from __future__ import annotations

import numpy as np

from interlace.design.zmatrix import build_Z
from interlace.deviance.lmm import LmmDeviance
from interlace.linalg.centering import shift_response
from interlace.linalg.crossprod import CrossProducts

__all__ = ["ResponseRefit"]


class ResponseRefit:
    """Deviances of one LMM design on new responses (see the module docstring).

    Parameters
    ----------
    design : Design
        The fitted model's design.
    dev : LmmDeviance
        Its deviance (criterion, layout, factor).
    """

    def __init__(self, design, dev: LmmDeviance):
        self.design, self.dev = design, dev
        w = design.weights
        self.sqrtw = None if w is None else np.sqrt(w)
        X = design.X
        self.Xw = X if self.sqrtw is None else X * self.sqrtw[:, None]
        self.Zw = build_Z(design.re_terms, self.sqrtw).tocsc()

    def cross_products(self, y) -> CrossProducts:
        """The cross-products of the design with response ``y`` (n,)."""
        d, cp0 = self.design, self.dev.cp
        y = np.asarray(y, dtype=float)
        if y.shape != (d.n,):
            raise ValueError(f"a new response needs {d.n} values, got shape {y.shape}")
        shifted = shift_response(d.X, y, d.weights, d.offset)
        yw = shifted.y0 if self.sqrtw is None else shifted.y0 * self.sqrtw
        p = cp0.p
        ZtXy = cp0.ZtXy.copy()
        ZtXy[:, p] = self.Zw.T @ yw
        XytXy = cp0.XytXy.copy()
        xy = self.Xw.T @ yw
        XytXy[:p, p] = xy
        XytXy[p, :p] = xy
        XytXy[p, p] = yw @ yw
        return CrossProducts(cp0.ZtZ, ZtXy, XytXy, cp0.n, p, shifted.beta0, shifted.y0)

    def deviance(self, y, reml: bool | None = None, legacy: bool = False) -> LmmDeviance:
        """The deviance (REML or ML as the fit's, unless ``reml`` is given) on response y.

        ``legacy``: the REML criterion of lme4 1.1-31's ``refit()``, which builds its
        response module with ``REML = TRUE`` coerced to 1, so that the criterion uses
        n − 1 where it should use n − p (the optimum moves; σ̂ is still pwrss/(n − p)).
        lme4 fixed this in April 2023 (commit 58b0f45, "fixed ancient REML-setting bug in
        refit"); it is kept here only to reproduce bootstraps run with lme4 < 1.1-33."""
        out = self.dev.with_cross_products(self.cross_products(y), reml)
        if legacy and out.reml:
            out.reml_p, out._batch = 1, None  # the batched form has lme4's current criterion
        return out

    def _form(self):
        if self.dev.factor.name != "blocked" or self.dev.reml_p is not None:
            return None
        return self.dev._batched_form()

    def structure(self):
        """The batched form's :class:`~interlace.linalg.batched.Structure`, or None when
        the model has none (:meth:`blocks` then gives None)."""
        form = self._form()
        return None if form is None else form[0]

    def blocks(self, Y: np.ndarray):
        """The cross-products of responses ``Y`` (n × B) in the batched layout
        (:class:`interlace.linalg.batched.BlockData`, one set per column), or None when the
        model has no batched form.  Every response is shifted by the fit's own b₀ (one
        shift for all, :attr:`BlockData.beta0`), so each β̂ comes back unshifted."""
        from interlace.linalg import batched

        form = self._form()
        if form is None:
            return None
        st, bd = form
        d, cp0, f = self.design, self.dev.cp, self.dev.factor
        Y = np.asarray(Y, dtype=float)
        B, p = Y.shape[1], cp0.p
        b0 = cp0.shift
        fixed = d.X @ b0 + (0.0 if d.offset is None else d.offset)
        Yw = Y - fixed[:, None]
        if self.sqrtw is not None:
            Yw = Yw * self.sqrtw[:, None]
        Zy = np.asarray(self.Zw.T @ Yw)  # q × B
        Xy = self.Xw.T @ Yw  # p × B
        ZtXy = np.broadcast_to(cp0.ZtXy[None], (B, *cp0.ZtXy.shape)).copy()
        ZtXy[:, :, p] = Zy.T
        XX = np.broadcast_to(cp0.XytXy[None], (B, p + 1, p + 1)).copy()
        XX[:, :p, p] = Xy.T
        XX[:, p, :p] = Xy.T
        XX[:, p, p] = np.einsum("ib,ib->b", Yw, Yw)
        m = p + 1
        A0m = ZtXy[:, f.idx0].reshape(B, f.l0, f.p0, m)
        rep = (lambda a: None if a is None else np.broadcast_to(a, (B, *a.shape[1:])))  # noqa: E731
        ARm = ZtXy[:, f.idxR] if f.qR else None
        out = batched.BlockData(rep(bd.A00), A0m, rep(bd.AR0), rep(bd.ARR), ARm, XX,
                                np.full(B, bd.n[0]), np.full(B, bd.ldW[0]), b0)
        return st, out
