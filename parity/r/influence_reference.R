# lme4's influence.merMod for one [[diagnostics]] entry, and R's reproducibility floor for
# case-deletion refits. Sourced (after io.R) by influence.R (Rscript, stored fixtures) and
# by parity/diag_fixtures.py through rpy2 (live), so both modes run the same code, and by
# export_fit.R's interlace_export(diagnostics = ...). Needs io.R, lmer_reference.R and
# glmer_reference.R sourced first (the call builders lmer_call and glmer_call).
#
# req: {id, model, dataset, formula, REML, weights|null, level ("1" or a factor name),
#       data_csv, data_json}. The model is fitted from our CSV + JSON sidecar exactly as
# lmer_reference.R fits it (lmer, default lmerControl()). A GLMM model's request has
# family, link, nAGQ and offset|null instead of REML: it is fitted by glmer_call()
# (glmer_reference.R, sourced first) as the GLMM fixtures are, with the family object
# itself in the call, so that influence.merMod's update() finds it; influence.merMod then
# refits it with glmerControl(optCtrl = list(maxfun = 1000)) from (theta-hat, fixef-hat).
#
# influence_reference(req, r_dir) -> list (schema below); influence_floor(req, r_dir) ->
# list. Units are keyed by R's row names (level "1") or level labels (groups).
#
# Schema of influence_reference():
#   id, model, level, provenance {R, lme4, Matrix, nloptr, jsonlite, data_sha256,
#     script_sha256, io_sha256, date, platform, BLAS, LAPACK},
#   call {formula, REML, groups (null for observations), maxfun, influence_control},
#   fit {theta, fixef, sigma, vcov, var_cov_comps},
#   units [labels in lme4's order], cooks_distance {unit: value},
#   dfbetas {unit: {coef: value}} (dfbetas_note when lme4's dfbetas() fails, p = 1),
#   dfbeta {unit: {coef: value}},
#   fixef_deleted {unit: {coef: value}}, var_cov_comps_deleted {unit: {name: value}},
#   theta_deleted {unit: {theta name: value}} (derived from var_cov_comps_deleted: the
#     lower Cholesky factor of each term's covariance / sigma^2, in getME(m, "theta") order),
#   sigma_deleted {unit: value}, vcov_deleted {unit: {coef: {coef: value}}},
#   converged {unit: bool}, function_evals {unit: int}, timing {influence_seconds}.
suppressPackageStartupMessages(library(lme4))

.infl_capture <- function(expr) {
  w <- character()
  value <- withCallingHandlers(expr,
    warning = function(c) { w <<- c(w, conditionMessage(c)); invokeRestart("muffleWarning") },
    message = function(c) invokeRestart("muffleMessage"))
  list(value = value, warnings = I(w))
}

# Fit the entry's model as lmer_reference.R (glmer_reference.R) does, with the same call
# builder (weights, offset and contrasts included; the caller sets the request's
# options(contrasts) for the fit and the refits); returns list(m, dat, data_sha, ...).
.infl_fit <- function(req) {
  ds <- request_dataset(req)
  dat <- ds$data
  if (!is.null(req$family)) {
    cl <- glmer_call(req, quote(dat))
    cl$family <- do.call(req$family, list(link = req$link))
  } else {
    ctrl <- if (is.null(req$r_optimizer)) lmerControl()
            else lmerControl(optimizer = req$r_optimizer)
    cl <- lmer_call(req, quote(dat), isTRUE(req$REML))
  }
  fit <- .infl_capture(eval(cl))
  list(m = fit$value, dat = dat, data_sha = ds$sha256, fit_warnings = fit$warnings,
       meta = ds$meta)
}

# Lower Cholesky factor of a symmetric PSD matrix, zero columns where the pivot is zero.
.chol_lower <- function(S) {
  k <- nrow(S); L <- matrix(0, k, k)
  for (j in seq_len(k)) {
    s <- S[j, j] - sum(L[j, seq_len(j - 1)]^2)
    L[j, j] <- if (s > 0) sqrt(s) else 0
    if (j < k) for (i in (j + 1):k) {
      L[i, j] <- if (L[j, j] > 0) (S[i, j] - sum(L[i, seq_len(j - 1)] * L[j, seq_len(j - 1)])) /
        L[j, j] else 0
    }
  }
  L
}

