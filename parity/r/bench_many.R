# Time R's loops over many responses of one design, for `nox -s bench` (parity/bench_many.py
# times interlace.fit_many on the same responses):
#   lme4:     lme4::lmer(y ~ ..., d) per response (β̂, SEs; no df, no p);
#   lmerTest: lmerTest::lmer(...) and coef(summary(m)) per response (Satterthwaite df and p:
#             the table fit_many returns);
#   refit:    lme4::refit(m, y) per response (lme4's reuse of the model matrices).
# Each loop runs over the first `n` responses once; the seconds per response are reported.
# Usage: Rscript parity/r/bench_many.R request.json out.json
# request: {data_dir, dataset, formula (one-sided), responses_csv, n: {lme4, lmerTest, refit}}
self <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(dirname(self), "catalog_data.R"))
ctx <- reference_request("bench_many.R")
req <- ctx$req
suppressPackageStartupMessages(library(lmerTest))
d <- catalog_dataset(req$data_dir, req$dataset)$data
Y <- read.csv(req$responses_csv, check.names = FALSE)
f <- as.formula(paste(".y", req$formula))
loop <- function(n, one) {
  t0 <- proc.time()[["elapsed"]]
  for (j in seq_len(n)) {
    d$.y <- Y[[j]]
    suppressWarnings(suppressMessages(one(d)))
  }
  (proc.time()[["elapsed"]] - t0) / n
}
m0 <- { d$.y <- Y[[1]]; lme4::lmer(f, data = d) }
res <- list(
  lme4 = loop(req$n$lme4, function(d) lme4::lmer(f, data = d)),
  lmerTest = loop(req$n$lmerTest, function(d) coef(summary(lmerTest::lmer(f, data = d)))),
  refit = loop(req$n$refit, function(d) lme4::refit(m0, d$.y)))
write_json(list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                lmerTest = as.character(packageVersion("lmerTest")), n = req$n,
                seconds_per_response = res), ctx$out)
