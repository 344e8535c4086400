# lmerTest's contest() (Satterthwaite): the reference for interlace.contest (issue 11).
# Usage: Rscript parity/r/contest_reference.R request.json out.json
# request: {data_dir, tests: [{id, dataset, formula, REML, L (rows), rhs, joint}]}.
# Per test: lmerTest's table (every column), with the model's fixef names, every double at
# 17 significant digits (io.R's write_json).
script_path <- normalizePath(sub("^--file=", "",
  grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(dirname(script_path), "catalog_data.R"))
ctx <- reference_request("contest_reference.R")
req <- ctx$req
suppressPackageStartupMessages(library(lmerTest))

run_test <- function(tst) {
  ds <- catalog_dataset(req$data_dir, tst$dataset)
  dat <- ds$data
  m <- suppressWarnings(suppressMessages(eval(call(
    "lmer", formula = str2lang(tst$formula), data = quote(dat), REML = isTRUE(tst$REML)))))
  L <- do.call(rbind, lapply(tst$L, unlist))
  tab <- contest(m, L, rhs = unlist(tst$rhs), joint = isTRUE(tst$joint))
  list(id = tst$id, fixef = I(names(fixef(m))), columns = I(colnames(tab)),
       table = lapply(as.list(tab), function(v) I(unname(v))), data_sha256 = ds$sha256)
}

write_json(list(
  provenance = reference_provenance(script_path, c("lme4", "lmerTest")),
  tests = lapply(req$tests, run_test)), ctx$out)
