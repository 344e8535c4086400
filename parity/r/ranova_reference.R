# lmerTest's ranova(): the reference for interlace.ranova (issue 11).
# Usage: Rscript parity/r/ranova_reference.R request.json out.json
# request: {data_dir, tests: [{id, dataset, formula, REML}]}. Per test: lmerTest's table
# (row names and every column), every double at 17 significant digits (io.R's write_json).
script_path <- normalizePath(sub("^--file=", "",
  grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(dirname(script_path), "catalog_data.R"))
ctx <- reference_request("ranova_reference.R")
suppressPackageStartupMessages(library(lmerTest))

one <- function(tst) {
  ds <- catalog_dataset(ctx$req$data_dir, tst$dataset)
  dat <- ds$data
  m <- suppressWarnings(suppressMessages(eval(call(
    "lmer", formula = str2lang(tst$formula), data = quote(dat), REML = isTRUE(tst$REML)))))
  tab <- suppressWarnings(suppressMessages(ranova(m)))
  list(id = tst$id, rows = I(rownames(tab)), columns = I(colnames(tab)),
       table = lapply(as.list(tab), function(v) I(unname(v))), data_sha256 = ds$sha256)
}

write_json(list(provenance = reference_provenance(script_path, c("lme4", "lmerTest")),
                tests = lapply(ctx$req$tests, one)), ctx$out)
