# lme4's own floors at the optimum: the same model refitted on seeded row permutations of the
# same data. Sourced (after io.R, lmer_reference.R and glmer_reference.R) by
# optimum_floor.R and glmer_floor.R (the catalog's floors) and by export_fit.R (a user's).
#
# lmer_floor(req, r_dir):
# lme4's own floor at the optimum of one catalog case: the same model refitted on row
# permutations of the same data (a mathematically identical problem whose sums round
# differently). Where lme4's optimizer stops short on a flat surface, its criterion moves
# between permutations; that spread is the tolerance of the case's one-sided objective.
#
# glmer_floor(req, r_dir):
# lme4::glmer's own floor at the optimum of one GLMM catalog case: the same model refitted
# on row permutations of the same data (a mathematically identical problem whose sums
# round differently). glmer's stage-1 BOBYQA stops within rhoend (1e-6 of its start radius)
# and its stage-2 Nelder-Mead within xt (1e-5 on theta), so the last bits of the deviance
# move the optimum by up to those amounts; this measures how far, quantity by quantity,
# and how far the Hessian-based standard errors move at one fixed point (the stored fit's)
# when only the rounding of the deviance changes.
# Each takes its reference's request plus {seed, permutations}.

# A permutation's SHA-256 (of R's serialization; NA where the digest package is missing).
permutation_sha <- function(p) {
  if (requireNamespace("digest", quietly = TRUE)) digest::digest(p, "sha256") else NA_character_
}

lmer_floor <- function(req, r_dir) {
  ds <- request_dataset(req)
  dat <- ds$data
  data_sha <- ds$sha256
  REML <- isTRUE(req$REML)
  ctrl <- if (is.null(req$r_optimizer)) lmerControl() else lmerControl(optimizer = req$r_optimizer)
  op <- request_contrast_options(req)
  on.exit(options(op), add = TRUE)
  fit <- function(d) {
    m <- suppressWarnings(suppressMessages(eval(lmer_call(req, quote(d), REML))))
    cmp <- getME(m, "devcomp")$cmp
    list(objective = unname(if (REML) cmp[["REML"]] else cmp[["dev"]]),
         feval = m@optinfo$feval, theta = I(unname(getME(m, "theta"))))
  }
  base <- fit(dat)
  set.seed(req$seed)
  perms <- lapply(seq_len(req$permutations), function(i) {
    p <- sample(nrow(dat))
    c(fit(dat[p, , drop = FALSE]), list(permutation_sha256 = permutation_sha(p)))
  })
  pkgv <- function(p) as.character(packageVersion(p))
  list(case = req$id, criterion = if (REML) "REML" else "deviance", seed = req$seed,
       RNG = I(RNGkind()), base = base, permuted = perms,
       provenance = list(R = R.version.string, lme4 = pkgv("lme4"), Matrix = pkgv("Matrix"),
                         nloptr = pkgv("nloptr"), data_sha256 = data_sha,
                         script_sha256 = sha256_file(file.path(r_dir, "floors.R")),
                         io_sha256 = sha256_file(file.path(r_dir, "io.R")),
                         date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")))
}

glmer_floor <- function(req, r_dir) {
  ds <- request_dataset(req)
  dat <- ds$data
  data_sha <- ds$sha256
  fam <- do.call(req$family, list(link = req$link))
  nAGQ <- as.integer(req$nAGQ)
  op <- request_contrast_options(req)
  on.exit(options(op), add = TRUE)
  fit <- function(d, dev_only = FALSE) {
    suppressWarnings(suppressMessages(eval(glmer_call(req, quote(d), nAGQ, dev_only))))
  }
  # the Hessian-based standard errors lme4's vcov() gives (deriv12, step 1e-4; 2*H^-1 on
  # beta, symmetrised as calc.vcov.hess does), at a given point, from data d's devfun
  hessian_se <- function(d, par, k) {
    if (nAGQ == 0) return(NULL)
    H <- lme4:::deriv12(fit(d, dev_only = TRUE), par)$Hessian
    V <- tryCatch(solve(H), error = function(e) NULL)
    if (is.null(V)) return(NULL)
    V <- V[-seq_len(k), -seq_len(k), drop = FALSE]
    sqrt(diag(V + t(V)))
  }
  se_of <- function(m) {
    v <- tryCatch(as.matrix(vcov(m)), error = function(e) NULL)
    if (is.null(v)) NULL else setNames(sqrt(diag(v)), colnames(v))
  }
  key_ranef <- function(m) {
    re <- as.data.frame(ranef(m, condVar = TRUE))
    k <- paste(re$grpvar, re$term, re$grp, sep = "\r")
    list(condval = setNames(re$condval, k), condsd = setNames(re$condsd, k))
  }
  summarise <- function(m) {
    th <- getME(m, "theta")
    list(objective = unname(getME(m, "devcomp")$cmp[["dev"]]),
         loglik = as.numeric(logLik(m)), deviance = deviance(m), feval = m@optinfo$feval,
         theta = as.list(setNames(unname(th), names(th))), fixef = as.list(fixef(m)))
  }
  # worst |perm - base| over the elements of a quantity keyed by name (rows, levels)
  spread <- function(a, b) {
    stopifnot(setequal(names(a), names(b)))
    d <- abs(a[names(b)] - b)
    list(max_abs = max(d), max_rel = max(d / pmax(abs(b), .Machine$double.xmin)),
         max_ref = max(abs(b)))
  }
  m0 <- fit(dat)
  f0 <- setNames(fitted(m0), rownames(model.frame(m0)))
  r0 <- key_ranef(m0)
  base <- summarise(m0)
  k <- length(getME(m0, "theta"))
  par0 <- c(unname(getME(m0, "theta")), unname(fixef(m0)))
  hs0 <- hessian_se(dat, par0, k)
  se0 <- se_of(m0)
  rel_spread <- function(a, b) if (is.null(a) || is.null(b)) NULL else max(abs(a - b) / abs(b))
  set.seed(req$seed)
  perms <- lapply(seq_len(req$permutations), function(i) {
    p <- sample(nrow(dat))
    m <- fit(dat[p, , drop = FALSE])
    f <- setNames(fitted(m), rownames(model.frame(m)))
    r <- key_ranef(m)
    c(summarise(m), list(permutation_sha256 = permutation_sha(p),
                         fitted = spread(f, f0), ranef = spread(r$condval, r0$condval),
                         condsd = spread(r$condsd, r0$condsd),
                         # SEs at the stored fit's (theta, beta), this row order's devfun
                         se_at_base_par = rel_spread(hessian_se(dat[p, , drop = FALSE],
                                                                par0, k), hs0),
                         # SEs of this refit (its own optimum), as vcov(m)
                         se = rel_spread(se_of(m)[names(se0)], se0)))
  })
  pkgv <- function(p) as.character(packageVersion(p))
  list(case = req$id, seed = req$seed, RNG = I(RNGkind()), base = base, permuted = perms,
       provenance = list(R = R.version.string, lme4 = pkgv("lme4"), Matrix = pkgv("Matrix"),
                         minqa = pkgv("minqa"), data_sha256 = data_sha,
                         script_sha256 = sha256_file(file.path(r_dir, "floors.R")),
                         io_sha256 = sha256_file(file.path(r_dir, "io.R")),
                         date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")))
}
