"""Warning classes as the reference documents promise them: a singular fit's
SingularFitWarning is also a ConvergenceWarning, so a filter on either catches it."""

from __future__ import annotations

import warnings

import pytest

import interlace
from conftest import dataset


def test_singular_fit_warning_is_a_convergence_warning():
    assert issubclass(interlace.SingularFitWarning, interlace.ConvergenceWarning)
    with pytest.warns(interlace.ConvergenceWarning, match=r"boundary \(singular\) fit"):
        interlace.fit("Yield ~ 1 + (1 | Batch)", dataset("Dyestuff2"))


def test_filtering_either_class_silences_the_singular_fit():
    for cls in (interlace.ConvergenceWarning, interlace.SingularFitWarning):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            warnings.filterwarnings("ignore", category=cls)
            res = interlace.fit("Yield ~ 1 + (1 | Batch)", dataset("Dyestuff2"))
        assert res.is_singular
        assert not [w for w in rec if issubclass(w.category, interlace.InterlaceWarning)]
