# lme4's anova(m0, m1, ...) likelihood-ratio tables: the reference for interlace.anova
# (issue 11). Usage: Rscript parity/r/anova_reference.R request.json out.json
# request: {data_dir, comparisons: [{id, dataset, models: [{name, formula, REML | family,
# link}]}]}; each model is lmer(formula, data, REML) or glmer(formula, data, family(link)).
# Per comparison: the table (row names in lme4's order, every column) and each model's
# logLik as fitted, every double at 17 significant digits (io.R's write_json).
script_path <- normalizePath(sub("^--file=", "",
  grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(dirname(script_path), "catalog_data.R"))
ctx <- reference_request("anova_reference.R")
req <- ctx$req
suppressPackageStartupMessages(library(lme4))

run_comparison <- function(cmp) {
  ds <- catalog_dataset(req$data_dir, cmp$dataset)
  dat <- ds$data
  fits <- lapply(cmp$models, function(m) {
    cl <- if (is.null(m$family))
      call("lmer", formula = str2lang(m$formula), data = quote(dat), REML = isTRUE(m$REML))
    else call("glmer", formula = str2lang(m$formula), data = quote(dat),
              family = do.call(m$family, list(link = m$link)))
    suppressWarnings(suppressMessages(eval(cl)))
  })
  names(fits) <- vapply(cmp$models, `[[`, "", "name")
  tab <- suppressMessages(do.call(anova, c(unname(fits), list(model.names = names(fits)))))
  cols <- lapply(as.list(tab), function(v) I(unname(v)))
  list(id = cmp$id, rows = I(rownames(tab)), table = cols,
       loglik_as_fitted = lapply(fits, function(f) as.numeric(logLik(f))),
       data_sha256 = ds$sha256)
}

write_json(list(
  provenance = reference_provenance(script_path, c("lme4")),
  comparisons = lapply(req$comparisons, run_comparison)), ctx$out)
