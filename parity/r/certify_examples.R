# Models fitted the way a user fits them in an R session, each exported with
# interlace_export(): the stored examples of `nox -s certify` (fixtures/certify/).
# Usage: Rscript parity/r/certify_examples.R OUTDIR
self <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(dirname(self), "export_fit.R"))
suppressPackageStartupMessages(library(lmerTest))
out <- commandArgs(TRUE)[1]

# lmerTest's lmer, REML, a correlated random slope; lme4's influence() deleting each
# observation and each subject
sleep_lmertest <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
interlace_export(sleep_lmertest, out, diagnostics = c("1", "Subject"))

# lme4's glmer: cbind binomial with sum-to-zero contrasts
cbpp_sum <- lme4::glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
                        family = binomial, contrasts = list(period = "contr.sum"))
interlace_export(cbpp_sum, out, diagnostics = "herd")

# ML with weights given as an expression, missing responses and SAS coding for every factor
# through options(contrasts = ), a factor in the random-effects term too; influence() by
# subject (its refits under the same options)
ergo <- as.data.frame(nlme::ergoStool)
ergo$effort[c(3, 17)] <- NA
ergo$Subject <- factor(as.character(ergo$Subject))
op <- options(contrasts = c("contr.SAS", "contr.poly"))
ergo_sas_ml <- lme4::lmer(effort ~ Type + (1 | Subject), ergo, REML = FALSE,
                          weights = 1 + as.integer(Type) / 4)
interlace_export(ergo_sas_ml, out, diagnostics = "Subject")
options(op)

# Poisson with an offset argument and an ordered factor left to contr.poly
gt <- lme4::grouseticks
gt$yr <- factor(gt$YEAR, ordered = TRUE)
ticks_offset <- lme4::glmer(TICKS ~ yr + (1 | LOCATION), gt, family = poisson,
                            offset = log(HEIGHT / 500))
interlace_export(ticks_offset, out)
