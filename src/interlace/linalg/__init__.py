"""Factorization backends for ΛᵀZᵀZΛ + I sharing one protocol.

Each backend is built from the model's cross-products and offers
``update(templates) -> (ldL2, S)`` (refactor in place at θ; return log|L|² and
the Schur complement of [X y]), ``solve_u(beta)`` (β of the response the products were
formed from) and ``minv_diag_blocks()``.
"""

from __future__ import annotations

from collections.abc import Sequence

from interlace.errors import InterlaceError
from interlace.linalg import cholmod as _cholmod_mod
from interlace.linalg.blocked import BlockedFactor
from interlace.linalg.crossprod import CrossProducts

BlockedFactor.name = "blocked"

#: size of the dense block above which "auto" prefers CHOLMOD when installed
DENSE_BLOCK_LIMIT = 2000

CHOLMOD_AVAILABLE = _cholmod_mod.AVAILABLE


def make_factor(cp: CrossProducts, ps: Sequence[int], ls: Sequence[int], backend: str = "auto",
                like: BlockedFactor | None = None, sparse_offdiag_below: float = 0.0):
    """Create the factor backend named by ``backend`` ("auto", "blocked" or "cholmod").

    ``like``: a blocked factor of the same terms on more data, whose ordering the blocked
    backend reuses (case-deletion refits).  ``sparse_offdiag_below``: see
    :class:`BlockedFactor` (for factors refactored many times on new weights).
    """
    if backend not in ("auto", "blocked", "cholmod"):
        raise InterlaceError(f"backend must be 'auto', 'blocked' or 'cholmod', not {backend!r}")
    if backend == "cholmod":
        return _cholmod_mod.CholmodFactor(cp, ps, ls)
    blocked = BlockedFactor(cp, ps, ls, like=like, sparse_offdiag_below=sparse_offdiag_below)
    if backend == "auto" and CHOLMOD_AVAILABLE and blocked.qR > DENSE_BLOCK_LIMIT:
        return _cholmod_mod.CholmodFactor(cp, ps, ls)
    return blocked
