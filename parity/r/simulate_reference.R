# lme4's simulate() of LMM catalog cases after set.seed(): the reference for interlace's
# simulate(nsim, seed) with an integer seed (issue 11).
# Usage: Rscript parity/r/simulate_reference.R request.json out.json
# request: {data_dir, cases: [{id, dataset, formula, REML, weights|null, nsim, seed}]}.
# Per case: lme4's theta, fixef, sigma and simulate(m, nsim, seed) (use.u = FALSE), every
# double at 17 significant digits (io.R's write_json), with versions.
# glmm_cases: [{id, dataset, formula, family, link, weights|null, offset|null, nAGQ, nsim,
# seed}] are glmer fits (glmer_reference.R's glmer_call); each simulated response is
# stored as glmer reads it: the proportion of successes (a cbind matrix's first column over
# its row total, a factor's indicator of its second level).
script_path <- normalizePath(sub("^--file=", "",
  grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(dirname(script_path), "catalog_data.R"))
source(file.path(dirname(script_path), "glmer_reference.R"))  # glmer_call()
ctx <- reference_request("simulate_reference.R")
req <- ctx$req
suppressPackageStartupMessages(library(lme4))
RNGkind("Mersenne-Twister", "Inversion", "Rejection")

run_case <- function(case) {
  ds <- catalog_dataset(req$data_dir, case$dataset)
  dat <- ds$data
  cl <- call("lmer", formula = str2lang(case$formula), data = quote(dat),
             REML = isTRUE(case$REML))
  if (!is.null(case$weights)) cl$weights <- as.name(case$weights)
  m <- suppressWarnings(suppressMessages(eval(cl)))
  sims <- simulate(m, nsim = case$nsim, seed = case$seed)
  list(id = case$id, seed = case$seed, nsim = case$nsim,
       theta = as.list(getME(m, "theta")), fixef = as.list(fixef(m)), sigma = sigma(m),
       data_sha256 = ds$sha256,
       sims = lapply(sims, function(col) I(unname(col))))
}

as_proportion <- function(s) {
  if (is.matrix(s)) return(ifelse(rowSums(s) == 0, 0, s[, 1] / rowSums(s)))
  if (is.factor(s)) return(as.numeric(s != levels(s)[1]))
  as.numeric(s)
}

run_glmm <- function(case) {
  ds <- catalog_dataset(req$data_dir, case$dataset)
  dat <- ds$data
  fam <- do.call(case$family, list(link = case$link))
  m <- suppressWarnings(suppressMessages(eval(glmer_call(case, quote(dat)))))
  sims <- suppressWarnings(suppressMessages(simulate(m, nsim = case$nsim, seed = case$seed)))
  list(id = case$id, seed = case$seed, nsim = case$nsim, theta = I(unname(getME(m, "theta"))),
       fixef = I(unname(fixef(m))), sigma = sigma(m), data_sha256 = ds$sha256,
       sims = lapply(sims, function(col) I(unname(as_proportion(col)))))
}

write_json(list(
  provenance = reference_provenance(script_path, c("lme4", "Matrix"), RNGkind = I(RNGkind())),
  cases = lapply(req$cases, run_case),
  glmm_cases = lapply(req$glmm_cases, run_glmm)), ctx$out)
