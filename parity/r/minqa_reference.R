# Reference paths of minqa::bobyqa (Powell's BOBYQA as lme4's glmer stage 1 runs it).
#
#   Rscript parity/r/minqa_reference.R out.json
#
# Runs minqa::bobyqa on deterministic test problems and writes, per problem, the full
# trace of the objective's calls (every x and the value returned, in call order: minqa's
# check call at par, the Fortran's feval calls, then rval()'s call at the result), the
# result (par, fval, feval, ierr, msg) and R's warnings; every double with 17 significant
# digits (io.R's write_json).  tests/test_powell_bobyqa.py runs interlace's port
# (interlace.optimize.powell) on the same functions, written with the same arithmetic:
# explicit loops and products (no sum(), %*% or ^, whose order or precision could
# differ), so that the values agree to the last bit.
#
# Only base R, minqa and digest.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1L) stop("usage: Rscript minqa_reference.R out.json")
out_path <- args[1]
script_path <- normalizePath(sub("^--file=", "",
  grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)[1]))
source(file.path(dirname(script_path), "io.R"))
suppressPackageStartupMessages(library(minqa))

# ---- objective functions ------------------------------------------------------------
# y' A y with A given by rows (a numeric vector of n*n), summed in row-major loop order.
quadform <- function(y, A) {
  n <- length(y)
  v <- 0
  for (i in seq_len(n)) for (j in seq_len(n)) v <- v + y[i] * A[(i - 1L) * n + j] * y[j]
  v
}

rosenbrock <- function(x) {  # chained Rosenbrock
  v <- 0
  for (i in seq_len(length(x) - 1L)) {
    a <- x[i + 1L] - x[i] * x[i]
    b <- 1 - x[i]
    v <- v + 100 * a * a + b * b
  }
  v
}

variance_at_zero <- function(x) {  # a variance-like parameter whose optimum is the bound 0
  a <- x[1] + 0.3
  a * a + 0.1 * x[1] * x[1] * x[1] * x[1]
}

profile_1d <- function(x) {  # a profiled-deviance-like curve, minimum at sqrt(2)
  q <- 1 + x[1] * x[1]
  10 * log(q) + 30 / q
}

A3 <- c(4, 1.5, 0.5,
        1.5, 3, 1,
        0.5, 1, 2)
quad_corr3 <- function(x) {  # 0.5 x'Ax - b'x, correlated, unbounded
  b <- c(1, -2, 0.5)
  v <- 0.5 * quadform(x, A3)
  for (i in 1:3) v <- v - b[i] * x[i]
  v
}

theta3 <- function(x) {  # x1 interior, x3 wants to be negative (bound 0 active)
  a <- x[1] - 0.8
  b <- x[2] - 0.3 * x[1] + 0.1
  c <- x[3] + 0.2
  a * a + 2 * b * b + c * c * (1 + x[1] * x[1])
}

flat5 <- function(x) {  # does not depend on x[4]
  a <- x[1] - 0.3
  b <- x[2] + 0.2
  c <- x[3] - x[1]
  d <- x[5] - 1
  a * a + 2 * b * b + c * c + 0.5 * d * d + 0.3 * x[1] * x[2]
}

S5 <- c(0.1, 0.3, 1, 3, 10)
C5 <- c(0.1, 0.2, 0.3, 0.4, 0.5)
scaled5 <- function(x) {  # badly scaled, unbounded
  v <- 0
  for (i in 1:5) {
    t <- S5[i] * (x[i] - C5[i])
    v <- v + t * t
  }
  v + 0.1 * (x[1] - C5[1]) * (x[5] - C5[5])
}

A8 <- as.vector(sapply(1:8, function(i) sapply(1:8, function(j)
  if (i == j) 2 else if (abs(i - j) == 1) 0.5 else 0)))
M8 <- c(0.5, -0.3, 0.2, -0.4, 0.1, 0.7, -0.2, 0.3)
theta8 <- function(x) {  # lme4-like theta: mixed bounds, some optima at the bound 0
  y <- x - M8
  v <- quadform(y, A8)
  for (i in 1:8) v <- v + 0.1 * y[i] * y[i] * y[i] * y[i]
  v
}

A4R <- c(3.8204, -4.5922, 0.9892, 3.3195,
         -4.5922, 6.0065, -1.4651, -3.4663,
         0.9892, -1.4651, 0.794, 1.2195,
         3.3195, -3.4663, 1.2195, 5.22)
