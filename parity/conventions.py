"""Known convention differences between interlace and lme4/lmerTest, for the reports.

Each entry: (title, explanation). These are definitions the harness aligns or documents,
not tolerances: where a convention differs, the comparison states which side it follows.
"""

CONVENTIONS: list[tuple[str, str]] = [
    ("Optimizer", "lme4's default lmerControl() uses nloptwrap (NLopt BOBYQA, xtol_abs = "
     "ftol_abs = 1e-8, maxeval 1e5). interlace's default 'bobyqa' is the same NLopt BOBYQA "
     "with the same settings (the system libnlopt R links when present, else the PyPI "
     "nlopt wheel). Optima can still differ on flat surfaces; see the optimum-dependent "
     "class."),
    ("θ names and order", "θ follows getME(m, 'theta'): terms in lme4's order (most levels "
     "first, ties by rev(order())), lower-triangular column-major within a term, names "
     "'group.term' or 'group.term1.term2' as lme4 prints them."),
    ("Objective", "REML fits compare lme4's REML criterion (devcomp$cmp['REML']), ML fits "
     "the deviance (devcomp$cmp['dev']), i.e. −2·logLik; both are the profiled criteria of "
     "Bates et al. (2015, JSS 67(1), §3)."),
    ("Residuals and fitted values", "Response residuals y − fitted, fitted including the "
     "BLUPs (lme4's residuals(m) and fitted(m) defaults); keyed by R's row names of the rows "
     "actually used (na.omit drops rows with a missing value in any used column)."),
    ("Conditional SDs of BLUPs", "condsd is the square root of the diagonal of lme4's "
     "condVar: σ²·Λ(L⁻ᵀL⁻¹)Λᵀ at θ̂ and σ̂, which ignores the uncertainty in β and θ."),
    ("Satterthwaite df", "lmerTest 3.1-3's algorithm: the Hessian of the deviance in "
     "(θ, σ) by numDeriv's Richardson extrapolation, and Jacobians of vcov(β) likewise; "
     "interlace reproduces numDeriv's step rules, so remaining differences are rounding "
     "amplified by finite differences."),
    ("Singular fits", "isSingular(tol = 1e-4): any diagonal element of Λ (θ with lower "
     "bound 0) below 1e-4. θ components lme4 leaves exactly on the bound are compared in "
     "the boundary class."),
    ("Rank-deficient fixed effects", "Columns are dropped by LINPACK's pivoting QR "
     "(dqrdc2, tol 1e-7) as lme4's check.rankX = 'message+drop.cols'; dropped columns do "
     "not appear in fixef, on either side."),
    ("Variance components", "as.data.frame(VarCorr(m)): variances and covariances "
     "(vcov) and SDs/correlations (sdcor), the residual row last; compared on vcov."),
]
