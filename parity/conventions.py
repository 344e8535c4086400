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
    ("HLMdiag conventions (diagnostics, [hlmdiag-*] rows)", "HLMdiag 0.5.1.9000 (commit "
     "6f1ee6d; stored fixtures only, HLMdiag is not in Debian). One-step measures hold θ̂ "
     "and σ̂ at the full fit. Its exact refits (hlm_influence(approx = FALSE), case_delete) "
     "are lmer(formula(m), data = m@frame[-i, ]): always REML and the default "
     "lmerControl() from lme4's default start (cold), whatever the model's method, while "
     "the 'original' β̂, vcov and variance components are the model's own (an ML model's "
     "RVC compares REML refits with the ML fit); interlace reproduces this with "
     "method='REML' and offers method='model'. Prior weights are ignored (residuals, "
     "leverage; the refits drop them) and no offset is applied. Defects documented, not "
     "reproduced: at a grouping-factor level its one-step values follow the order of first "
     "appearance but its leverage and refit values the factor-level order, all labelled "
     "in order of appearance (mislabelled when the orders differ: Orthodont); its rvc "
     "divides by position, so a deleted fit with a variance exactly 0 shifts the "
     "components (compared here by name: that RVC is −1); with one fixed effect its exact "
     "Cook's D and MDFFITS fail at level 1 (Pastes: reported as not compared); hlm_resid "
     "binds LS columns by numeric row name; no leverage, LS residuals or refits for "
     "crossed models (interlace gives them; leverage checked against a dense brute force)."),
    ("lme4 influence.merMod conventions (diagnostics, [lme4-influence] rows)", "lme4 "
     "1.1-31 refits each deletion with update(m, subset = ..., start = list(theta = θ̂), "
     "control = lmerControl(optCtrl = list(maxfun = 1000))): the model's own method (REML "
     "or ML) and control, warm-started at θ̂. cooks.distance = dfbetaᵀ vcov(β̂)⁻¹ dfbeta · "
     "(n − p)/(n·p) with n the number of deleted units (observations, or groups with "
     "groups =), not observations; dfbetas divide dfbeta by the deleted fit's standard "
     "errors (sqrt(diag(vcov[-i]))), not the full fit's; group units in order of first "
     "appearance. interlace's refits reach each deleted optimum (checked: never worse "
     "than lme4's deleted θ); lme4's stop where nloptwrap's tolerances stop them, bounded "
     "by R's measured reproducibility floor."),
]
