"""The import path of the reference documents: ``from interlace.influence import
hlm_influence, lmer_influence_measures, ols_dfbetas_qr`` (and the other influence measures).

The functions live in :mod:`interlace.diagnostics`; this module re-exports them.  The
package's ``interlace.influence`` is at the same time lme4's ``influence()``
(:func:`interlace.diagnostics.influence.influence`): importing this module rebinds that
name to the module, so the module is callable and calling it is calling ``influence()``.
"""

from __future__ import annotations

import sys
import types

from interlace import diagnostics as _diagnostics
from interlace.diagnostics import *  # noqa: F403 (the documents' import path: all of it)
from interlace.diagnostics.influence import Influence
from interlace.diagnostics.influence import influence as _influence

__all__ = [n for n in _diagnostics.__all__ if n != "influence"]


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`interlace.diagnostics.influence.influence`."""

    def __call__(self, *args, **kwargs) -> Influence:
        return _influence(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
sys.modules[__name__].__call__.__func__.__doc__ = _influence.__doc__