S4R <- c(0.037, 0.094, 0.287, 0.86)
C4R <- c(-2.72, -0.61, 0.38, 0.46)
rescue4 <- function(x) {  # quadratic plus |.|: tiny rhobeg makes BOBYQB call RESCUE
  y <- (x - C4R) * S4R
  v <- quadform(y, A4R)
  for (i in 1:4) v <- v + abs(y[i])
  v
}

A3Q <- c(2.0661, -1.443, 1.8819,
         -1.443, 2.4456, -1.8965,
         1.8819, -1.8965, 1.9695)
S3Q <- c(21.495, 52.443, 0.015)
C3Q <- c(1.29, 0.4, 0.2)
quad3q <- function(x) quadform((x - C3Q) * S3Q, A3Q)

narrow2 <- function(x) {  # x2's range is narrow; its optimum is the upper bound
  a <- x[1] - 1.3
  b <- x[2] - 0.2
  a * a + 5 * b * b
}

near2 <- function(x) {  # optimum close to x1's lower bound
  a <- x[1] - 0.1
  b <- x[2] - 1.95
  a * a + 3 * b * b + 0.2 * x[1] * x[2]
}

A3C <- c(8.0683, -0.2322, 0.2069,
         -0.2322, 4.8159, 3.6684,
         0.2069, 3.6684, 4.7815)
S3C <- c(8.406, 0.358, 27.343)
C3C <- c(-0.08, -0.67, 0.76)
cliff3 <- function(x) {  # Inf beyond x1 = 0.42 (the start is there): TRSBOX fixes at 100
  if (x[1] > C3C[1] + 0.5) return(Inf)
  quadform((x - C3C) * S3C, A3C)
}

A2G <- c(0.69, 1.6541,
         1.6541, 4.8431)
S2G <- c(2.351, 2.96)
C2G <- c(0.9, -1.15)
quad2g <- function(x) quadform((x - C2G) * S2G, A2G)

nonfinite2 <- function(x) {  # Inf and NaN regions: minqa's calfun turns them to DBL_MAX
  if (x[1] + x[2] > 2.5) return(Inf)
  if (x[1] < -1) return(NaN)
  a <- x[1] - 1.5
  b <- x[2] - 1.5
  a * a + b * b + 0.5 * a * b
}

# ---- problems -------------------------------------------------------------------------
P <- function(name, purpose, fn, x0, lower, upper, control = list(), garbage = FALSE)
  list(name = name, purpose = purpose, fn = fn, x0 = x0, lower = lower, upper = upper,
       control = c(list(iprint = 0L), control), garbage = garbage)

