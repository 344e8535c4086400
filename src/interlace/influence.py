"""``interlace.influence``: the import path the diagnostics guide uses.

Everything lives in :mod:`interlace.diagnostics`; this module re-exports the
case-deletion entry points under the guide's name.  ``interlace.influence`` is also the
name of the function (lme4's ``influence(m)``); importing this module would otherwise
replace that attribute of the package, so the module itself is made callable and
calling it is calling :func:`interlace.diagnostics.influence`.
"""

import sys
import types

from interlace.diagnostics import (
    Influence,
    influence,
    lmer_influence_measures,
    ols_dfbetas_qr,
)

__all__ = ["Influence", "influence", "lmer_influence_measures", "ols_dfbetas_qr"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return influence(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
