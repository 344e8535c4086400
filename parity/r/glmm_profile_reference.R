# lme4's profile-likelihood confidence intervals of GLMM catalog cases: confint(m), whose
# default for a glmerMod is method = "profile" = confint.thpr(profile.merMod(m)).
# Usage: Rscript parity/r/glmm_profile_reference.R request.json out.json
# request: {data_dir, levels: [0.95, ...], cases: [{id, dataset, formula, family, link,
# weights|null, offset|null, nAGQ, which|null}]} (written by parity/glmm_profile_fixtures.py;
# which: the parameters to profile, default all).
#
# Per case, besides the intervals, what the profile rests on, so that a reimplementation
# can be checked point by point: the fit's theta, fixef and -2 logLik (profile's base
# deviance), the optimum on the profile scale (sd/cor, fixef), the profile's own deviance
# function (getME(m, "devfun")): its PIRLS start lp0 and its value at the optimum, and the
# whole profile table (as.data.frame(profile(m))). A case lme4 refuses to profile (nAGQ = 0,
# a family with a dispersion) records lme4's error instead. Doubles at 17 significant
# digits (io.R's write_json), with versions.
script_path <- normalizePath(sub("^--file=", "",
  grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(dirname(script_path), "catalog_data.R"))
source(file.path(dirname(script_path), "glmer_reference.R"))  # glmer_call()
ctx <- reference_request("glmm_profile_reference.R")
req <- ctx$req
suppressPackageStartupMessages(library(lme4))
levels <- as.numeric(unlist(req$levels))

capture <- function(expr) {
  w <- character()
  value <- withCallingHandlers(expr,
    warning = function(c) { w <<- c(w, conditionMessage(c)); invokeRestart("muffleWarning") },
    message = function(c) invokeRestart("muffleMessage"))
  list(value = value, warnings = I(w))
}

ci_rows <- function(ci) lapply(setNames(rownames(ci), rownames(ci)), function(r) I(unname(ci[r, ])))

# A fresh fit of a case. Each profile needs its own: lme4's C++ response module writes the
# offsets it is given into the memory of the model frame's offset column (a mapped vector),
# so after one profile of a model with an offset, the fit's frame holds baseOffset + X beta
# of the last evaluation and a second profile of the same fit starts from a wrong offset
# (it then stops: "not numerically consistent"). The first profile of a fit is lme4's.
fresh_fit <- function(case, dat) {
  fam <- do.call(case$family, list(link = case$link))
  suppressWarnings(suppressMessages(eval(glmer_call(case, quote(dat)))))
}

run_case <- function(case) {
  ds <- catalog_dataset(req$data_dir, case$dataset)
  dat <- ds$data
  m <- fresh_fit(case, dat)
  which <- if (is.null(case$which)) NULL else unlist(case$which)
  out <- list(id = case$id, data_sha256 = ds$sha256, which = if (is.null(which)) NULL else I(which),
              fit = list(theta = I(unname(getME(m, "theta"))), fixef = as.list(fixef(m)),
                         minus2logLik = -2 * c(logLik(m)), nAGQ = case$nAGQ))
  # confint(m, parm, level) is confint(profile(m, which = parm, signames = TRUE), level)
  # (lme4's confint.merMod); the profile is kept to write its table and take each level.
  pp <- tryCatch(capture(profile(m, which = which, signames = TRUE)), error = function(e) e)
  if (inherits(pp, "error")) {
    out$error <- conditionMessage(pp)
    return(out)
  }
  prof <- pp$value
  # What the profile rests on, from another fresh fit: its scale and base deviance
  # (devfun2), and its deviance function's PIRLS start lp0 and value at the optimum.
  m2 <- fresh_fit(case, dat)
  dd <- lme4:::devfun2(m2, useSc = FALSE, signames = TRUE)
  opt <- attr(dd, "optimum")
  out$optimum <- as.list(opt)
  out$base <- attr(dd, "basedev")
  out$devfun_lp0 <- I(unname(environment(getME(fresh_fit(case, dat), "devfun"))$lp0))
  out$devfun_at_optimum <- unname(dd(opt))
  out$intervals <- lapply(levels, function(lv) {
    ci <- capture(confint(prof, level = lv))
    list(level = lv, columns = I(colnames(ci$value)), rows = I(rownames(ci$value)),
         ci = ci_rows(ci$value), warnings = ci$warnings)
  })
  out$profile_warnings <- pp$warnings
  tab <- as.data.frame(prof)
  tab$.par <- as.character(tab$.par)
  out$profile_table <- lapply(tab, function(col) I(col))
  out$profile_lower <- I(unname(attr(prof, "lower")))
  out$profile_upper <- I(unname(attr(prof, "upper")))
  out
}

write_json(list(
  provenance = reference_provenance(script_path, c("lme4", "Matrix", "splines"),
                                    call = "confint(profile(m, which, signames = TRUE), level)"),
  levels = I(levels),
  cases = lapply(req$cases, run_case)), ctx$out)
