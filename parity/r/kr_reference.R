# pbkrtest's Kenward-Roger (vcovAdj, Lb_ddf, KRmodcomp) and SATmodcomp, and lmerTest's ddf = "Kenward-Roger"
# (summary coefficients and text, contest): the reference for interlace's KR (issue 11).
# Usage: Rscript parity/r/kr_reference.R request.json out.json
# request: {data_dir, models: [{id, dataset, formula}], contests: [{id, model, L, rhs, joint}],
#           modcomps: [{id, model, small (a formula) | L (rows), betaH}]}.
# Per model (REML): lme4's theta, sigma, fixef and vcov, pbkrtest's vcovAdj with its W and
# condi, lmerTest's KR coefficient table, and the printed summaries for ddf = "Kenward-Roger"
# and "lme4". Every double at 17 significant digits (io.R's write_json).
script_path <- normalizePath(sub("^--file=", "",
  grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(dirname(script_path), "catalog_data.R"))
ctx <- reference_request("kr_reference.R")
req <- ctx$req
suppressPackageStartupMessages({library(lmerTest); library(pbkrtest)})

models <- list()
for (spec in req$models) models[[spec$id]] <- catalog_lmer(req$data_dir, spec)

table_list <- function(tab) lapply(as.list(as.data.frame(tab)), function(v) I(unname(v)))

run_model <- function(spec) {
  m <- models[[spec$id]]$m
  A <- vcovAdj(m)
  coefs <- summary(m, ddf = "Kenward-Roger")$coefficients
  list(id = spec$id, fixef_names = I(names(fixef(m))), theta = I(unname(getME(m, "theta"))),
       sigma = sigma(m), fixef = I(unname(fixef(m))),
       vcov = lapply(seq_len(nrow(vcov(m))), function(i) I(unname(as.matrix(vcov(m))[i, ]))),
       vcov_adj = lapply(seq_len(nrow(A)), function(i) I(unname(as.matrix(A)[i, ]))),
       W = lapply(seq_len(nrow(attr(A, "W"))),
                  function(i) I(unname(as.matrix(attr(A, "W"))[i, ]))),
       condi = attr(A, "condi"),
       coef_columns = I(colnames(coefs)), coefficients = table_list(coefs),
       summary_kr = I(capture.output(print(summary(m, ddf = "Kenward-Roger")))),
       summary_lme4 = I(capture.output(print(summary(m, ddf = "lme4")))),
       data_sha256 = models[[spec$id]]$sha256)
}

run_contest <- function(tst) {
  m <- models[[tst$model]]$m
  L <- do.call(rbind, lapply(tst$L, unlist))
  tab <- contest(m, L, rhs = unlist(tst$rhs), joint = isTRUE(tst$joint),
                 ddf = "Kenward-Roger")
  list(id = tst$id, columns = I(colnames(tab)), table = table_list(tab))
}

run_modcomp <- function(tst) {
  m <- models[[tst$model]]$m
  small <- if (!is.null(tst$small)) as.formula(tst$small) else
    do.call(rbind, lapply(tst$L, unlist))
  betaH <- if (is.null(tst$betaH)) 0 else unlist(tst$betaH)
  kr <- KRmodcomp(m, small, betaH = betaH)
  test <- kr$test
  out <- list(id = tst$id, rows = I(rownames(test)), columns = I(colnames(test)),
              test = table_list(test), aux = as.list(kr$aux),
              L = lapply(seq_len(nrow(kr$L)), function(i) I(unname(as.matrix(kr$L)[i, ]))))
  if (is.null(tst$betaH)) {  # SATmodcomp has no betaH
    # SATmodcomp refits the large model by update(REML = TRUE) from inside pbkrtest, where
    # lme4's update does not find the fit's data in the formula's environment: the data is
    # made visible from the global environment (the same data frame)
    assign("dat", environment(formula(m))$dat, envir = globalenv())
    sat <- suppressWarnings(SATmodcomp(m, small))
    out$sat <- list(columns = I(colnames(sat$test)), test = table_list(sat$test),
                    sigma = sat$sigma)
  }
  out
}

write_json(list(
  provenance = reference_provenance(script_path, c("lme4", "lmerTest", "pbkrtest", "Matrix")),
  models = lapply(req$models, run_model),
  contests = lapply(req$contests, run_contest),
  modcomps = lapply(req$modcomps, run_modcomp)), ctx$out)
