# Profile-likelihood confidence intervals of one catalog case, as lme4 computes them:
# confint(m, method = "profile") = confint.thpr(profile.merMod(m, signames = TRUE)).
# Usage: Rscript parity/r/profile_reference.R request.json out.json
# request.json: {id, dataset, formula, REML, data_csv, data_json, levels: [0.95, ...]}
# (written by parity/profile_fixtures.py). Data come only from our CSV + JSON sidecar,
# read exactly as parity/r/lmer_reference.R reads them.
#
# The fixture holds, besides the intervals, what lme4's profile rests on: the ML refit
# (devfun2 calls refitML, so REML fits are profiled on the ML deviance), its optimum on
# lme4's profile scale (sd, cor, sigma, beta), the base deviance, and the whole profile
# table (as.data.frame(profile(m)): .zeta and every parameter at every point) so a
# reimplementation can be checked point by point.

self <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
r_dir <- dirname(self)
source(file.path(r_dir, "io.R"))
suppressPackageStartupMessages(library(lme4))

args <- commandArgs(TRUE)
req <- jsonlite::fromJSON(args[1], simplifyVector = FALSE)

meta <- jsonlite::fromJSON(req$data_json, simplifyVector = FALSE)
data_sha <- sha256_file(req$data_csv)
if (!identical(data_sha, meta$csv_sha256)) stop("data CSV sha256 does not match its sidecar")
dat <- read_dataset(req$data_csv, meta)
REML <- isTRUE(req$REML)
levels <- if (is.null(req$levels)) 0.95 else as.numeric(unlist(req$levels))

capture <- function(expr) {
  w <- character(); msg <- character()
  value <- withCallingHandlers(expr,
    warning = function(c) { w <<- c(w, conditionMessage(c)); invokeRestart("muffleWarning") },
    message = function(c) { msg <<- c(msg, trimws(conditionMessage(c))); invokeRestart("muffleMessage") })
  list(value = value, warnings = I(w), messages = I(msg))
}

m <- capture(eval(call("lmer", formula = str2lang(req$formula), data = quote(dat),
                       REML = REML)))$value

# What profile.merMod rests on (lme4:::devfun2 refits by ML when the fit is REML).
dd <- suppressWarnings(suppressMessages(lme4:::devfun2(m, useSc = TRUE, signames = TRUE)))
opt <- attr(dd, "optimum")

# confint(m, method = "profile") exactly as the user calls it, timed.
t0 <- Sys.time()
direct <- capture(confint(m, method = "profile", level = levels[1], quiet = TRUE))
confint_seconds <- as.numeric(difftime(Sys.time(), t0, units = "secs"))

# The same profile, kept to write its table and to take other levels.
t0 <- Sys.time()
prof <- capture(profile(m, signames = TRUE))
profile_seconds <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
pp <- prof$value
ci_table <- function(ci) {
  lapply(setNames(rownames(ci), rownames(ci)), function(r) I(unname(ci[r, ])))
}
intervals <- lapply(levels, function(lv) {
  ci <- capture(confint(pp, level = lv))
  list(level = lv, columns = I(colnames(ci$value)), rows = I(rownames(ci$value)),
       ci = ci_table(ci$value), warnings = ci$warnings)
})
stopifnot(isTRUE(all.equal(direct$value, confint(pp, level = levels[1]), tolerance = 0)))

tab <- as.data.frame(pp)
tab$.par <- as.character(tab$.par)
profile_table <- lapply(tab, function(col) I(col))

pkgv <- function(p) as.character(packageVersion(p))
si <- sessionInfo()
out <- list(
  case = req$id,
  dataset = req$dataset,
  provenance = list(
    R = R.version.string, lme4 = pkgv("lme4"), Matrix = pkgv("Matrix"),
    nloptr = pkgv("nloptr"), minqa = pkgv("minqa"), splines = pkgv("splines"),
    data_sha256 = data_sha,
    script_sha256 = sha256_file(file.path(r_dir, "profile_reference.R")),
    io_sha256 = sha256_file(file.path(r_dir, "io.R")),
    date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
    platform = si$platform, BLAS = si$BLAS, LAPACK = si$LAPACK),
  call = list(formula = req$formula, REML = REML,
              confint = "confint(m, method = 'profile', level = level)",
              profile = "profile(m, signames = TRUE)"),
  fit = list(theta = getME(m, "theta"), optimizer = m@optinfo$optimizer,
             is_singular = isSingular(m)),
  ml = list(theta = attr(dd, "thopt"), optimum = opt, basedev = attr(dd, "basedev"),
            stderr = I(attr(dd, "stderr"))),
  intervals = intervals,
  confint_warnings = direct$warnings,
  profile_warnings = prof$warnings,
  profile_table = profile_table,
  profile_lower = attr(pp, "lower"),
  profile_upper = attr(pp, "upper"),
  timing = list(confint_seconds = confint_seconds, profile_seconds = profile_seconds))
write_json(out, args[2])