problems <- list(
  P("rosenbrock_n2_box", "Rosenbrock valley, finite bounds inactive at the optimum",
    rosenbrock, c(-1.2, 1), c(-5, -5), c(5, 5)),
  P("rosenbrock_n2_upper_active", "Rosenbrock, upper bound on x1 active; x2 starts on its upper bound",
    rosenbrock, c(-1.2, 2), c(-2, -2), c(0.5, 2)),
  P("variance_n1_at_zero", "n = 1 (npt = 3), optimum at the lower bound 0",
    variance_at_zero, 1, 0, Inf),
  P("profile_n1_interior", "n = 1 from lme4's 0.001 start (rhobeg 2e-4), interior optimum",
    profile_1d, 0.001, 0, Inf),
  P("quad_corr_n3_free", "correlated convex quadratic, all coordinates unbounded",
    quad_corr3, c(1, 1, 1), rep(-Inf, 3), rep(Inf, 3)),
  P("theta_n3_start_on_bound", "x1, x3 start on the lower bound 0; x2 unbounded; x3 optimum at 0",
    theta3, c(0, 0.5, 0), c(0, -Inf, 0), rep(Inf, 3)),
  P("flat_n5", "flat in x4, box bounds", flat5, rep(0.5, 5), rep(-2, 5), rep(2, 5)),
  P("scaled_n5_free", "scales 0.1 to 10, unbounded", scaled5, rep(1, 5), rep(-Inf, 5), rep(Inf, 5)),
  P("theta_n8_mixed", "n = 8, lme4-like bounds (0 or -Inf), x0 = lme4's default theta",
    theta8, c(1, 0, 0, 1, 0, 1, 1, 1), c(0, -Inf, -Inf, 0, -Inf, 0, 0, 0), rep(Inf, 8)),
  P("rosenbrock_n3_maxfun", "maxfun = 40 reached in the main loop (ierr 1)",
    rosenbrock, c(-1.2, 1, 1), rep(-Inf, 3), rep(Inf, 3), list(maxfun = 40L)),
  P("maxfun_below_npt_n2", "maxfun = 3 < npt: stop inside PRELIM (ierr 1)",
    rosenbrock, c(-1.2, 1), c(-5, -5), c(5, 5), list(maxfun = 3L)),
  P("rescue_n4_tiny_rhobeg", "rhobeg 5e-4 far below the scale: RESCUE (no evaluations), ALTMOV",
    rescue4, c(-3.42, 0.78, 1.23, -0.66), c(-3.42, -0.27, 1.23, -Inf), c(-1.19, 1.28, 3.02, Inf),
    list(rhobeg = 5e-4, rhoend = 3e-10, maxfun = 700L)),
  P("ierr3_n3_tiny_rhoend", "rhoend 1e-13: a trust-region step fails to reduce Q (ierr 3)",
    quad3q, c(1.93, 1.4, 0.18), c(-Inf, 0.99, 0.18), c(Inf, 1.71, 0.44), list(rhoend = 1e-13)),
  P("narrow_range_n2", "a range < 2*rhobeg: R reduces rhobeg; Fortran moves x2 off its bound",
    narrow2, c(1, 0.14), c(0, 0), c(2, 0.15)),
  P("npt_full_n3", "npt = (n+1)(n+2)/2 = 10: PRELIM's off-diagonal points",
    rosenbrock, c(0.5, 0.5, 0.5), rep(-Inf, 3), rep(Inf, 3), list(npt = 10L)),
  P("nonfinite_n2", "Inf and NaN objective values (DBL_MAX in the Fortran)",
    nonfinite2, c(0.5, 0), c(-2, -2), c(3, 3)),
  P("near_bounds_n2", "x0 within rhobeg of a lower and of an upper bound: the Fortran moves it",
    near2, c(0.05, 1.9), c(0, -1), c(3, 2)),
  P("cliff_n3_start_inf", "f(x0) = Inf, x0 on an upper and a lower bound, rhoend 4e-15",
    cliff3, c(0.49, -0.22, 0.46), c(-0.37, -0.43, 0.46), c(Inf, -0.22, Inf),
    list(rhoend = 4e-15, maxfun = 300L)),
  # minqa's RESCUE passes an undefined local X to CALFUN (Powell: W), so R evaluates stack
  # garbage there (it includes the stack canary, random per process): the trace is
  # reproducible only up to that call, and R may even stop with "non-finite x values".
  P("rescue_evals_n2_minqa_garbage", "RESCUE evaluates F: minqa evaluates garbage (bug)",
    quad2g, c(2.08, -0.64), c(0.8, -0.64), c(2.08, Inf),
    list(rhobeg = 1e-6, npt = 6L, maxfun = 300L), garbage = TRUE)
)

# ---- run ------------------------------------------------------------------------------
run_problem <- function(p) {
  xs <- list()
  fs <- numeric()
  recorder <- function(x) {
    v <- p$fn(x)
    xs[[length(xs) + 1L]] <<- as.double(x)
    fs <<- c(fs, v)
    v
  }
  warns <- character()
  call <- function() withCallingHandlers(
    bobyqa(p$x0, recorder, lower = p$lower, upper = p$upper, control = p$control),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  error <- NULL
  r <- if (!p$garbage) call() else tryCatch(call(), error = function(e) {
    error <<- conditionMessage(e)
    list(par = NA_real_, fval = NA_real_, feval = NA_integer_, ierr = NA_integer_,
         msg = NA_character_)
  })
  list(
    name = p$name,
    purpose = p$purpose,
    n = length(p$x0),
    x0 = I(as.double(p$x0)),
    lower = I(as.double(p$lower)),
    upper = I(as.double(p$upper)),
    control = p$control,
    trace = list(x = lapply(xs, I), f = I(fs)),
    result = list(par = I(as.double(r$par)), fval = r$fval, feval = as.integer(r$feval),
                  ierr = as.integer(r$ierr), msg = r$msg, error = error),
    warnings = I(warns),
    minqa_rescue_garbage = p$garbage
  )
}

results <- lapply(problems, run_problem)
names(results) <- NULL

out <- list(
  provenance = list(
    R = R.version.string,
    minqa = as.character(packageVersion("minqa")),
    digest = as.character(packageVersion("digest")),
    script = "parity/r/minqa_reference.R",
    script_sha256 = sha256_file(script_path),
    io_sha256 = sha256_file(file.path(dirname(script_path), "io.R")),
    date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")
  ),
  problems = results
)
write_json(out, out_path)
