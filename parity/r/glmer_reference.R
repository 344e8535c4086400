# glmer_reference(req, r_dir): fit one GLMM catalog case with lme4::glmer and return the
# canonical GLMM fixture (schema: parity/README.md). Used by glmer.R (Rscript, stored
# fixtures) and, through glmer_reference_json(), by the live mode (rpy2).
# req: {id, dataset, formula, family, link, nAGQ, weights|null, offset|null,
#       contrasts|null (glmer's contrasts: a named list of contrast function names),
#       contrasts_default|null (options(contrasts = ), set for the whole reference), data_csv,
#       data_json}.
# lme4's reference-class fields live in C++ memory and change in place: every field is
# copied (x + 0) the moment it is read.
suppressPackageStartupMessages(library(lme4))

# The glmer() call of a catalog case on the data frame named `data` (a symbol); it is
# evaluated where `fam` holds the case's family object. Shared by glmer_floor.R and
# bench.R, so every script fits the same model.
glmer_call <- function(req, data, nagq = as.integer(req$nAGQ), dev_only = FALSE) {
  cl <- call("glmer", formula = str2lang(req$formula), data = data, family = quote(fam),
             nAGQ = as.integer(nagq))
  if (!is.null(req$weights)) cl$weights <- as.name(req$weights)
  if (!is.null(req$offset)) cl$offset <- str2lang(req$offset)
  if (length(req$contrasts)) cl$contrasts <- req$contrasts
  if (dev_only) cl$devFunOnly <- TRUE
  cl
}

