# Time lmerTest's Kenward-Roger summary and lme4's bootMer for `nox -s bench` (models fitted
# first, outside the timings), as parity/bench_inference.py times interlace's.
# Usage: Rscript parity/r/bench_inference.R request.json out.json
# request: {data_dir, kr: {dataset, formula, reps}, boot: {dataset, formula, nsim, seed, reps}}
self <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(dirname(self), "catalog_data.R"))
ctx <- reference_request("bench_inference.R")
req <- ctx$req
suppressPackageStartupMessages({library(lmerTest); library(pbkrtest)})
elapsed <- function(f, reps) vapply(seq_len(reps), function(i) {
  t0 <- proc.time()[["elapsed"]]
  invisible(f())
  proc.time()[["elapsed"]] - t0
}, 0)
kr <- catalog_lmer(req$data_dir, req$kr)$m
kr_times <- elapsed(function() summary(kr, ddf = "Kenward-Roger"), req$kr$reps)
bm <- lme4::lmer(as.formula(req$boot$formula),
                 data = catalog_dataset(req$data_dir, req$boot$dataset)$data)
boot_times <- elapsed(function() suppressWarnings(suppressMessages(
  lme4::bootMer(bm, lme4::fixef, nsim = req$boot$nsim, seed = req$boot$seed))), req$boot$reps)
write_json(list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                lmerTest = as.character(packageVersion("lmerTest")),
                pbkrtest = as.character(packageVersion("pbkrtest")),
                kr_seconds = I(kr_times), boot_seconds = I(boot_times)), ctx$out)
