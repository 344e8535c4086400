# Time lme4::lmer and lme4::glmer on catalog cases, for `nox -s bench` (the whole lmer() or
# glmer() call, data loaded).
# Each sample is the mean of a batch of fits lasting >= 0.2 s; the median over samples is
# reported.
# Usage: Rscript parity/r/bench.R request.json out.json
# request: list of {id, formula, REML, weights|null, data_csv, data_json, reps}; GLMM cases
# add kind = "glmm", family, link, nAGQ, offset|null (and no REML).
self <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(dirname(self), "io.R"))
source(file.path(dirname(self), "glmer_reference.R"))  # glmer_call()
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(TRUE)
req <- jsonlite::fromJSON(args[1], simplifyVector = FALSE)
out <- lapply(req, function(case) {
  d <- read_dataset(case$data_csv, jsonlite::fromJSON(case$data_json, simplifyVector = FALSE))
  f <- as.formula(case$formula)
  run <- if (identical(case$kind, "glmm")) {
    fam <- do.call(case$family, list(link = case$link))
    cl <- glmer_call(case, quote(d))
    function() suppressMessages(suppressWarnings(eval(cl)))
  } else if (is.null(case$weights)) {
    function() suppressMessages(suppressWarnings(lmer(f, data = d, REML = case$REML)))
  } else {
    d$.w <- d[[case$weights]]
    function() suppressMessages(suppressWarnings(lmer(f, data = d, REML = case$REML,
                                                      weights = .w)))
  }
  # proc.time() ticks in milliseconds: time batches of `inner` fits lasting >= 0.2 s each
  t0 <- proc.time()[["elapsed"]]
  invisible(run())
  one <- max(proc.time()[["elapsed"]] - t0, 1e-3)
  inner <- max(1L, as.integer(ceiling(0.2 / one)))
  times <- vapply(seq_len(case$reps), function(i) {
    t0 <- proc.time()[["elapsed"]]
    for (k in seq_len(inner)) invisible(run())
    (proc.time()[["elapsed"]] - t0) / inner
  }, 0)
  list(id = case$id, median_seconds = median(times), reps = case$reps, inner = inner,
       times = I(times))
})
write_json(list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                cases = out), args[2])