glmer_reference <- function(req, r_dir) {
  script_sha <- sha256_file(file.path(r_dir, "glmer_reference.R"))
  io_sha <- sha256_file(file.path(r_dir, "io.R"))
  ds <- request_dataset(req)
  dat <- ds$data
  meta <- ds$meta
  data_sha <- ds$sha256
  fam <- do.call(req$family, list(link = req$link))
  nAGQ <- as.integer(req$nAGQ)
  op <- request_contrast_options(req)
  on.exit(options(op), add = TRUE)
  cp <- function(x) if (is.null(x)) NULL else x + 0

  quiet <- function(expr) suppressWarnings(suppressMessages(expr))
  call_for <- function(nagq, dev_only = FALSE) glmer_call(req, quote(dat), nagq, dev_only)

  t0 <- Sys.time()
  fit <- capture_conditions(eval(call_for(nAGQ)))
  fit_seconds <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  m <- fit$value
  theta <- getME(m, "theta")
  beta <- fixef(m)
  cmp <- getME(m, "devcomp")$cmp

  # the start eta from mustart (mkRespMod), before any PIRLS
  gf <- quiet(eval(`[[<-`(call_for(nAGQ), 1L, quote(glFormula))))
  rm0 <- lme4:::mkRespMod(gf$fr, family = fam)
  eta_start <- cp(rm0$eta)

  # stage 1 (nAGQ = 0 mode) devfun: its lp0 is the PIRLS result at the start theta
  dv1 <- quiet(eval(call_for(0L, dev_only = TRUE)))
  lp0_1 <- cp(environment(dv1)$lp0)
  th0 <- ifelse(getME(m, "lower") == 0, 1, 0)
  pts1 <- list(start = unname(th0), theta_hat = unname(theta),
               perturbed = unname(theta) * 1.1 + 0.05)
  devfun1_at <- lapply(names(pts1), function(nm) {
    f <- quiet(eval(call_for(0L, dev_only = TRUE)))   # fresh closure per point
    list(label = nm, theta = I(pts1[[nm]]), value = f(pts1[[nm]]))
  })
  # stage-1 PIRLS state at theta0 (u and beta), from a fresh closure
  f1 <- quiet(eval(call_for(0L, dev_only = TRUE)))
  v0 <- f1(unname(th0))
  e1 <- environment(f1)
  stage1_at_start <- list(value = v0, u = I(cp(e1$pp$delu)), beta = I(cp(e1$pp$delb)),
                          eta = I(cp(e1$resp$eta)), mu = I(cp(e1$resp$mu)),
                          ldL2 = e1$pp$ldL2(), ldRX2 = e1$pp$ldRX2(), aic = e1$resp$aic())

  # lme4's stage 1 retraced: minqa's bobyqa on the stage-1 devfun from the same start and
  # with the same control as optwrap (start zeros become 0.001), every call recorded
  f1t <- quiet(eval(call_for(0L, dev_only = TRUE)))
  lower1 <- environment(f1t)$lower
  x1 <- unname(th0)
  if (all(x1 == 0)) x1[] <- 0.001
  t1_par <- list(); t1_val <- numeric()
  tracer1 <- function(p) {
    v <- f1t(p)
    t1_par[[length(t1_par) + 1L]] <<- I(unname(p + 0))
    t1_val <<- c(t1_val, v)
    v
  }
  bq <- quiet(minqa::bobyqa(x1, tracer1, lower = lower1, upper = rep(Inf, length(x1)),
                            control = list(iprint = 0L)))
  stage1_bobyqa <- list(x0 = I(x1), lower = I(lower1), par = I(unname(bq$par)),
                        fval = bq$fval, feval = bq$feval, ierr = bq$ierr, msg = bq$msg,
                        trace_par = t1_par, trace_val = I(t1_val))

  out <- list(case = req$id, dataset = req$dataset, stage1_bobyqa = stage1_bobyqa)
  if (nAGQ > 0) {
    dv2 <- quiet(eval(call_for(nAGQ, dev_only = TRUE)))
    e2 <- environment(dv2)
    lp0_2 <- cp(e2$lp0)
    base_offset <- cp(e2$baseOffset)
    # the stage-1 result stage 2 starts from, and lme4's Nelder-Mead run from it, traced
    theta1 <- cp(e2$pp$theta)
    beta1 <- cp(e2$pp$delb)
    unsc1 <- as.matrix(e2$pp$unsc()) + 0
    xst <- 0.2 * c(rep.int(0.1, length(theta1)), pmin(sqrt(diag(unsc1)), 10))
    trace_par <- list(); trace_val <- numeric()
    tracer <- function(p) {
      v <- dv2(p)
      trace_par[[length(trace_par) + 1L]] <<- I(unname(p + 0))
      trace_val <<- c(trace_val, v)
      v
    }
    nm <- quiet(lme4::Nelder_Mead(tracer, par = c(theta1, beta1), lower = e2$lower,
                                  upper = rep(Inf, length(e2$lower)),
                                  control = list(xst = xst, xt = xst * 5e-4)))
    stage2_nm <- list(theta1 = I(theta1), beta1 = I(beta1), xst = I(xst),
                      lower = I(e2$lower), par = I(unname(nm$par)), fval = nm$fval,
                      feval = nm$feval, code = nm$NM.result, trace_par = trace_par,
                      trace_val = I(trace_val))
    par_hat <- c(unname(theta), unname(beta))
    nth <- length(theta)
    pts2 <- list(par_hat = par_hat,
                 perturbed_1 = par_hat * 1.05 + c(rep(0.05, nth), rep(0.02, length(beta))),
                 perturbed_2 = par_hat * 0.9 - c(rep(0.0, nth), rep(0.03, length(beta))))
    devfun2_at <- lapply(names(pts2), function(nm) {
      f <- quiet(eval(call_for(nAGQ, dev_only = TRUE)))
      list(label = nm, par = I(pts2[[nm]]), value = f(pts2[[nm]]))
    })
    f2 <- quiet(eval(call_for(nAGQ, dev_only = TRUE)))
    v2 <- f2(par_hat)
    e2b <- environment(f2)
    stage2_at_hat <- list(value = v2, u = I(cp(e2b$pp$delu)), eta = I(cp(e2b$resp$eta)),
                          mu = I(cp(e2b$resp$mu)), ldL2 = e2b$pp$ldL2(),
                          ldRX2 = e2b$pp$ldRX2(), aic = e2b$resp$aic(),
                          drsum = sum(e2b$resp$devResid()))
    out <- c(out, list(lp0_stage2 = I(lp0_2), base_offset = I(base_offset), stage2_nm = stage2_nm,
                       devfun2_at = devfun2_at, stage2_at_hat = stage2_at_hat))
  }
  vc_hess <- tryCatch(as.matrix(vcov(m)), error = function(e) NULL)
  vc_rx <- quiet(as.matrix(vcov(m, use.hessian = FALSE)))
  rows <- rownames(model.frame(m))
  by_row <- function(v) setNames(as.list(unname(v)), rows)       # keyed by data row name
  by_name <- function(V) setNames(lapply(seq_len(nrow(V)), function(i)
    setNames(as.list(unname(V[i, ])), colnames(V))), rownames(V))
  re <- as.data.frame(ranef(m, condVar = TRUE))
  pkgv <- function(p) as.character(packageVersion(p))
  si <- sessionInfo()
  c(out, list(
    provenance = list(
      R = R.version.string, lme4 = pkgv("lme4"), Matrix = pkgv("Matrix"), minqa = pkgv("minqa"),
      jsonlite = pkgv("jsonlite"), data_package = meta$package,
      data_package_version = meta$package_version, data_sha256 = data_sha,
      script_sha256 = script_sha, io_sha256 = io_sha,
      date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
      platform = si$platform, BLAS = si$BLAS, LAPACK = si$LAPACK),
    call = list(formula = req$formula, family = req$family, link = req$link, nAGQ = nAGQ,
                weights = req$weights, offset = req$offset,
                contrasts = attr(getME(m, "X"), "contrasts"),
                options_contrasts = I(getOption("contrasts")),
                control = list(optimizer = I(m@optinfo$optimizer))),
    nobs = nobs(m), n_input_rows = nrow(dat), fit_seconds = fit_seconds,
    theta = lapply(seq_along(theta), function(i) list(name = names(theta)[i], value = theta[[i]])),
    lower = I(unname(getME(m, "lower"))),
    fixef = as.list(beta),
    objective = list(value = unname(cmp[["dev"]]), loglik = as.numeric(logLik(m)),
                     aic = AIC(m), bic = BIC(m), deviance = deviance(m),
                     df = attr(logLik(m), "df")),
    devcomp_cmp = as.list(cmp),
    eta_start = I(eta_start), lp0_stage1 = I(lp0_1), devfun1_at = devfun1_at,
    stage1_at_start = stage1_at_start,
    final = list(u = I(cp(getME(m, "u"))), eta = I(cp(m@resp$eta)), mu = I(cp(m@resp$mu)),
                 weights_prior = I(cp(m@resp$weights)), n = I(cp(m@resp$n)),
                 y = I(cp(m@resp$y)), working_weights = I(unname(weights(m, type = "working")))),
    row_names = I(rows),
    summary_text = I(capture.output(print(summary(m)))),
    residuals = list(deviance = by_row(residuals(m, type = "deviance")),
                     pearson = by_row(residuals(m, type = "pearson")),
                     working = by_row(residuals(m, type = "working")),
                     response = by_row(residuals(m, type = "response"))),
    fitted = by_row(fitted(m)),
    # predict() on the fitting data without the random effects (re.form = NA), both scales
    predict_population = list(
      link = by_row(predict(m, newdata = dat[rows, , drop = FALSE], re.form = NA)),
      response = by_row(predict(m, newdata = dat[rows, , drop = FALSE], re.form = NA,
                                type = "response"))),
    vcov_hessian = if (is.null(vc_hess)) NULL else by_name(vc_hess),
    vcov_rx = by_name(vc_rx),
    ranef = lapply(seq_len(nrow(re)), function(i) list(group = as.character(re$grpvar[i]),
      term = as.character(re$term[i]), level = as.character(re$grp[i]),
      value = re$condval[i], condsd = re$condsd[i])),
    optinfo = list(optimizer = I(m@optinfo$optimizer), feval = m@optinfo$feval,
                   conv = m@optinfo$conv$opt,
                   lme4_messages = I(as.character(unlist(m@optinfo$conv$lme4$messages))),
                   gradient = I(as.numeric(unname(m@optinfo$derivs$gradient))),
                   fit_warnings = fit$warnings, fit_messages = fit$messages)))
}

# The GH rule table lme4 ships (GHrule(1:100)), once.
ghrule_table <- function() lapply(1:100, function(k) {
  g <- lme4::GHrule(k)
  list(k = k, z = I(unname(g[, "z"])), w = I(unname(g[, "w"])))
})

# The live mode's entry point (rpy2): the same reference, as JSON text.
glmer_reference_json <- function(req_json, r_dir) {
  to_json(glmer_reference(jsonlite::fromJSON(req_json, simplifyVector = FALSE), r_dir))
}
