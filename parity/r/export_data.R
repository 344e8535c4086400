# Export R datasets to fixtures/data/<name>.csv + <name>.json.
# Usage: Rscript parity/r/export_data.R OUTDIR Name=package [Name=package ...]
# Every export is re-read with read_dataset() and must be identical() to the original.

self <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
source(file.path(dirname(self), "io.R"))

args <- commandArgs(TRUE)
outdir <- args[1]
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

export_one <- function(name, pkg) {
  env <- new.env()
  utils::data(list = name, package = pkg, envir = env)
  d <- get(name, envir = env)
  # nlme groupedData etc.: keep only the plain data.frame columns
  d <- as.data.frame(lapply(d, function(x) { attributes(x) <- attributes(x)[c("levels", "class")]; x }),
                     optional = TRUE, stringsAsFactors = FALSE)
  rownames(d) <- rownames(get(name, envir = env))
  meta <- write_dataset(d, outdir, name, list(
    name = name, source = paste0(pkg, "::", name), r_class = I(class(get(name, envir = env))),
    package = pkg, package_version = as.character(packageVersion(pkg)),
    R_version = R.version.string))
  write_json(meta, file.path(outdir, paste0(name, ".json")))
  cat(sprintf("%-12s %-7s %6d rows  %2d cols  NA=%d  sha256=%s\n", name, pkg, nrow(d),
              ncol(d), sum(is.na(d)), substr(meta$csv_sha256, 1, 12)))
}

for (a in args[-1]) {
  kv <- strsplit(a, "=", fixed = TRUE)[[1]]
  export_one(kv[1], kv[2])
}
