# lmerTest's contest() (Satterthwaite): the reference for interlace.contest (issue 11).
# Usage: Rscript parity/r/contest_reference.R request.json out.json
# request: {data_dir, tests: [{id, dataset, formula, REML, L (rows), rhs, joint,
# check_estimability, exclude}]} (exclude as catalog_data.R's catalog_lmer).
# Per test: lmerTest's table (every column), with the model's fixef names, every double at
# 17 significant digits (io.R's write_json).
script_path <- normalizePath(sub("^--file=", "",
  grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(dirname(script_path), "catalog_data.R"))
ctx <- reference_request("contest_reference.R")
req <- ctx$req
suppressPackageStartupMessages(library(lmerTest))

run_test <- function(tst) {
  fit <- catalog_lmer(req$data_dir, tst, REML = isTRUE(tst$REML))
  m <- fit$m
  L <- do.call(rbind, lapply(tst$L, unlist))
  tab <- contest(m, L, rhs = unlist(tst$rhs), joint = isTRUE(tst$joint),
                 check_estimability = isTRUE(tst$check_estimability))
  list(id = tst$id, fixef = I(names(fixef(m))), theta = I(unname(getME(m, "theta"))),
       columns = I(colnames(tab)), table = lapply(as.list(tab), function(v) I(unname(v))),
       data_sha256 = fit$sha256)
}

write_json(list(
  provenance = reference_provenance(script_path, c("lme4", "lmerTest")),
  tests = lapply(req$tests, run_test)), ctx$out)
