# lme4 glmer reference for one GLMM catalog case, or lme4's GH rule table.
# Usage: Rscript parity/r/glmer.R request.json out.json [reference|ghrule]
# The work is done in glmer_reference.R (shared with live mode through rpy2).

self <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
r_dir <- dirname(self)
source(file.path(r_dir, "io.R"))
source(file.path(r_dir, "glmer_reference.R"))

args <- commandArgs(TRUE)
req <- jsonlite::fromJSON(args[1], simplifyVector = FALSE)
what <- if (length(args) >= 3) args[3] else "reference"
out <- switch(what,
  reference = glmer_reference(req, r_dir),
  ghrule = list(provenance = list(R = R.version.string,
                                  lme4 = as.character(packageVersion("lme4")),
                                  script_sha256 = sha256_file(file.path(r_dir, "glmer_reference.R")),
                                  date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")),
                rules = ghrule_table()),
  stop("unknown mode ", what))
write_json(out, args[2])
