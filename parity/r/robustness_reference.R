# What lme4 does with the bad and awkward inputs of parity/robustness.toml (issue 9).
# Usage: Rscript parity/r/robustness_reference.R request.json out.json
# request: {cases: [...], datasets: {name: {csv, json}}} (cases as in robustness.toml).
# Per case: lme4's outcome class (error | warning | ok), its error, warnings and messages,
# and for fits that ran: theta, fixef, logLik, sigma (and predictions for predict cases),
# every double at 17 significant digits.
self <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
r_dir <- dirname(self)
source(file.path(r_dir, "io.R"))
suppressPackageStartupMessages(library(lme4))

na_or <- function(v) if (is.character(v) && v %in% c("NA", "Inf", "-Inf", "NaN"))
  switch(v, "NA" = NA, "Inf" = Inf, "-Inf" = -Inf, "NaN" = NaN) else v

apply_op <- function(d, op) {
  rows <- function() if (identical(op$rows, "all")) seq_len(nrow(d)) else unlist(op$rows) + 1L
  switch(op$op,
    shift = { d[[op$column]] <- d[[op$column]] + op$by },
    scale = { d[[op$column]] <- d[[op$column]] * op$by },
    const = { d[[op$column]] <- rep(op$value, nrow(d)) },
    set = {
      v <- na_or(op$value)
      col <- d[[op$column]]
      if (is.integer(col) && !is.na(v) && !is.finite(v)) col <- as.numeric(col)
      col[rows()] <- v
      d[[op$column]] <- col
    },
    new_column = {
      d[[op$column]] <- if (isTRUE(op$rowname)) factor(rownames(d))
        else if (!is.null(op$from)) d[[op$from]] * op$times else rep(op$value, nrow(d))
    },
    keep_levels = {
      d <- d[as.character(d[[op$column]]) %in% unlist(op$levels), , drop = FALSE]
      d[[op$column]] <- droplevels(d[[op$column]])
    },
    keep_rows = { d <- d[unlist(op$rows) + 1L, , drop = FALSE] },
    drop_rows = { d <- d[-(unlist(op$rows) + 1L), , drop = FALSE] },
    duplicate_column = {
      extra <- data.frame(d[[op$column]] * op$times)
      names(extra) <- op$column
      d <- cbind(d, extra)
    },
    stop("unknown op ", op$op))
  d
}

# Evaluate expr; the outcome class, messages and value.
capture <- function(expr) {
  w <- character(); msg <- character()
  value <- withCallingHandlers(
    tryCatch(expr, error = function(e) structure(conditionMessage(e), class = "r_error")),
    warning = function(c) { w <<- c(w, conditionMessage(c)); invokeRestart("muffleWarning") },
    message = function(c) { msg <<- c(msg, trimws(conditionMessage(c))); invokeRestart("muffleMessage") })
  err <- inherits(value, "r_error")
  list(outcome = if (err) "error" else if (length(w)) "warning" else "ok",
       error = if (err) unclass(value) else NULL, warnings = I(w), messages = I(msg),
       value = if (err) NULL else value)
}

# glmer(): the family is a call, evaluated inside capture() (R's family constructors
# reject unknown links themselves)
glmer_fit_call <- function(case, d) {
  fam <- if (is.null(case$link)) call(case$family) else call(case$family, link = case$link)
  cl <- call("glmer", formula = str2lang(case$formula), data = quote(d), family = fam)
  if (!is.null(case$nAGQ)) cl$nAGQ <- as.integer(case$nAGQ)
  if (!is.null(case$weights)) cl$weights <- as.name(case$weights)
  if (!is.null(case$offset)) cl$offset <- as.name(case$offset)
  if (!is.null(case$start)) cl$start <- case$start
  cl
}

fit_call <- function(case, d) {
  if (identical(case$call, "glmer")) return(glmer_fit_call(case, d))
  ctl <- case$control
  start <- ctl$start
  ctl$start <- NULL
  for (nm in grep("^check[.]conv[.]", names(ctl), value = TRUE))  # lme4's list form
    if (is.list(ctl[[nm]])) ctl[[nm]] <- do.call(lme4:::.makeCC, ctl[[nm]])
  cl <- call("lmer", formula = str2lang(case$formula), data = quote(d),
             REML = !identical(case$REML, FALSE),
             control = as.call(c(list(quote(lmerControl)), ctl)))
  if (!is.null(case$weights)) cl$weights <- as.name(case$weights)
  if (!is.null(case$offset)) cl$offset <- as.name(case$offset)
  if (!is.null(start)) cl$start <- list(theta = unlist(start))
  cl
}

fit_summary <- function(m) list(
  theta = as.list(getME(m, "theta")), fixef = as.list(fixef(m)),
  loglik = as.numeric(logLik(m)), sigma = sigma(m), nobs = nobs(m))

newdata_frame <- function(nd, d) {
  if (identical(nd, "matrix")) return(as.matrix(d[1:2, "Days", drop = FALSE]))
  if (identical(nd, "empty")) return(d[0, , drop = FALSE])
  as.data.frame(lapply(nd, function(col) {
    v <- unlist(lapply(col, na_or))
    if (is.character(v)) v else as.numeric(v)
  }), stringsAsFactors = FALSE)
}

run_case <- function(case, datasets) {
  if (identical(case$call, "python")) return(list(id = case$id, outcome = "none"))
  src <- datasets[[case$dataset]]
  d <- read_dataset(src$csv, jsonlite::fromJSON(src$json, simplifyVector = FALSE))
  for (op in case$ops) d <- apply_op(d, op)
  what <- if (is.null(case$call)) "fit" else case$call
  if (what %in% c("fit", "glmer")) {
    res <- capture(eval(fit_call(case, d)))
    if (!is.null(res$value)) res$fit <- fit_summary(res$value)
  } else {
    m <- suppressWarnings(suppressMessages(eval(fit_call(case, d))))
    res <- switch(what,
      predict = capture(predict(m, newdata = newdata_frame(case$newdata, d),
                                allow.new.levels = isTRUE(case$allow_new_levels))),
      influence = capture(influence(m, groups = case$groups)),
      confint = capture(confint(m, level = case$level, method = "Wald")),
      stop("unknown call ", what))
    if (what == "predict" && !is.null(res$value)) res$predictions <- I(unname(res$value))
    res$fit <- fit_summary(m)
  }
  res$value <- NULL
  c(list(id = case$id), res)
}

args <- commandArgs(TRUE)
req <- jsonlite::fromJSON(args[1], simplifyVector = FALSE)
out <- lapply(req$cases, run_case, datasets = req$datasets)
pkgv <- function(p) as.character(packageVersion(p))
write_json(list(
  provenance = list(R = R.version.string, lme4 = pkgv("lme4"), Matrix = pkgv("Matrix"),
                    nloptr = pkgv("nloptr"), script_sha256 = sha256_file(self),
                    io_sha256 = sha256_file(file.path(r_dir, "io.R")),
                    catalog_sha256 = req$catalog_sha256,
                    data_sha256 = lapply(req$datasets, function(s) sha256_file(s$csv)),
                    date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")),
  cases = out), args[2])
