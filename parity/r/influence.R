# lme4 influence.merMod reference (or, with "floor", R's reproducibility floor) for one
# [[diagnostics]] entry.
# Usage: Rscript parity/r/influence.R request.json out.json [reference|floor]
# The work is done in influence_reference.R (shared with live mode through rpy2).

self <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
r_dir <- dirname(self)
source(file.path(r_dir, "io.R"))
source(file.path(r_dir, "lmer_reference.R"))
source(file.path(r_dir, "glmer_reference.R"))
source(file.path(r_dir, "influence_reference.R"))

args <- commandArgs(TRUE)
req <- jsonlite::fromJSON(args[1], simplifyVector = FALSE)
what <- if (length(args) >= 3) args[3] else "reference"
out <- switch(what, reference = influence_reference(req, r_dir),
              floor = influence_floor(req, r_dir), stop("unknown mode ", what))
write_json(out, args[2])
