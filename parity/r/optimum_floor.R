# lme4's own floor at the optimum of one catalog case: the same model refitted on row
# permutations of the same data (a mathematically identical problem whose sums round
# differently). Where lme4's optimizer stops short on a flat surface, its criterion moves
# between permutations; that spread is the tolerance of the case's one-sided objective.
# Usage: Rscript parity/r/optimum_floor.R request.json out.json
# request: lmer_reference's request plus {seed, permutations}. The work is lmer_floor() in
# floors.R.
self <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
r_dir <- dirname(self)
for (f in c("io.R", "lmer_reference.R", "floors.R")) source(file.path(r_dir, f))

args <- commandArgs(TRUE)
req <- jsonlite::fromJSON(args[1], simplifyVector = FALSE)
write_json(lmer_floor(req, r_dir), args[2])
