# lmerTest 3.1-3's ls_means() and difflsmeans() (Satterthwaite and Kenward-Roger), with their
# contrasts (show_tests): the reference for interlace's ls_means/difflsmeans (issue 11).
# Usage: Rscript parity/r/ls_means_reference.R request.json out.json
# request: {data_dir, models: [{id, dataset, formula, exclude: {column: value, ...}}]};
# `exclude` drops the rows matching every pair (a missing cell). Per model (REML): lme4's
# theta and fixef names, and each table with its contrasts; doubles at 17 significant
# digits (io.R's write_json).
script_path <- normalizePath(sub("^--file=", "",
  grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(dirname(script_path), "catalog_data.R"))
ctx <- reference_request("ls_means_reference.R")
req <- ctx$req
suppressPackageStartupMessages({library(lmerTest); library(pbkrtest)})

lsm_list <- function(tab) {
  df <- as.data.frame(tab, add_levels = FALSE)
  hyp <- attr(tab, "hypotheses")
  list(rows = I(rownames(df)), columns = I(colnames(df)),
       values = lapply(as.list(df), function(v) I(unname(v))),
       hypotheses = lapply(hyp, function(L) list(
         rows = I(rownames(L)), columns = I(colnames(L)),
         values = lapply(seq_len(nrow(L)), function(i) I(unname(L[i, ]))))))
}

run_model <- function(spec) {
  fit <- catalog_lmer(req$data_dir, spec)
  m <- fit$m
  out <- list(id = spec$id, theta = I(unname(getME(m, "theta"))),
              fixef_names = I(names(fixef(m))), data_sha256 = fit$sha256)
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    key <- if (ddf == "Satterthwaite") "satterthwaite" else "kenward_roger"
    out[[key]] <- list(ls_means = lsm_list(ls_means(m, ddf = ddf)),
                       difflsmeans = lsm_list(difflsmeans(m, ddf = ddf)))
  }
  out
}

write_json(list(
  provenance = reference_provenance(script_path, c("lme4", "lmerTest", "pbkrtest")),
  models = lapply(req$models, run_model)), ctx$out)
