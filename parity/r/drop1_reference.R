# lmerTest 3.1-3's drop1(m, ddf) (Satterthwaite and Kenward-Roger, with and without
# force_get_contrasts, and show_tests) and lme4's drop1 (ddf = "lme4"): the reference for
# interlace.drop1 (issue 11).
# Usage: Rscript parity/r/drop1_reference.R request.json out.json
# request: {data_dir, models: [{id, dataset, formula}]}. Per model (REML): lme4's theta,
# fixef names and the tables; doubles at 17 significant digits (io.R's write_json).
script_path <- normalizePath(sub("^--file=", "",
  grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(dirname(script_path), "catalog_data.R"))
ctx <- reference_request("drop1_reference.R")
req <- ctx$req
suppressPackageStartupMessages({library(lmerTest); library(pbkrtest)})

drop1_list <- function(tab) {
  df <- as.data.frame(tab)
  hyp <- attr(tab, "hypotheses")
  out <- list(rows = I(rownames(df)), columns = I(colnames(df)),
              values = lapply(as.list(df), function(v) I(unname(v))))
  if (!is.null(hyp)) out$hypotheses <- lapply(hyp, function(L) {
    L <- if (is.matrix(L)) L else matrix(L, nrow = 1)
    lapply(seq_len(nrow(L)), function(i) I(unname(L[i, ])))
  })
  out
}

run_model <- function(spec) {
  fit <- catalog_lmer(req$data_dir, spec)
  m <- fit$m
  q <- function(expr) suppressWarnings(suppressMessages(expr))
  list(id = spec$id, theta = I(unname(getME(m, "theta"))), fixef_names = I(names(fixef(m))),
       satterthwaite = drop1_list(q(drop1(m))),
       satterthwaite_forced = drop1_list(q(drop1(m, force_get_contrasts = TRUE))),
       kenward_roger = drop1_list(q(drop1(m, ddf = "Kenward-Roger"))),
       kenward_roger_forced = drop1_list(q(drop1(m, ddf = "Kenward-Roger",
                                                 force_get_contrasts = TRUE))),
       lme4 = drop1_list(q(drop1(m, ddf = "lme4"))), data_sha256 = fit$sha256)
}

write_json(list(
  provenance = reference_provenance(script_path, c("lme4", "lmerTest", "pbkrtest")),
  models = lapply(req$models, run_model)), ctx$out)
