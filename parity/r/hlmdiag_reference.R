# hlmdiag_reference(req, r_dir): HLMdiag's diagnostics for one [[diagnostics]] catalog
# entry, as a list written to fixtures/r/diag/<id>.hlmdiag.json (17 significant digits,
# io.R's to_json). Sourceable (defines functions only); run as a script it is the driver:
#   Rscript parity/r/hlmdiag_reference.R request.json out.json
# req: {id, model, dataset, formula, REML, weights|null, level ("1" or a grouping factor),
#       sources, data_csv, data_json}.
#
# The model is fitted exactly as lmer_reference.R fits the catalog case (our CSV + JSON
# data through io.R's read_dataset, lmer with default lmerControl()). HLMdiag is only USED
# here (the installed package; its version and git commit are recorded); nothing of it is
# copied. Every per-unit quantity is stored as an object keyed by the unit's label: data
# row names for observations, level labels for groups. The label order used by each
# HLMdiag function is reproduced explicitly (see `units` below), because HLMdiag mixes
# orders: its one-step measures follow unique(flist[[level]]) (order of appearance),
# leverage(level = g) follows aggregate() (factor-level order), case_delete(level = g)
# follows split() (factor-level order) while hlm_influence labels all of them with
# unique(flist[[level]]).
suppressPackageStartupMessages({
  library(lme4)
  library(HLMdiag)
})

HLMDIAG_COMMIT <- "6f1ee6dcbab083603f75f618d039ae762f775201"
REFORMULAS_COMMIT <- "9efbbc727167443bd9d58cbe27b175d1efdbece9"

# Named numeric vector (JSON object) of values keyed by labels.
keyed <- function(values, labels) {
  v <- as.numeric(values)
  stopifnot(length(v) == length(labels), !anyDuplicated(labels))
  setNames(v, as.character(labels))
}

# Evaluate expr collecting (and muffling) warnings.
with_warnings <- function(expr) {
  w <- character()
  value <- withCallingHandlers(expr,
    warning = function(c) { w <<- c(w, conditionMessage(c)); invokeRestart("muffleWarning") },
    message = function(c) invokeRestart("muffleMessage"))
  list(value = value, warnings = I(w))
}

# A data frame's numeric columns, each keyed by `labels`.
table_keyed <- function(df, labels, skip = character()) {
  cols <- setdiff(names(df)[vapply(df, is.numeric, TRUE)], skip)
  sapply(cols, function(nm) keyed(df[[nm]], labels), simplify = FALSE)
}

