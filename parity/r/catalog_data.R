# Shared by the small reference scripts that take a request of catalog datasets
# (anova, contest, simulate, kr, lmertest_anova, ls_means and drop1 _reference.R). A script
# finds its own path with the usual --file= line, sources this file (which sources io.R
# next to it) and then calls reference_request(), catalog_lmer() and reference_provenance().

source(file.path(dirname(sys.frame(1)$ofile), "io.R"))

# The request (first argument, JSON) and the output path (second argument).
reference_request <- function(usage) {
  args <- commandArgs(trailingOnly = TRUE)
  if (length(args) != 2L) stop("usage: Rscript ", usage, " request.json out.json")
  list(req = jsonlite::fromJSON(args[1], simplifyVector = FALSE), out = args[2])
}

# A catalog dataset by name (fixtures/data/<name>.csv and its JSON sidecar), read exactly as
# io.R's read_dataset reads it, after the same sidecar check as the other reference scripts.
catalog_dataset <- function(data_dir, name) {
  csv <- file.path(data_dir, paste0(name, ".csv"))
  meta <- jsonlite::fromJSON(file.path(data_dir, paste0(name, ".json")),
                             simplifyVector = FALSE)
  sha <- sha256_file(csv)
  if (!identical(sha, meta$csv_sha256)) stop("data CSV sha256 does not match its sidecar")
  list(data = read_dataset(csv, meta), sha256 = sha)
}

# R's and the packages' versions, the script's and io.R's hashes, and the date.
reference_provenance <- function(script_path, packages, ...) {
  versions <- lapply(packages, function(p) as.character(packageVersion(p)))
  names(versions) <- packages
  c(list(R = R.version.string), versions, list(...),
    list(script = file.path("parity/r", basename(script_path)),
         script_sha256 = sha256_file(script_path),
         io_sha256 = sha256_file(file.path(dirname(script_path), "io.R")),
         date = format(Sys.time(), "%Y-%m-%dT%H:%M:%SZ", tz = "UTC")))
}

# A quiet lmer fit of a request's model {dataset, formula, exclude, contrasts} on its catalog
# dataset, and the CSV's sha256. `exclude` ({column: value, ...}) drops the rows matching every
# pair (then unused levels); `contrasts` ({variable: "contr.sum", ...}) is lmer's argument.
# The call is lmer(formula = <formula>, data = dat, REML = REML[, contrasts = ...]),
# evaluated here, so that update() of the fit finds `dat` in the formula's environment.
catalog_lmer <- function(data_dir, spec, REML = TRUE) {
  ds <- catalog_dataset(data_dir, spec$dataset)
  dat <- ds$data
  if (length(spec$exclude)) {
    drop <- Reduce(`&`, Map(function(col, val) as.character(dat[[col]]) == val,
                            names(spec$exclude), unlist(spec$exclude)))
    dat <- droplevels(dat[!drop, , drop = FALSE])
  }
  cl <- call("lmer", formula = str2lang(spec$formula), data = quote(dat), REML = REML)
  if (length(spec$contrasts)) cl$contrasts <- spec$contrasts
  m <- suppressWarnings(suppressMessages(eval(cl)))
  list(m = m, sha256 = ds$sha256)
}
