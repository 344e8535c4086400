# lmerTest 3.1-3's anova(m, type, ddf) of one model, with its hypothesis matrices
# (show_tests), and lme4's anova(m): the reference for interlace.anova(res, type=, ddf=)
# (issue 11).
# Usage: Rscript parity/r/lmertest_anova_reference.R request.json out.json
# request: {data_dir, models: [{id, dataset, formula}]}. Per model (REML): lme4's theta,
# fixef names, and for types 1-3 (and lmerTest's other types "2b", "marginal", "yates") the
# Satterthwaite and Kenward-Roger tables and hypotheses,
# and lme4's table; every double at 17 significant digits (io.R's write_json).
script_path <- normalizePath(sub("^--file=", "",
  grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(dirname(script_path), "catalog_data.R"))
ctx <- reference_request("lmertest_anova_reference.R")
req <- ctx$req
suppressPackageStartupMessages({library(lmerTest); library(pbkrtest)})

table_list <- function(tab) {
  df <- as.data.frame(tab)
  list(rows = I(rownames(df)), columns = I(colnames(df)),
       values = lapply(as.list(df), function(v) I(unname(v))),
       heading = I(attr(tab, "heading")))
}
matrix_rows <- function(L) lapply(seq_len(nrow(L)), function(i) I(unname(L[i, ])))

run_model <- function(spec) {
  fit <- catalog_lmer(req$data_dir, spec)
  m <- fit$m
  types <- lapply(c("1", "2", "3", "2b", "marginal", "yates"), function(type) tryCatch({
    sat <- suppressWarnings(suppressMessages(anova(m, type = type)))
    kr <- suppressWarnings(suppressMessages(anova(m, type = type, ddf = "Kenward-Roger")))
    hyp <- attr(sat, "hypotheses")
    list(type = type, satterthwaite = table_list(sat), kenward_roger = table_list(kr),
         hypotheses = lapply(hyp, matrix_rows), hypothesis_terms = I(names(hyp)))
  }, error = function(e) list(type = type, error = conditionMessage(e))))  # lmerTest fails
  list(id = spec$id, theta = I(unname(getME(m, "theta"))), fixef_names = I(names(fixef(m))),
       types = types, lme4 = table_list(anova(m, ddf = "lme4")), data_sha256 = fit$sha256)
}

write_json(list(
  provenance = reference_provenance(script_path, c("lme4", "lmerTest", "pbkrtest", "Matrix")),
  models = lapply(req$models, run_model)), ctx$out)
