# Export a fitted lme4 model from your own R session so that interlace can certify it:
#
#   source("<interlace>/parity/r/export_fit.R")
#   m <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
#   interlace_export(m, "certify/")          # writes certify/m.json and certify/m.csv
#
# and then, in Python: nox -s certify -- certify/   (or python -m parity.certify certify/).
#
# interlace_export(model, dir, name = NULL, diagnostics = FALSE, floor = TRUE) takes a fitted
# lmerMod, lmerModLmerTest or glmerMod. It writes
#   <dir>/<name>.csv   the data's columns the model uses (all rows, R's exact values), and
#   <dir>/<name>.json  the call (formula, REML or family/link/nAGQ, weights, offset,
#                      contrasts, optimizer), the data's column types, levels and SHA-256,
#                      R's and the packages' versions, and every quantity the parity catalog
#                      compares: R refits the model from the exported CSV exactly as
#                      parity/r/lmer_reference.R (glmer_reference.R) fits a catalog case,
#                      and checks that the refit reproduces your fit; with floor = TRUE
#                      also lme4's own floor: the model refitted on 8 (GLMM: 16) seeded row
#                      permutations of the data, how far lme4's optimum moves when only
#                      the rounding changes, which sets the at-optimum tolerances.
# diagnostics = TRUE adds lme4's influence(model) (every observation deleted and the model
# refitted), diagnostics = "Subject" (or several names, "1" for observations) influence(model,
# groups = "Subject"): interlace's influence() is then compared with it at lme4's deleted
# θ (exact arithmetic) and from its own refits.
# It needs lme4 and jsonlite (lmerTest's Satterthwaite df when lmerTest is installed, and
# Kenward-Roger's SEs and df of a REML fit without weights when pbkrtest is too). What
# interlace cannot reproduce is refused with an error naming it: subset=, other na.action
# than na.omit, contrast matrices or functions other than R's five built-in ones, start=,
# families interlace lacks. The model must have been fitted with data = a data frame that
# is still visible where the model's formula was created. The helpers next to this file
# (io.R, lmer_reference.R, glmer_reference.R) are sourced from its directory.

local({
  here <- if (!is.null(sys.frame(1)$ofile)) dirname(normalizePath(sys.frame(1)$ofile)) else
    getOption("interlace.r_dir", ".")
  for (f in c("io.R", "lmer_reference.R", "glmer_reference.R", "floors.R",
              "influence_reference.R"))
    sys.source(file.path(here, f), envir = globalenv())
  assign(".interlace_r_dir", here, envir = globalenv())
})

#: R's contrast functions interlace reproduces
.interlace_contrasts <- c("contr.treatment", "contr.SAS", "contr.sum", "contr.helmert",
                          "contr.poly")
#: families and links interlace.glmer fits
.interlace_families <- list(
  binomial = c("logit", "probit", "cloglog", "cauchit", "log"),
  poisson = c("log", "sqrt", "identity"),
  Gamma = c("inverse", "identity", "log"),
  inverse.gaussian = c("1/mu^2", "inverse", "identity", "log"),
  gaussian = c("log", "inverse"))

