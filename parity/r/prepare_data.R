# A user catalog's dataset as R reads it, in io.R's exact CSV + sidecar form (see
# parity/user_catalog.py): read.csv() with strings as factors (levels in R's sorted order),
# written by write_dataset(), whose round trip must be identical().
# Usage: Rscript parity/r/prepare_data.R IN.csv OUTDIR NAME SOURCE_SHA256
self <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(dirname(self), "io.R"))
args <- commandArgs(TRUE)
d <- utils::read.csv(args[1], stringsAsFactors = TRUE, check.names = FALSE)
attr(d, "row.names") <- as.character(seq_len(nrow(d)))  # as read_dataset gives them back
dir.create(args[2], showWarnings = FALSE, recursive = TRUE)
meta <- write_dataset(d, args[2], args[3], list(
  name = args[3], source = basename(args[1]), source_sha256 = args[4],
  r_class = I("data.frame"), R_version = R.version.string))
write_json(meta, file.path(args[2], paste0(args[3], ".json")))
cat(sprintf("%s: %d rows, %d columns prepared from %s\n", args[3], nrow(d), ncol(d),
            basename(args[1])))
