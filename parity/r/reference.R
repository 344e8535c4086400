# Fit one catalog case with lme4::lmer and write a canonical JSON fixture.
# Usage: Rscript parity/r/reference.R request.json out.json
# The work is done by lmer_reference() in lmer_reference.R (shared with live mode).

self <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
r_dir <- dirname(self)
source(file.path(r_dir, "io.R"))
source(file.path(r_dir, "lmer_reference.R"))

args <- commandArgs(TRUE)
req <- jsonlite::fromJSON(args[1], simplifyVector = FALSE)
write_json(lmer_reference(req, r_dir), args[2])
