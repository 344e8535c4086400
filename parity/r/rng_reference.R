# R's default random numbers after set.seed(): the reference for interlace.rng (issue 11).
# Usage: Rscript parity/r/rng_reference.R out.json
# For each seed: runif(n) and rnorm(n) each right after set.seed(seed), and one mixed
# sequence (runif(3), rnorm(4), runif(2), rnorm(1)) to check that the state carries over;
# and qnorm() on a grid of probabilities covering its three branches.
# Every double at 17 significant digits (io.R's write_json), with R's version and RNGkind.
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1L) stop("usage: Rscript rng_reference.R out.json")
script_path <- normalizePath(sub("^--file=", "",
  grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(dirname(script_path), "io.R"))

RNGkind("Mersenne-Twister", "Inversion", "Rejection")
seeds <- c(1L, 42L, 123L, 0L, -1L, 2147483647L, -2147483647L, 20261202L)
n <- 1000L
draws <- lapply(seeds, function(s) {
  set.seed(s); u <- runif(n)
  set.seed(s); z <- rnorm(n)
  set.seed(s); mixed <- c(runif(3), rnorm(4), runif(2), rnorm(1))
  list(seed = s, runif = I(u), rnorm = I(z), mixed = I(mixed))
})
# R's qnorm() itself on both sides of every branch (|p - 0.5| <= .425, r <= 5, r > 5)
p_grid <- c(1e-300, 1e-100, 1e-20, 1e-12, 1.3e-11, 1e-8, 1e-5, 0.001, 0.0749, 0.075, 0.0751,
            0.2, 0.5, 0.7, 0.9249, 0.925, 0.9251, 0.999, 1 - 1e-8, 1 - 1e-15)
write_json(list(
  qnorm = list(p = I(p_grid), q = I(qnorm(p_grid))),
  provenance = list(R = R.version.string, RNGkind = I(RNGkind()),
                    script = "parity/r/rng_reference.R",
                    script_sha256 = sha256_file(script_path),
                    io_sha256 = sha256_file(file.path(dirname(script_path), "io.R")),
                    date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")),
  n = n, draws = draws), args[1])