hlmdiag_reference <- function(req, r_dir) {
  t_start <- Sys.time()
  meta <- jsonlite::fromJSON(req$data_json, simplifyVector = FALSE)
  data_sha <- sha256_file(req$data_csv)
  if (!identical(data_sha, meta$csv_sha256)) stop("data CSV sha256 does not match its sidecar")
  dat <- read_dataset(req$data_csv, meta)
  REML <- isTRUE(req$REML)
  ctrl <- lmerControl()
  cl <- call("lmer", formula = str2lang(req$formula), data = quote(dat), REML = REML,
             control = quote(ctrl))
  if (!is.null(req$weights)) cl$weights <- as.name(req$weights)
  m <- suppressWarnings(suppressMessages(eval(cl)))

  level <- as.character(req$level)
  lev_arg <- if (level == "1") 1 else level
  nested <- HLMdiag:::isNestedModel(m)
  rn <- rownames(m@frame)
  flist <- m@flist
  pkgv <- function(p) as.character(packageVersion(p))

  # unit labels in the order each HLMdiag function returns them
  units_onestep <- if (level == "1") rn else as.character(unique(flist[[level]]))
  units_levels <- if (level == "1") rn else {
    agg <- stats::aggregate(rep(0, length(rn)), data.frame(flist[[level]]), mean)
    as.character(agg[, 1])
  }

  theta <- getME(m, "theta")
  V <- as.matrix(vcov(m))
  out <- list(
    id = req$id,
    model = req$model,
    level = level,
    provenance = list(
      R = R.version.string, lme4 = pkgv("lme4"), Matrix = pkgv("Matrix"),
      HLMdiag = pkgv("HLMdiag"), HLMdiag_commit = HLMDIAG_COMMIT,
      reformulas = pkgv("reformulas"), reformulas_commit = REFORMULAS_COMMIT,
      jsonlite = pkgv("jsonlite"), data_sha256 = data_sha,
      script_sha256 = sha256_file(file.path(r_dir, "hlmdiag_reference.R")),
      io_sha256 = sha256_file(file.path(r_dir, "io.R")),
      date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"),
      platform = sessionInfo()$platform, BLAS = sessionInfo()$BLAS),
    call = list(formula = req$formula, REML = REML, weights = req$weights,
                control = "lmerControl()"),
    fit = list(
      theta = as.list(theta), sigma = sigma(m), fixef = fixef(m),
      vcov = sapply(rownames(V), function(r) V[r, , drop = TRUE] |> setNames(colnames(V)),
                    simplify = FALSE),
      objective = unname(getME(m, "devcomp")$cmp[[if (REML) "REML" else "dev"]]),
      nobs = nobs(m)),
    nested = nested,
    row_names = I(rn),
    units = list(onestep = I(units_onestep), levels = I(units_levels),
                 # FALSE: hlm_influence's leverage.* columns sit on the wrong labels
                 same_order = identical(units_onestep, units_levels)))

  # ---- one-step measures (HLMdiag's C++ at lme4's theta-hat, sigma-hat) -----------------
  cd <- stats::cooks.distance(m, level = lev_arg, include.attr = TRUE)
  md <- HLMdiag::mdffits(m, level = lev_arg, include.attr = TRUE)
  beta_names <- names(fixef(m))
  out$onestep <- list(
    cooksd = keyed(cd$cooksd, units_onestep),
    mdffits = keyed(md$mdffits, units_onestep),
    covtrace = keyed(HLMdiag::covtrace(m, level = lev_arg), units_onestep),
    covratio = keyed(HLMdiag::covratio(m, level = lev_arg), units_onestep),
    beta_cdd = sapply(beta_names, function(b) keyed(cd[[b]], units_onestep), simplify = FALSE))
  infl <- with_warnings(HLMdiag::hlm_influence(
    m, level = lev_arg, approx = TRUE,
    leverage = c("overall", "fixef", "ranef", "ranef.uc")))
  tab <- as.data.frame(infl$value)
  # hlm_influence's own table, keyed by ITS label column (id -> row name, or level label)
  tab_labels <- if (level == "1") rn[tab$id] else as.character(tab[[level]])
  out$hlm_influence <- list(
    label_column = if (level == "1") "id" else level,
    columns = I(names(tab)),
    values = table_keyed(tab, tab_labels, skip = c("id", names(m@frame))),
    warnings = infl$warnings)

  # ---- leverage (nested models only: HLMdiag stops for crossed ones) --------------------
  if (nested) {
    lev1 <- HLMdiag::leverage(m, level = 1)
    out$leverage <- list(obs = table_keyed(lev1, rn))
    if (level != "1") {
      levg <- HLMdiag::leverage(m, level = level)
      out$leverage$group <- table_keyed(levg, units_levels)
    }
  } else {
    out$leverage <- list(error = tryCatch(HLMdiag::leverage(m), error = conditionMessage))
  }

  # ---- residuals (nested models only) --------------------------------------------------
  if (nested) {
    obs <- list()
    for (std in list(FALSE, TRUE, "semi")) {
      key <- paste0("standardize_", tolower(as.character(std)))
      r <- with_warnings(HLMdiag::hlm_resid(m, level = 1, standardize = std))
      rt <- as.data.frame(r$value)
      ls <- with_warnings(HLMdiag::LSresids(m, level = 1, standardize = std))
      obs[[key]] <- list(
        hlm_resid = table_keyed(rt, rn[match(as.character(rt$.id), rn)],
                                skip = c(".id", names(m@frame))),
        hlm_resid_columns = I(names(rt)),
        hlm_resid_warnings = r$warnings,
        lsresids = table_keyed(as.data.frame(ls$value), rownames(ls$value)),
        lsresids_warnings = ls$warnings)
    }
    types <- c("raw", "pearson", "studentized", "cholesky")
    obs$resid_marginal <- sapply(types, function(t)
      keyed(HLMdiag::resid_marginal(m, type = t), rn), simplify = FALSE)
    obs$resid_conditional <- sapply(types, function(t)
      keyed(HLMdiag::resid_conditional(m, type = t), rn), simplify = FALSE)
    grp <- list()
    for (g in names(flist)) {
      grp[[g]] <- list()
      for (std in list(FALSE, TRUE)) {
        key <- paste0("standardize_", tolower(as.character(std)))
        # HLMdiag's LS part fails on some models (rank-deficient lmList fits; lme4's
        # ranef.lmList4(standard = TRUE) with one effect): then record the error and
        # keep the EB part (include.ls = FALSE).
        r <- tryCatch(with_warnings(HLMdiag::hlm_resid(m, level = g, standardize = std)),
                      error = function(e) list(error = conditionMessage(e)))
        ls_error <- r$error
        if (!is.null(ls_error)) {
          r <- with_warnings(HLMdiag::hlm_resid(m, level = g, standardize = std,
                                                include.ls = FALSE))
        }
        rt <- as.data.frame(r$value)
        lab_col <- if (g %in% names(rt)) g else "group"
        labels <- as.character(rt[[lab_col]])
        num <- names(rt)[grepl("^\\.", names(rt))]
        grp[[g]][[key]] <- list(
          label_column = lab_col,
          columns = I(names(rt)),
          values = table_keyed(rt[num], labels),
          warnings = r$warnings,
          include_ls = is.null(ls_error),
          ls_error = ls_error)
      }
    }
    out$resid <- list(obs = obs, group = grp)
  } else {
    out$resid <- list(error = tryCatch(HLMdiag::hlm_resid(m), error = conditionMessage))
  }

  # ---- exact refits (HLMdiag's convention: REML, default control, cold start) ----------
  if ("hlmdiag_refit" %in% unlist(req$sources)) {
    t_refit <- Sys.time()
    hi <- tryCatch(with_warnings(HLMdiag::hlm_influence(
      m, level = lev_arg, approx = FALSE,
      leverage = c("overall", "fixef", "ranef", "ranef.uc"))),
      error = function(e) list(error = conditionMessage(e)))
    refit_seconds <- as.numeric(difftime(Sys.time(), t_refit, units = "secs"))
    cdel <- with_warnings(HLMdiag::case_delete(m, level = lev_arg))
    cdv <- cdel$value
    fd <- cdv$fixef.delete
    if (level == "1") {
      labels <- rn[fd[, "deleted"]]
      fd <- fd[, colnames(fd) != "deleted", drop = FALSE]
    } else {
      labels <- rownames(fd)
    }
    # The measures hlm_influence(approx = FALSE) reports, from the same case_delete object
    # (each on its own: HLMdiag fails on some, e.g. Cook's D / MDFFITS when p = 1 at
    # level 1, where it drops the fixef matrix to a vector).
    safe <- function(expr) tryCatch(keyed(expr, labels), error = function(e)
      list(error = conditionMessage(e)))
    meas <- list(
      cooksd = safe(stats::cooks.distance(cdv)),
      mdffits = safe(HLMdiag::mdffits(cdv)),
      covtrace = safe(HLMdiag::covtrace(cdv)),
      covratio = safe(HLMdiag::covratio(cdv)))
    rv <- HLMdiag::rvc(cdv)
    meas$rvc <- sapply(colnames(rv), function(nm) keyed(rv[, nm], labels), simplify = FALSE)
    if (is.null(hi$error)) {
      tab <- as.data.frame(hi$value)
      num <- setdiff(names(tab)[vapply(tab, is.numeric, TRUE)], c("id", names(m@frame)))
      # hlm_influence(approx = FALSE) rows are in case_delete's order (labels above); its
      # own label column is unique(flist[[level]]), which can differ (see the header).
      same <- vapply(num[!startsWith(num, "leverage")], function(nm) {
        a <- tab[[nm]]
        b <- if (startsWith(nm, "rvc.")) meas$rvc[[sub("^rvc\\.", "", nm)]] else meas[[nm]]
        isTRUE(all.equal(unname(a), unname(b), tolerance = 0))
      }, TRUE)
      own_labels <- if (level == "1") rn[tab$id] else as.character(tab[[level]])
      hi_info <- list(columns = I(names(tab)), equals_case_delete = as.list(same),
                      label_order_correct = identical(own_labels, labels),
                      warnings = hi$warnings, seconds = refit_seconds)
    } else {
      hi_info <- list(error = hi$error)
    }
    out$refit <- list(
      measures = meas,
      hlm_influence = hi_info,
      fixef_delete = sapply(colnames(fd), function(b) keyed(fd[, b], labels),
                            simplify = FALSE),
      vcov_delete = setNames(lapply(cdv$vcov.delete, function(v) I(as.vector(t(v)))),
                             labels),
      varcomp_delete = setNames(lapply(cdv$varcomp.delete, as.list), labels),
      varcomp_original = as.list(cdv$varcomp.original),
      fixef_original = cdv$fixef.original,
      vcov_original = I(as.vector(t(cdv$vcov.original))),
      coef_names = I(colnames(fd)),
      warnings_case_delete = cdel$warnings)
  }
  out$timing <- list(total_seconds = as.numeric(difftime(Sys.time(), t_start, units = "secs")))
  out
}

if (sys.nframe() == 0L) {
  self <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
  r_dir <- dirname(self)
  source(file.path(r_dir, "io.R"))
  args <- commandArgs(TRUE)
  req <- jsonlite::fromJSON(args[1], simplifyVector = FALSE)
  write_json(hlmdiag_reference(req, r_dir), args[2])
}
