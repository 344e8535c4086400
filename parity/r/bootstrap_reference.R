# lme4's parametric bootstrap: bootMer() replicates, confint(method = "boot") for boot.ci's
# three interval types, and correct REML refits: the reference for interlace's bootstrap
# (issue 11).
# Usage: Rscript parity/r/bootstrap_reference.R request.json out.json
# request: {data_dir, cases: [{id, dataset, formula, REML, nsim, seed, use_u}]}. Per case:
# lme4's theta; the simulated responses (simulate(m, nsim, seed, use.u)); bootMer(m, stat,
# nsim, seed, use.u) with stat = lme4's confint statistic (sd/cor, sigma, fixef) and the
# criterion (REMLcrit or deviance), refitted by lme4 1.1-31's refit() (whose REML criterion
# uses n - 1 for n - p); the same responses refitted correctly (lmer() from the fit's theta:
# what lme4 >= 1.1-33's refit() does); both again with a tight optimizer tolerance (R's own
# floor); confint(m, method = "boot", ...) for perc, basic and
# norm. And pbkrtest's PBmodcomp(large, small, nsim) after set.seed(seed) (pbkrtest 0.5.2
# ignores its own seed argument): request pbmodcomps: [{id, dataset, formula, small, REML,
# nsim, seed}]; its test, reference sample and summary table. And GLMM bootMer: request glmm:
# [{id, dataset, formula, family, link, weights, offset, nAGQ, nsim, seed}]. Doubles at 17
# significant digits (io.R's write_json).
script_path <- normalizePath(sub("^--file=", "",
  grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(dirname(script_path), "catalog_data.R"))
source(file.path(dirname(script_path), "glmer_reference.R"))  # glmer_call()
ctx <- reference_request("bootstrap_reference.R")
req <- ctx$req
suppressPackageStartupMessages({library(lme4); library(pbkrtest)})
RNGkind("Mersenne-Twister", "Inversion", "Rejection")

# lme4's confint(method = "boot") statistic (its internal bootFun), then the criterion
stat <- function(x) {
  ss <- lme4:::Cv_to_Sv(getME(x, "theta"), n = lengths(x@cnms), s = sigma(x))
  crit <- if (isREML(x)) REMLcrit(x) else deviance(x)
  c(ss, fixef(x), criterion = crit)
}
matrix_rows <- function(M) lapply(seq_len(nrow(M)), function(i) I(unname(M[i, ])))
tight <- lmerControl(optCtrl = list(ftol_abs = 1e-14, ftol_rel = 1e-15, xtol_abs = 1e-12,
                                    xtol_rel = 1e-12, maxeval = 100000))

run_case <- function(case) {
  fit <- catalog_lmer(req$data_dir, case, REML = isTRUE(case$REML))
  m <- fit$m
  dat <- environment(formula(m))$dat
  use_u <- isTRUE(case$use_u)
  sims <- simulate(m, nsim = case$nsim, seed = case$seed, use.u = use_u)
  bb <- suppressWarnings(suppressMessages(
    bootMer(m, stat, nsim = case$nsim, seed = case$seed, use.u = use_u)))
  refits <- function(control) t(vapply(sims, function(y) {
    d2 <- dat
    d2[[all.vars(formula(m))[1]]] <- y
    r <- suppressWarnings(suppressMessages(lmer(formula(m), data = d2, REML = isREML(m),
                                                start = getME(m, "theta"),
                                                control = control)))
    stat(r)
  }, numeric(length(bb$t0))))
  correct <- refits(lmerControl())
  # R's own floor: the same refits with a much tighter optimizer tolerance (and bootMer of
  # the fit refitted with it, whose refit() then uses that control)
  correct_tight <- refits(tight)
  m_tight <- suppressWarnings(suppressMessages(update(m, control = tight)))
  bb_tight <- suppressWarnings(suppressMessages(
    bootMer(m_tight, stat, nsim = case$nsim, seed = case$seed, use.u = use_u)))
  cis <- lapply(c(perc = "perc", basic = "basic", norm = "norm"), function(type) {
    ci <- suppressWarnings(suppressMessages(confint(m, method = "boot", nsim = case$nsim,
                                                    seed = case$seed, boot.type = type,
                                                    use.u = use_u)))
    list(rows = I(rownames(ci)), columns = I(colnames(ci)), values = matrix_rows(ci))
  })
  list(id = case$id, theta = I(unname(getME(m, "theta"))), sigma = sigma(m),
       stat_names = I(names(bb$t0)), t0 = I(unname(bb$t0)), t = matrix_rows(bb$t),
       t_correct = matrix_rows(correct), t_tight = matrix_rows(bb_tight$t),
       t_correct_tight = matrix_rows(correct_tight), sims = lapply(sims, function(col) I(unname(col))),
       confint = cis, data_sha256 = fit$sha256)
}

# GLMM bootMer: lme4's confint statistic of a glmerMod (sd/cor of T T', sigma only with a
# dispersion) and the deviance; R's floor from the fit refitted with a tight Nelder-Mead
glmm_stat <- function(x) {
  use_sc <- as.logical(x@devcomp$dims[["useSc"]])
  ss <- lme4:::Cv_to_Sv(getME(x, "theta"), n = lengths(x@cnms))
  c(ss, if (use_sc) sigma(x), fixef(x), criterion = -2 * c(logLik(x)))
}
tight_glmm <- glmerControl(optCtrl = list(FtolAbs = 1e-12, FtolRel = 1e-15, XtolRel = 1e-10,
                                          maxfun = 100000))
# lme4 1.1-31's refit() of a glmerMod does not always refit the new response's own
# likelihood (lme4 GH #316: refit and update disagree; on grouseticks_sqrt a replicate's
# refit reports -2 logLik 1747.2 with lme4's convergence warnings where a fresh glmer of the
# same response reaches 1798.0), so the GLMM reference replicates are fresh glmer fits of
# each simulated response from the fit's (theta, fixef), as bootMer's refits are meant to
# be; bootMer's own are kept (t_bootmer) to show the difference.
run_glmm_boot <- function(case) {
  ds <- catalog_dataset(req$data_dir, case$dataset)
  dat <- ds$data
  fam <- do.call(case$family, list(link = case$link))
  m <- suppressWarnings(suppressMessages(eval(glmer_call(case, quote(dat)))))
  sims <- suppressWarnings(suppressMessages(simulate(m, nsim = case$nsim, seed = case$seed)))
  yname <- all.vars(formula(m)[[2]])[1]
  refits <- function(control) t(vapply(sims, function(y) {
    dat[[yname]] <- if (is.matrix(y)) y[, 1] else y
    cl <- glmer_call(case, quote(dat))
    cl$start <- list(theta = getME(m, "theta"), fixef = fixef(m))
    cl$control <- control
    glmm_stat(suppressWarnings(suppressMessages(eval(cl))))
  }, numeric(length(glmm_stat(m)))))
  bb <- suppressWarnings(suppressMessages(bootMer(m, glmm_stat, nsim = case$nsim,
                                                  seed = case$seed)))
  list(id = case$id, theta = I(unname(getME(m, "theta"))), fixef = I(unname(fixef(m))),
       stat_names = I(names(glmm_stat(m))), t = matrix_rows(refits(glmerControl())),
       t_tight = matrix_rows(refits(tight_glmm)), t_bootmer = matrix_rows(bb$t),
       data_sha256 = ds$sha256)
}

table_rows <- function(tab) list(rows = I(rownames(tab)), columns = I(colnames(tab)),
                                 values = lapply(as.list(tab), function(v) I(unname(v))))

run_pb <- function(case) {
  fit <- catalog_lmer(req$data_dir, case, REML = isTRUE(case$REML))
  m <- fit$m
  m0 <- suppressWarnings(suppressMessages(update(m, as.formula(case$small))))
  set.seed(case$seed)
  pb <- suppressWarnings(suppressMessages(PBmodcomp(m, m0, nsim = case$nsim)))
  list(id = case$id, test = table_rows(pb$test), ref = I(unname(pb$ref)),
       summary = table_rows(summary(pb)$test), data_sha256 = fit$sha256)
}

write_json(list(
  provenance = reference_provenance(script_path, c("lme4", "Matrix", "boot", "pbkrtest"),
                                    RNGkind = I(RNGkind())),
  cases = lapply(req$cases, run_case),
  pbmodcomps = lapply(req$pbmodcomps, run_pb),
  glmm = lapply(req$glmm, run_glmm_boot)), ctx$out)
