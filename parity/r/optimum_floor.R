# lme4's own floor at the optimum of one catalog case: the same model refitted on row
# permutations of the same data (a mathematically identical problem whose sums round
# differently). Where lme4's optimizer stops short on a flat surface, its criterion moves
# between permutations; that spread is the tolerance of the case's one-sided objective.
# Usage: Rscript parity/r/optimum_floor.R request.json out.json
# request: lmer_reference's request plus {seed, permutations}.
self <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
r_dir <- dirname(self)
source(file.path(r_dir, "io.R"))
suppressPackageStartupMessages(library(lme4))

optimum_floor <- function(req) {
  meta <- jsonlite::fromJSON(req$data_json, simplifyVector = FALSE)
  data_sha <- sha256_file(req$data_csv)
  if (!identical(data_sha, meta$csv_sha256)) stop("data CSV sha256 does not match its sidecar")
  dat <- read_dataset(req$data_csv, meta)
  REML <- isTRUE(req$REML)
  fit <- function(d) {
    cl <- call("lmer", formula = str2lang(req$formula), data = quote(d), REML = REML,
               control = quote(lmerControl()))
    if (!is.null(req$weights)) cl$weights <- as.name(req$weights)
    m <- suppressWarnings(suppressMessages(eval(cl)))
    cmp <- getME(m, "devcomp")$cmp
    list(objective = unname(if (REML) cmp[["REML"]] else cmp[["dev"]]),
         feval = m@optinfo$feval, theta = I(unname(getME(m, "theta"))))
  }
  base <- fit(dat)
  set.seed(req$seed)
  perms <- lapply(seq_len(req$permutations), function(i) {
    p <- sample(nrow(dat))
    c(fit(dat[p, , drop = FALSE]), list(permutation_sha256 = digest::digest(p, "sha256")))
  })
  pkgv <- function(p) as.character(packageVersion(p))
  list(case = req$id, criterion = if (REML) "REML" else "deviance", seed = req$seed,
       RNG = I(RNGkind()), base = base, permuted = perms,
       provenance = list(R = R.version.string, lme4 = pkgv("lme4"), Matrix = pkgv("Matrix"),
                         nloptr = pkgv("nloptr"), data_sha256 = data_sha,
                         script_sha256 = sha256_file(self),
                         io_sha256 = sha256_file(file.path(r_dir, "io.R")),
                         date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")))
}

args <- commandArgs(TRUE)
req <- jsonlite::fromJSON(args[1], simplifyVector = FALSE)
write_json(optimum_floor(req), args[2])
