# A catalog dataset by name (fixtures/data/<name>.csv and its JSON sidecar), read exactly as
# io.R's read_dataset reads it; sourced after io.R by scripts that take a data_dir.
catalog_dataset <- function(data_dir, name) {
  csv <- file.path(data_dir, paste0(name, ".csv"))
  meta <- jsonlite::fromJSON(file.path(data_dir, paste0(name, ".json")),
                             simplifyVector = FALSE)
  list(data = read_dataset(csv, meta), sha256 = sha256_file(csv))
}