# theta from lme4's var.cov.comps vector (sigma^2 then each term's lower triangle).
.theta_from_vc <- function(vc, sizes, theta_names) {
  s2 <- vc[[1]]; pos <- 1L; out <- numeric()
  for (k in sizes) {
    n <- k * (k + 1) / 2
    S <- matrix(0, k, k); S[lower.tri(S, diag = TRUE)] <- vc[pos + seq_len(n)]
    S[upper.tri(S)] <- t(S)[upper.tri(S)]
    L <- .chol_lower(S / s2)
    out <- c(out, L[lower.tri(L, diag = TRUE)])
    pos <- pos + n
  }
  setNames(out, theta_names)
}

.rows_named <- function(M) {
  sapply(rownames(M), function(r) M[r, , drop = TRUE] |> setNames(colnames(M)), simplify = FALSE)
}

.provenance <- function(r_dir, script, data_sha) {
  pkgv <- function(p) as.character(packageVersion(p))
  si <- sessionInfo()
  list(R = R.version.string, lme4 = pkgv("lme4"), Matrix = pkgv("Matrix"),
       nloptr = pkgv("nloptr"), minqa = pkgv("minqa"), jsonlite = pkgv("jsonlite"),
       data_sha256 = data_sha, script_sha256 = sha256_file(file.path(r_dir, script)),
       io_sha256 = sha256_file(file.path(r_dir, "io.R")),
       date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
       platform = si$platform, BLAS = si$BLAS, LAPACK = si$LAPACK)
}

influence_reference <- function(req, r_dir) {
  op <- request_contrast_options(req)
  on.exit(options(op), add = TRUE)
  f <- .infl_fit(req)
  m <- f$m; dat <- f$dat
  level <- as.character(req$level)
  t0 <- Sys.time()
  inf <- if (level == "1") suppressMessages(influence(m))
         else suppressMessages(influence(m, groups = level))
  secs <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  # positions in lme4's result list (names carry the group name)
  fe1 <- inf[[2]]; vc1 <- inf[[4]]; vcov1 <- inf[[6]]
  units <- as.character(inf$deleted)
  rownames(fe1) <- rownames(vc1) <- units
  names(vcov1) <- units
  cd <- cooks.distance(inf); names(cd) <- units
  # lme4 1.1-31's dfbetas.influence.merMod fails when p = 1 (t() of a vector makes a
  # 1 x units matrix): then record the error and apply its formula, dfbeta / deleted SE.
  dfbs_err <- NULL
  dfbs <- tryCatch(dfbetas(inf), error = function(e) { dfbs_err <<- conditionMessage(e); NULL })
  if (is.null(dfbs)) {
    se1 <- do.call(rbind, lapply(vcov1, function(M) sqrt(diag(as.matrix(M)))))
    dfbs <- dfbeta(inf) / se1
  }
  rownames(dfbs) <- units
  dfb <- dfbeta(inf); rownames(dfb) <- units
  sizes <- vapply(getME(m, "cnms"), length, 0L)
  th_names <- names(getME(m, "theta"))
  theta1 <- t(apply(vc1, 1, .theta_from_vc, sizes = sizes, theta_names = th_names))
  if (length(th_names) == 1) theta1 <- t(theta1)
  rownames(theta1) <- units; colnames(theta1) <- th_names
  V <- as.matrix(vcov(m))
  list(
    id = req$id, model = req$model, level = level,
    provenance = .provenance(r_dir, "influence_reference.R", f$data_sha),
    call = list(formula = req$formula, REML = isTRUE(req$REML),
                groups = if (level == "1") NULL else level, maxfun = 1000,
                influence_control = if (is.null(req$family))
                  "lmerControl(optCtrl = list(maxfun = 1000)), start = theta-hat"
                else "glmerControl(optCtrl = list(maxfun = 1000)), start = list(theta = theta-hat, fixef = fixef-hat)",
                family = req$family, link = req$link, nAGQ = req$nAGQ,
                fit_warnings = f$fit_warnings),
    fit = list(theta = getME(m, "theta"), fixef = fixef(m), sigma = sigma(m),
               vcov = .rows_named(V), var_cov_comps = inf[[3]]),
    units = I(units),
    cooks_distance = cd,
    dfbetas = .rows_named(dfbs),
    dfbetas_note = if (is.null(dfbs_err)) NULL else paste0(
      "dfbetas(infl) failed (", dfbs_err, "); values are dfbeta(infl) / sqrt(diag(vcov[-unit]))"),
    dfbeta = .rows_named(dfb),
    fixef_deleted = .rows_named(fe1),
    var_cov_comps_deleted = .rows_named(vc1),
    theta_deleted = .rows_named(theta1),
    sigma_deleted = setNames(sqrt(vc1[, 1]), units),
    vcov_deleted = lapply(vcov1, function(M) .rows_named(as.matrix(M))),
    converged = setNames(as.logical(inf$converged), units),
    function_evals = setNames(as.integer(inf$function.evals), units),
    timing = list(influence_seconds = secs))
}

