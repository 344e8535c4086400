# lme4::glmer's own floor at the optimum of one GLMM catalog case: the same model refitted
# on row permutations of the same data (a mathematically identical problem whose sums
# round differently). glmer's stage-1 BOBYQA stops within rhoend (1e-6 of its start radius)
# and its stage-2 Nelder-Mead within xt (1e-5 on theta), so the last bits of the deviance
# move the optimum by up to those amounts; this measures how far, quantity by quantity,
# and how far the Hessian-based standard errors move at one fixed point (the stored fit's)
# when only the rounding of the deviance changes.
# Usage: Rscript parity/r/glmer_floor.R request.json out.json
# request: glmer_reference's request plus {seed, permutations}. The work is glmer_floor() in
# floors.R.
self <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
r_dir <- dirname(self)
for (f in c("io.R", "glmer_reference.R", "floors.R")) source(file.path(r_dir, f))

args <- commandArgs(TRUE)
req <- jsonlite::fromJSON(args[1], simplifyVector = FALSE)
write_json(glmer_floor(req, r_dir), args[2])
