# lmer_reference(req, r_dir): fit one catalog case with lme4::lmer and return the
# canonical fixture as a list (schema: parity/README.md). Used by reference.R (Rscript,
# stored fixtures) and by parity/live.py (rpy2, live mode) so both modes share one code path.
# req: {id, dataset, formula, REML, weights|null, offset|null (an R expression), contrasts|null (lmer's contrasts: a named
#       list of contrast function names), contrasts_default|null (options(contrasts = ),
#       set for the whole reference and restored on exit), data_csv, data_json, r_optimizer|null,
#       extra_theta|null = list of {label, theta}: further points for R's devfun (live mode
#       passes interlace's theta-hat so R's objective is evaluated at our optimum)}.
# Data come only from our CSV + JSON sidecar, so R and Python fit identical data.
suppressPackageStartupMessages(library(lme4))

# The lmer() call of a request on the data frame named `data` (a symbol); it is evaluated
# where `ctrl` holds the control (lmerControl(), or with the request's r_optimizer). Shared
# with floors.R, so that the floors refit the same model.
lmer_call <- function(req, data, REML) {
  cl <- call("lmer", formula = str2lang(req$formula), data = data, REML = REML,
             control = quote(ctrl))
  if (!is.null(req$weights)) cl$weights <- as.name(req$weights)
  if (!is.null(req$offset)) cl$offset <- str2lang(req$offset)
  if (length(req$contrasts)) cl$contrasts <- req$contrasts
  cl
}