# ---- reproducibility floor ----------------------------------------------------------------
# HLMdiag's varcomp.mer (R/utility_functions.R), re-stated so the floor needs only lme4.
.varcomp_mer <- function(object) {
  vc <- VarCorr(object)
  M <- as.matrix(Matrix::bdiag(vc))
  off <- M; diag(off) <- 0
  if (isSymmetric(M) && all(abs(off) < 1e-10)) {
    v <- diag(M); nm <- paste0("D", seq_along(v), seq_along(v))
  } else {
    v <- M[!upper.tri(M)]
    ix <- which(!upper.tri(M), arr.ind = TRUE)
    nm <- paste0("D", ix[, 1], ix[, 2])
  }
  res <- c(attr(vc, "sc")^2, v); names(res) <- c("sigma2", nm)
  res[res != 0]
}

# One refit of `m` on `data`: fixef, vcov, varcomp, theta, sigma and warnings.
.refit <- function(m, data, REML, start = NULL, optimizer = "nloptwrap") {
  ctrl <- lmerControl(optimizer = optimizer)
  args <- list(formula = formula(m), data = data, REML = REML, control = ctrl)
  if (!is.null(start)) args$start <- list(theta = start)
  r <- .infl_capture(do.call(lmer, args))
  mm <- r$value
  list(fixef = fixef(mm), vcov = as.matrix(vcov(mm)), varcomp = .varcomp_mer(mm),
       theta = getME(mm, "theta"), sigma = sigma(mm), warnings = r$warnings)
}

.route_summary <- function(a, b) {
  d <- abs(a - b); ok <- is.finite(d) & abs(a) > 0
  list(max_rel = if (any(ok)) max(d[ok] / abs(a[ok])) else NA_real_,
       max_abs = if (any(is.finite(d))) max(d[is.finite(d)]) else NA_real_,
       scale = max(abs(a), na.rm = TRUE),
       max_rel_to_scale = if (any(is.finite(d))) max(d[is.finite(d)]) / max(abs(a), na.rm = TRUE)
         else NA_real_)
}

