# R's default random numbers after set.seed(): the reference for interlace.rng (issue 11).
# Usage: Rscript parity/r/rng_reference.R out.json
# For each seed: runif(n) and rnorm(n) each right after set.seed(seed), and one mixed
# sequence (runif(3), rnorm(4), runif(2), rnorm(1)) to check that the state carries over;
# and qnorm() on a grid of probabilities covering its three branches; and R's rexp,
# rbinom, rpois and rgamma (and statmod's rinvgauss) after set.seed(seed), each over
# parameter sets that reach every branch of their algorithms (inversion and BTPE; table
# inversion and the normal-based algorithm; GS and GD), parameters recycled as lme4's
# simulate recycles them.
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
dist_draws <- list(
  list(what = "rexp", seed = 7L, n = 300L, args = list(),
       fun = function(n, a) rexp(n)),
  list(what = "rbinom", seed = 11L, n = 400L,
       args = list(size = c(1, 1, 5, 12, 40, 80, 200, 1000, 3),
                   prob = c(0.2, 0.9, 0.5, 0.3, 0.8, 0.45, 0.7, 0.05, 0.999)),
       fun = function(n, a) rbinom(n, size = a$size, prob = a$prob)),
  list(what = "rpois", seed = 13L, n = 400L,
       args = list(mu = c(0.2, 1.5, 3, 7.5, 9.99, 10, 12.5, 40, 400, 2e4)),
       fun = function(n, a) rpois(n, a$mu)),
  list(what = "rgamma", seed = 17L, n = 400L,
       args = list(shape = c(0.3, 0.95, 1, 1.7, 3.686, 5, 13.5, 40),
                   scale = c(1, 2.5, 0.1, 7, 1, 0.5, 3, 0.01)),
       fun = function(n, a) rgamma(n, shape = a$shape, scale = a$scale)),
  list(what = "rinvgauss", seed = 19L, n = 400L,
       args = list(mean = c(1, 0.3, 250, 4e3, 2), shape = c(2, 0.05, 1e-4, 8, 1e-9)),
       fun = function(n, a) statmod::rinvgauss(n, mean = a$mean, shape = a$shape)))
dists <- lapply(dist_draws, function(d) {
  set.seed(d$seed)
  list(what = d$what, seed = d$seed, n = d$n, args = lapply(d$args, I),
       draws = I(d$fun(d$n, d$args)))
})
write_json(list(
  dists = dists,
  qnorm = list(p = I(p_grid), q = I(qnorm(p_grid))),
  provenance = list(R = R.version.string, RNGkind = I(RNGkind()),
                    script = "parity/r/rng_reference.R",
                    script_sha256 = sha256_file(script_path),
                    io_sha256 = sha256_file(file.path(dirname(script_path), "io.R")),
                    date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")),
  n = n, draws = draws), args[1])