interlace_export <- function(model, dir, name = NULL, diagnostics = FALSE, floor = TRUE,
                             seed = 20261202L) {
  if (is.null(name)) name <- deparse(substitute(model))
  if (!grepl("^[A-Za-z0-9._-]+$", name))
    stop("interlace_export: name must be letters, digits, '.', '_' or '-' (got '", name,
         "'); give name = \"...\"")
  kind <- if (inherits(model, "glmerMod")) "glmm" else if (inherits(model, "lmerMod")) "lmm"
          else stop("interlace_export: model must be a fitted lmer() or glmer() model ",
                    "(class lmerMod, lmerModLmerTest or glmerMod), not ", class(model)[1])
  cl <- model@call
  env <- environment(formula(model))
  levels <- .interlace_diag_levels(diagnostics, model)
  # the floors draw seeded permutations: leave the session's random numbers as they were
  had_seed <- exists(".Random.seed", envir = globalenv(), inherits = FALSE)
  if (had_seed) old_seed <- get(".Random.seed", envir = globalenv())
  on.exit(if (had_seed) assign(".Random.seed", old_seed, envir = globalenv())
          else if (exists(".Random.seed", envir = globalenv(), inherits = FALSE))
            rm(".Random.seed", envir = globalenv()), add = TRUE)
  .interlace_refuse_call(cl)

  # ---- the data: the variables the call uses, every row of the user's data frame
  data <- tryCatch(eval(cl$data, env), error = function(e) NULL)
  if (!is.data.frame(data))
    stop("interlace_export: cannot find the model's data (", deparse1(cl$data), ") where ",
         "its formula was created; fit with data = <a data frame> and export from that session")
  fml <- formula(model)
  vars <- unique(c(all.vars(fml), all.vars(cl$weights), all.vars(cl$offset)))
  missing <- setdiff(vars, names(data))
  if (length(missing))
    stop("interlace_export: the model uses variable(s) not in its data frame: ",
         paste(missing, collapse = ", "), " (put them in the data)")
  d <- data[, vars, drop = FALSE]
  d[] <- lapply(d, function(x) { attributes(x) <- attributes(x)[c("levels", "class")]; x })
  d <- as.data.frame(d, optional = TRUE, stringsAsFactors = FALSE)
  rownames(d) <- rownames(data)
  weights <- .interlace_column(cl$weights, "weights", data, env, d)
  d <- weights$d
  offset <- .interlace_column(cl$offset, "offset", data, env, d)
  d <- offset$d

  # ---- how factors are coded
  X <- getME(model, "X")
  ctr <- attr(X, "contrasts")
  bad <- names(ctr)[!vapply(ctr, function(x) is.character(x) && length(x) == 1L &&
                              x %in% .interlace_contrasts, NA)]
  if (length(bad))
    stop("interlace_export: unsupported contrasts for ", paste(bad, collapse = ", "),
         ": interlace reproduces R's ", paste(.interlace_contrasts, collapse = ", "),
         " given by name, not contrast matrices or other functions")
  opts <- getOption("contrasts")
  default <- if (!identical(unname(opts), c("contr.treatment", "contr.poly"))) I(unname(opts))
  if (!is.null(default) && !all(default %in% .interlace_contrasts))
    stop("interlace_export: options(contrasts = ) names unsupported functions: ",
         paste(setdiff(default, .interlace_contrasts), collapse = ", "))

  # ---- the request a catalog case would make, then R's reference from the exported data
  dir.create(dir, showWarnings = FALSE, recursive = TRUE)
  head <- list(name = name, source = paste0("interlace_export(", name, ")"),
               r_class = I(class(data)), R_version = R.version.string)
  meta <- write_dataset(d, dir, name, head)
  side <- tempfile(fileext = ".json")
  on.exit(unlink(side), add = TRUE)
  write_json(meta, side)
  case <- list(id = name, dataset = name, formula = deparse1(fml, collapse = " "),
               weights = weights$name, offset = offset$name,
               contrasts = if (length(ctr)) ctr, contrasts_default = default)
  req <- c(case, list(data_csv = file.path(dir, paste0(name, ".csv")), data_json = side))
  if (kind == "lmm") {
    case$method <- if (isREML(model)) "REML" else "ML"
    opt <- model@optinfo$optimizer
    case$r_optimizer <- if (!identical(opt, "nloptwrap")) opt
    req <- c(req, list(REML = isREML(model), r_optimizer = case$r_optimizer,
                       extra_theta = list()))
    fx <- lmer_reference(req, .interlace_r_dir)
    fx$kenward_roger <- .interlace_kenward_roger(model, cl)
    if (isTRUE(floor))
      fx$floor <- lmer_floor(c(req, list(seed = seed, permutations = 8L)), .interlace_r_dir)
  } else {
    fam <- family(model)
    if (!fam$family %in% names(.interlace_families) ||
        !fam$link %in% .interlace_families[[fam$family]])
      stop("interlace_export: family ", fam$family, "(link = \"", fam$link, "\") is not ",
           "one interlace.glmer fits")
    case <- c(case, list(family = fam$family, link = fam$link,
                         nAGQ = as.integer(model@devcomp$dims[["nAGQ"]])))
    req <- c(req, case[c("family", "link", "nAGQ")])
    fx <- glmer_reference(req, .interlace_r_dir)
    if (isTRUE(floor))
      fx$floor <- glmer_floor(c(req, list(seed = seed, permutations = 16L)), .interlace_r_dir)
  }
  # lme4's influence() at each deletion level, on the model refitted from the exported data
  if (length(levels))
    fx$influence <- sapply(levels, function(lev)
      influence_reference(c(req, list(id = paste0(name, "/", lev), model = name, level = lev)),
                          .interlace_r_dir), simplify = FALSE)
  # the criterion lme4 optimized (REML for a REML lmer, else the deviance), and the refit's
  refit_theta <- vapply(fx$theta, `[[`, 0, "value")
  refit_obj <- fx$objective$value
  cmp <- getME(model, "devcomp")$cmp
  original_obj <- unname(if (isREML(model)) cmp[["REML"]] else cmp[["dev"]])
  rel <- function(a, b) max(c(0, abs(a - b) / pmax(abs(b), 1e-300)))
  fx$export <- list(
    kind = kind, case = case, data = meta,
    call = deparse1(cl, collapse = " "), diagnostics = I(levels),
    script_sha256 = sha256_file(file.path(.interlace_r_dir, "export_fit.R")),
    session = list(R = R.version.string, platform = R.version$platform,
                   lme4 = as.character(packageVersion("lme4")),
                   lmerTest = if (requireNamespace("lmerTest", quietly = TRUE))
                     as.character(packageVersion("lmerTest")),
                   pbkrtest = if (requireNamespace("pbkrtest", quietly = TRUE))
                     as.character(packageVersion("pbkrtest")),
                   Matrix = as.character(packageVersion("Matrix")),
                   options_contrasts = I(opts)),
    original = list(theta = I(unname(getME(model, "theta"))), fixef = fixef(model),
                    objective = original_obj, optimizer = I(model@optinfo$optimizer)),
    refit = list(theta_max_rel_diff = rel(refit_theta, unname(getME(model, "theta"))),
                 fixef_max_rel_diff = rel(unlist(fx$fixef), unname(fixef(model))),
                 objective_rel_diff = rel(refit_obj, original_obj)),
    date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC"))
  out <- file.path(dir, paste0(name, ".json"))
  write_json(fx, out)
  if (fx$export$refit$objective_rel_diff > 1e-8)
    warning("interlace_export: R's refit from the exported data does not reproduce your fit ",
            "(criterion differs by ", signif(fx$export$refit$objective_rel_diff, 3),
            " relative): the call may use settings the export does not carry (control=?)")
  invisible(out)
}

# The deletion levels of `diagnostics`: FALSE -> none, TRUE -> "1" (observations), else
# grouping factor names of the model (and/or "1").
.interlace_diag_levels <- function(diagnostics, model) {
  if (isFALSE(diagnostics) || is.null(diagnostics)) return(character())
  if (isTRUE(diagnostics)) return("1")
  if (!is.character(diagnostics) || !length(diagnostics) || anyNA(diagnostics))
    stop("interlace_export: diagnostics must be TRUE, FALSE or grouping factor name(s) ",
         "(\"1\" for observations)")
  bad <- setdiff(diagnostics, c("1", names(model@flist)))
  if (length(bad))
    stop("interlace_export: diagnostics names no grouping factor of the model: ",
         paste(bad, collapse = ", "), " (its factors: ",
         paste(names(model@flist), collapse = ", "), ")")
  unique(diagnostics)
}

# lmerTest's summary(m, ddf = "Kenward-Roger") coefficients (pbkrtest's vcovAdj and Lb_ddf)
# of a REML fit without prior weights, when lmerTest and pbkrtest are installed; else why not.
.interlace_kenward_roger <- function(model, cl) {
  why <- if (!isREML(model)) "an ML fit (lmerTest refuses Kenward-Roger for it)"
         else if (!is.null(cl$weights)) "prior weights (pbkrtest ignores them)"
         else if (!requireNamespace("lmerTest", quietly = TRUE) ||
                  !requireNamespace("pbkrtest", quietly = TRUE)) "lmerTest or pbkrtest missing"
  if (!is.null(why)) return(list(skipped = why))
  tryCatch({
    co <- suppressMessages(summary(lmerTest::as_lmerModLmerTest(model),
                                   ddf = "Kenward-Roger")$coefficients)
    col <- function(j) as.list(setNames(unname(co[, j]), rownames(co)))
    list(se = col("Std. Error"), df = col("df"), t_value = col("t value"),
         p_value = col("Pr(>|t|)"), pbkrtest = as.character(packageVersion("pbkrtest")))
  }, error = function(e) list(skipped = paste("R failed:", conditionMessage(e))))
}

# Refuse what the export cannot carry, naming it.
.interlace_refuse_call <- function(cl) {
  known <- c("", "formula", "data", "REML", "family", "weights", "offset", "contrasts",
             "control", "nAGQ", "na.action", "verbose")
  extra <- setdiff(names(cl), known)
  if (length(extra))
    stop("interlace_export: the call uses argument(s) interlace does not reproduce: ",
         paste(extra, collapse = ", "), if ("subset" %in% extra)
           " (subset the data frame before fitting instead)")
  if (!is.null(cl$na.action)) {
    na <- deparse1(cl$na.action)
    if (!na %in% c("na.omit", "\"na.omit\""))
      stop("interlace_export: na.action = ", na, " is not supported (interlace omits rows ",
           "with missing values, as na.omit)")
  }
  na_opt <- getOption("na.action")
  if (is.null(cl$na.action) && !identical(na_opt, "na.omit"))
    stop("interlace_export: options(na.action = \"", na_opt, "\") is not supported ",
         "(interlace omits rows with missing values, as na.omit)")
}

# weights= / offset= as a column of the exported data: the column itself when the argument
# names one, else the values R evaluated, added as column "export_weights" / "export_offset".
.interlace_column <- function(expr, what, data, env, d) {
  if (is.null(expr)) return(list(name = NULL, d = d))
  if (is.name(expr) && as.character(expr) %in% names(d))
    return(list(name = as.character(expr), d = d))
  v <- eval(expr, data, env)
  if (!is.numeric(v) || length(v) != nrow(data))
    stop("interlace_export: ", what, " = ", deparse1(expr), " must give one number per row")
  col <- paste0("export_", what)
  d[[col]] <- as.double(v)
  list(name = col, d = d)
}