lmer_reference <- function(req, r_dir) {
  t_start <- Sys.time()
  script_sha <- sha256_file(file.path(r_dir, "lmer_reference.R"))
  io_sha <- sha256_file(file.path(r_dir, "io.R"))
  ds <- request_dataset(req)
  dat <- ds$data
  meta <- ds$meta
  data_sha <- ds$sha256
  REML <- isTRUE(req$REML)
  ctrl <- if (is.null(req$r_optimizer)) lmerControl() else lmerControl(optimizer = req$r_optimizer)

  # Evaluate `expr`, collecting (and muffling) warnings and messages.
  capture <- function(expr) {
    w <- character(); msg <- character()
    value <- withCallingHandlers(expr,
      warning = function(c) { w <<- c(w, conditionMessage(c)); invokeRestart("muffleWarning") },
      message = function(c) { msg <<- c(msg, trimws(conditionMessage(c))); invokeRestart("muffleMessage") })
    list(value = value, warnings = I(w), messages = I(msg))
  }
  quiet <- function(expr) suppressWarnings(suppressMessages(expr))
  arr <- function(x, empty = character()) I(if (is.null(x)) empty else x)

  cl <- lmer_call(req, quote(dat), REML)
  op <- request_contrast_options(req)
  on.exit(options(op), add = TRUE)
  t_fit <- Sys.time()
  fit <- capture(eval(cl))
  fit_seconds <- as.numeric(difftime(Sys.time(), t_fit, units = "secs"))
  m <- fit$value

  theta <- getME(m, "theta")
  lower <- unname(getME(m, "lower"))
  cmp <- getME(m, "devcomp")$cmp
  objective <- unname(if (REML) cmp[["REML"]] else cmp[["dev"]])

  # devfun: a fresh closure for every evaluation (the closure carries mutable state).
  devfun_value <- function(th, reml = REML) quiet(update(m, devFunOnly = TRUE, REML = reml))(th)
  points <- list(
    theta_hat = unname(theta),
    start = ifelse(lower == 0, 1, 0),
    perturbed_1 = unname(theta) * 1.1 + 0.05,
    perturbed_2 = unname(theta) * 0.75 + ifelse(lower == 0, 0.1, -0.1),
    zero = rep(0, length(theta)))
  devfun_at <- lapply(names(points), function(nm) {
    list(label = nm, theta = I(points[[nm]]), value = devfun_value(points[[nm]]))
  })
  # Same points through ONE closure, in order, then theta_hat again: state diagnostics.
  shared <- quiet(update(m, devFunOnly = TRUE))
  seq_vals <- vapply(c(points, list(points$theta_hat)), shared, 0)
  fresh_vals <- vapply(devfun_at, `[[`, 0, "value")
  devfun_state_maxdiff <- max(abs(seq_vals - c(fresh_vals, fresh_vals[1])))

  # lmerTest Satterthwaite
  lt <- tryCatch({
    r <- capture(summary(lmerTest::as_lmerModLmerTest(m))$coefficients)
    co <- r$value
    col <- function(j) setNames(co[, j], rownames(co))
    list(df = col("df"), t_value = col("t value"), p_value = col("Pr(>|t|)"),
         warnings = r$warnings, messages = r$messages, error = NULL)
  }, error = function(e) list(df = NULL, error = conditionMessage(e)))

  # lme4's printed summary (lmerTest layout, default width 80), for the text comparisons
  summary_text <- tryCatch(
    quiet(capture.output(print(summary(lmerTest::as_lmerModLmerTest(m))))),
    error = function(e) character())

  V <- as.matrix(vcov(m))
  vc <- as.data.frame(VarCorr(m))
  re <- as.data.frame(ranef(m, condVar = TRUE))
  ll <- logLik(m)
  dev <- if (REML) NA_real_ else deviance(m)
  dropped <- attr(getME(m, "X"), "col.dropped")
  oi <- m@optinfo
  pkgv <- function(p) as.character(packageVersion(p))
  data_pkg <- if (is.null(meta$package)) character() else meta$package
  si <- sessionInfo()

  out <- list(
    case = req$id,
    dataset = req$dataset,
    provenance = list(
      R = R.version.string, lme4 = pkgv("lme4"), lmerTest = pkgv("lmerTest"),
      pbkrtest = pkgv("pbkrtest"), Matrix = pkgv("Matrix"), nloptr = pkgv("nloptr"),
      minqa = pkgv("minqa"), jsonlite = pkgv("jsonlite"),
      data_package = data_pkg,
      data_package_version = if (length(data_pkg)) pkgv(data_pkg) else character(),
      data_sha256 = data_sha, script_sha256 = script_sha, io_sha256 = io_sha,
      date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
      platform = si$platform, running = si$running, BLAS = si$BLAS, LAPACK = si$LAPACK,
      La_library = La_library(), La_version = La_version()),
    call = list(
      formula = req$formula, REML = REML, weights = req$weights, offset = req$offset,
      contrasts = attr(getME(m, "X"), "contrasts"),
      options_contrasts = I(getOption("contrasts")),
      control = list(optimizer = ctrl$optimizer, optCtrl = ctrl$optCtrl,
                     restart_edge = ctrl$restart_edge, boundary.tol = ctrl$boundary.tol,
                     calc.derivs = ctrl$calc.derivs, checkConv = ctrl$checkConv,
                     check.rankX = ctrl$checkControl$check.rankX,
                     nloptwrap_defaults = if (ctrl$optimizer == "nloptwrap")
                       get0("defaultControl", environment(lme4::nloptwrap)))),
    nobs = nobs(m),
    n_input_rows = nrow(dat),
    dims = getME(m, "devcomp")$dims,
    p_full = ncol(getME(m, "X")) + length(dropped),
    objective = list(
      criterion = if (REML) "REML" else "deviance", value = objective,
      devfun_at_theta_hat = fresh_vals[1],
      other_criterion = if (REML) "deviance" else "REML",
      other_at_theta_hat = devfun_value(unname(theta), reml = !REML)),
    devcomp_cmp = cmp,
    theta = unname(Map(function(n, v) list(name = n, value = v), names(theta), theta)),
    lower = I(lower),
    cnms = unname(Map(function(g, t) list(group = g, terms = I(t)),
                      names(getME(m, "cnms")), getME(m, "cnms"))),
    fixef = fixef(m),
    dropped_columns = arr(names(dropped)),
    vcov = sapply(rownames(V), function(r) V[r, , drop = TRUE] |> setNames(colnames(V)),
                  simplify = FALSE),
    se = sqrt(diag(V)),
    sigma = sigma(m),
    varcorr = lapply(seq_len(nrow(vc)), function(i) as.list(vc[i, ])),
    loglik = list(value = as.numeric(ll), df = attr(ll, "df"), nobs = attr(ll, "nobs"),
                  REML = REML),
    aic = AIC(m),
    bic = BIC(m),
    deviance = dev,
    remlcrit = if (REML) REMLcrit(m) else NA_real_,
    ngrps = vapply(ngrps(m), as.integer, 0L),
    ranef = lapply(seq_len(nrow(re)), function(i) list(
      group = as.character(re$grpvar[i]), term = as.character(re$term[i]),
      level = as.character(re$grp[i]), value = re$condval[i], condsd = re$condsd[i])),
    fitted = fitted(m),
    residuals = residuals(m),
    satterthwaite_df = lt$df,
    satterthwaite = lt,
    summary_text = I(summary_text),
    is_singular = isSingular(m),
    optinfo = list(
      optimizer = oi$optimizer, control = oi$control, feval = oi$feval,
      conv_code = oi$conv$opt, message = oi$message, warnings = arr(unlist(oi$warnings)),
      lme4_messages = arr(unlist(oi$conv$lme4$messages)), lme4_code = oi$conv$lme4$code,
      par = arr(oi$val, numeric()), gradient = arr(oi$derivs$gradient, numeric()),
      fit_warnings = fit$warnings, fit_messages = fit$messages),
    devfun_at = devfun_at,
    devfun_state_maxdiff = devfun_state_maxdiff,
    timing = list(fit_seconds = fit_seconds))

  for (p in req$extra_theta) {
    th <- as.numeric(unlist(p$theta))
    out$devfun_at[[length(out$devfun_at) + 1L]] <- list(
      label = p$label, theta = I(th), value = devfun_value(th))
  }
  out$timing$total_seconds <- as.numeric(difftime(Sys.time(), t_start, units = "secs"))
  out
}

# The fixture as JSON text (17 significant digits; see io.R).
lmer_reference_json <- function(req_json, r_dir) {
  to_json(lmer_reference(jsonlite::fromJSON(req_json, simplifyVector = FALSE), r_dir))
}