# For every unit, refit by routes that should reach the same optimum and compare them.
# HLMdiag convention (REML, default control): A = cold start nloptwrap (HLMdiag's own),
# B = nloptwrap from the REML theta-hat, C = cold start minqa::bobyqa.
# lme4 influence convention (model's method): D = influence.merMod (nloptwrap from theta-hat),
# E = minqa::bobyqa from theta-hat.
influence_floor <- function(req, r_dir) {
  op <- request_contrast_options(req)
  on.exit(options(op), add = TRUE)
  f <- .infl_fit(req)
  m <- f$m
  level <- as.character(req$level)
  frame <- m@frame
  REML_model <- isTRUE(req$REML)
  if (level == "1") {
    units <- rownames(frame); drop <- lapply(seq_len(nrow(frame)), function(i) i)
  } else {
    g <- m@flist[[level]]
    units <- levels(g); drop <- lapply(units, function(l) which(g == l))
  }
  names(drop) <- units
  m_reml <- if (REML_model) m else update(m, REML = TRUE)
  th_reml <- getME(m_reml, "theta")
  V0 <- as.matrix(vcov(m_reml)); b0 <- fixef(m_reml); vc0 <- .varcomp_mer(m_reml)
  p <- length(b0)
  hlm <- function(r) {
    db <- b0 - r$fixef
    vcd <- r$varcomp[names(vc0)]
    c(cooksd = as.numeric(t(db) %*% solve(V0) %*% db) / p,
      mdffits = as.numeric(t(db) %*% solve(r$vcov) %*% db) / p,
      covtrace = abs(sum(diag(solve(V0) %*% r$vcov)) - p),
      covratio = det(r$vcov) / det(V0),
      setNames(vcd / vc0 - 1, paste0("rvc.", names(vc0))),
      setNames(r$fixef, paste0("fixef.", names(r$fixef))),
      setNames(r$theta, paste0("theta.", names(r$theta))))
  }
  t0 <- Sys.time()
  routes <- list(
    A_cold_nloptwrap = function(d) .refit(m, d, TRUE),
    B_warm_nloptwrap = function(d) .refit(m, d, TRUE, start = th_reml),
    C_cold_bobyqa = function(d) .refit(m, d, TRUE, optimizer = "bobyqa"))
  vals <- lapply(routes, function(route) {
    t(vapply(drop, function(i) hlm(route(frame[-i, , drop = FALSE])),
             numeric(length(hlm(.refit(m, frame, TRUE))))))
  })
  # lme4's influence convention: model's method, warm start at the model's theta-hat
  V1 <- as.matrix(vcov(m)); b1 <- fixef(m); th1 <- getME(m, "theta")
  n_units <- length(units)
  lme4q <- function(r) {
    db <- r$fixef - b1
    c(cooks = as.numeric(t(db) %*% solve(V1) %*% db) * (n_units - p) / (n_units * p),
      sigma = r$sigma,
      setNames(db / sqrt(diag(r$vcov)), paste0("dfbetas.", names(db))),
      setNames(r$fixef, paste0("fixef.", names(db))),
      setNames(r$theta, paste0("theta.", names(r$theta))))
  }
  lme4_routes <- list(
    D_warm_nloptwrap = function(d) .refit(m, d, REML_model, start = th1),
    E_warm_bobyqa = function(d) .refit(m, d, REML_model, start = th1, optimizer = "bobyqa"))
  lvals <- lapply(lme4_routes, function(route) {
    t(vapply(drop, function(i) lme4q(route(frame[-i, , drop = FALSE])),
             numeric(length(lme4q(.refit(m, frame, REML_model, start = th1))))))
  })
  secs <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  pairs <- list(c("A_cold_nloptwrap", "B_warm_nloptwrap"), c("A_cold_nloptwrap", "C_cold_bobyqa"))
  summ <- lapply(pairs, function(pr) {
    a <- vals[[pr[1]]]; b <- vals[[pr[2]]]
    sapply(colnames(a), function(q) .route_summary(a[, q], b[, q]), simplify = FALSE)
  })
  names(summ) <- vapply(pairs, paste, "", collapse = " vs ")
  la <- lvals$D_warm_nloptwrap; lb <- lvals$E_warm_bobyqa
  summ[["D_warm_nloptwrap vs E_warm_bobyqa"]] <-
    sapply(colnames(la), function(q) .route_summary(la[, q], lb[, q]), simplify = FALSE)
  list(
    id = req$id, model = req$model, level = level,
    provenance = .provenance(r_dir, "influence_reference.R", f$data_sha),
    routes = list(
      A_cold_nloptwrap = "lmer(formula(m), data = m@frame[-i, ]) (HLMdiag's refit: REML, lmerControl())",
      B_warm_nloptwrap = "as A with start = list(theta = REML theta-hat of the full data)",
      C_cold_bobyqa = "as A with lmerControl(optimizer = 'bobyqa') (minqa)",
      D_warm_nloptwrap = "model's REML flag, start = theta-hat, nloptwrap (influence.merMod)",
      E_warm_bobyqa = "as D with lmerControl(optimizer = 'bobyqa') (minqa)"),
    units = I(units),
    hlmdiag_quantities = lapply(vals, .rows_named),
    lme4_quantities = lapply(lvals, .rows_named),
    summary = summ,
    timing = list(seconds = secs))
}

influence_reference_json <- function(req_json, r_dir) {
  to_json(influence_reference(jsonlite::fromJSON(req_json, simplifyVector = FALSE), r_dir))
}

influence_floor_json <- function(req_json, r_dir) {
  to_json(influence_floor(jsonlite::fromJSON(req_json, simplifyVector = FALSE), r_dir))
}
