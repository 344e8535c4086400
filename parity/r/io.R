# Shared helpers for export_data.R and reference.R: exact CSV I/O and a JSON writer
# that prints every double with 17 significant digits (jsonlite's digits = NA gives only
# 15 and does not round-trip). Sourced, never run directly.

# ---- JSON -----------------------------------------------------------------------------
# Conventions: NULL -> null; an unnamed atomic of length 1 -> scalar; wrap in I() to force
# an array; a named atomic or named list -> object; unnamed list -> array.
# Doubles: '%.17g' (integral values get '.0' so they parse as floats); NA -> null;
# NaN / Inf / -Inf -> the strings "NaN", "Inf", "-Inf".

json_esc <- function(s) {
  s <- enc2utf8(as.character(s))
  s <- gsub("\\", "\\\\", s, fixed = TRUE)
  s <- gsub("\"", "\\\"", s, fixed = TRUE)
  s <- gsub("\n", "\\n", s, fixed = TRUE)
  s <- gsub("\r", "\\r", s, fixed = TRUE)
  s <- gsub("\t", "\\t", s, fixed = TRUE)
  out <- paste0("\"", s, "\"")
  out[is.na(s)] <- "null"
  out
}

json_dbl <- function(x) {
  out <- sprintf("%.17g", x)
  plain <- grepl("^-?[0-9]+$", out)
  out[plain] <- paste0(out[plain], ".0")
  out[is.na(x)] <- "null"
  out[is.nan(x)] <- "\"NaN\""
  out[!is.na(x) & x == Inf] <- "\"Inf\""
  out[!is.na(x) & x == -Inf] <- "\"-Inf\""
  out
}

json_atoms <- function(x) {
  if (is.factor(x)) x <- as.character(x)
  if (is.double(x)) return(json_dbl(x))
  if (is.integer(x)) return(ifelse(is.na(x), "null", as.character(x)))
  if (is.logical(x)) return(ifelse(is.na(x), "null", ifelse(x, "true", "false")))
  if (is.character(x)) return(json_esc(x))
  stop("cannot encode type ", typeof(x))
}

to_json <- function(x, indent = 0L) {
  pad <- strrep("  ", indent + 1L)
  end <- paste0("\n", strrep("  ", indent))
  if (is.null(x)) return("null")
  if (is.atomic(x)) {
    if (!length(x)) return(if (is.null(names(x))) "[]" else "{}")
    nm <- names(x)
    vals <- json_atoms(unclass(x))
    if (!is.null(nm)) {
      return(paste0("{\n", paste0(pad, json_esc(nm), ": ", vals, collapse = ",\n"), end, "}"))
    }
    if (length(x) == 1L && !inherits(x, "AsIs")) return(vals)
    return(paste0("[", paste(vals, collapse = ", "), "]"))
  }
  if (is.list(x)) {
    if (!length(x)) return(if (is.null(names(x))) "[]" else "{}")
    parts <- vapply(x, to_json, "", indent = indent + 1L, USE.NAMES = FALSE)
    if (is.null(names(x))) {
      return(paste0("[\n", paste0(pad, parts, collapse = ",\n"), end, "]"))
    }
    return(paste0("{\n", paste0(pad, json_esc(names(x)), ": ", parts, collapse = ",\n"), end, "}"))
  }
  stop("cannot encode class ", class(x)[1])
}

write_json <- function(x, path) writeLines(to_json(x), path, useBytes = TRUE)

# ---- CSV ------------------------------------------------------------------------------
# Doubles as '%.17g' (NA -> NA, NaN/Inf as R prints them), integers as integers,
# factor labels / character / logical quoted or bare as write.csv would; NA bare.

csv_col <- function(x) {
  if (is.factor(x) || is.character(x)) {
    s <- as.character(x)
    if (any(s %in% c("NA", ""), na.rm = TRUE)) stop("label 'NA' or '' would be ambiguous")
    out <- paste0("\"", gsub("\"", "\"\"", s, fixed = TRUE), "\"")
  } else if (is.double(x)) {
    out <- sprintf("%.17g", x)
  } else if (is.integer(x) || is.logical(x)) {
    out <- as.character(x)
  } else stop("unsupported column type ", class(x)[1])
  out[is.na(x)] <- "NA"
  if (is.double(x)) out[is.nan(x)] <- "NaN"
  out
}

col_type <- function(x) {
  if (is.ordered(x)) "ordered" else if (is.factor(x)) "factor" else if (is.double(x)) "numeric"
  else if (is.integer(x)) "integer" else if (is.logical(x)) "logical"
  else if (is.character(x)) "character" else stop("unsupported column type")
}

# Rebuild a data.frame from our CSV + JSON sidecar (the only way R reads the data).
read_dataset <- function(csv, meta) {
  raw <- utils::read.csv(csv, colClasses = "character", na.strings = "NA",
                         check.names = FALSE, stringsAsFactors = FALSE)
  cols <- meta$columns
  stopifnot(identical(names(raw), vapply(cols, `[[`, "", "name")))
  out <- lapply(cols, function(cl) {
    v <- raw[[cl$name]]
    switch(cl$type,
      numeric = as.numeric(v),
      integer = as.integer(v),
      logical = as.logical(v),
      character = v,
      factor = factor(v, levels = unlist(cl$levels)),
      ordered = factor(v, levels = unlist(cl$levels), ordered = TRUE),
      stop("unknown column type ", cl$type))
  })
  names(out) <- names(raw)
  d <- as.data.frame(out, stringsAsFactors = FALSE, optional = TRUE)
  stopifnot(nrow(d) == meta$n_rows)
  rownames(d) <- unlist(meta$row_names)
  d
}

# SHA-256 of a file: the digest package, else R >= 4.5's tools::sha256sum, else the system's
# sha256sum (export_fit.R runs in users' sessions, which need not have digest).
sha256_file <- function(path) {
  if (requireNamespace("digest", quietly = TRUE))
    return(digest::digest(file = path, algo = "sha256"))
  f <- get0("sha256sum", envir = asNamespace("tools"), inherits = FALSE)
  if (!is.null(f)) return(unname(f(path)))
  out <- tryCatch(suppressWarnings(system2("sha256sum", shQuote(path), stdout = TRUE)),
                  error = function(e) character())
  if (length(out) && grepl("^[0-9a-f]{64}", out[1])) return(substr(out[1], 1, 64))
  stop("cannot compute a SHA-256: install the R package digest")
}

# Write data frame d to outdir/<name>.csv (exact text: csv_col) and return its sidecar: `head`
# (a named list: what the data are), then rows, columns (type, levels, NA count), the CSV's
# SHA-256 and the row names. Read back with read_dataset() through the sidecar's JSON, the
# result must be identical() to d.
write_dataset <- function(d, outdir, name, head = list()) {
  csv <- file.path(outdir, paste0(name, ".csv"))
  body <- if (nrow(d)) do.call(paste, c(lapply(d, csv_col), sep = ",")) else character()
  con <- file(csv, "wb")
  writeLines(c(paste(json_esc(names(d)), collapse = ","), body), con, sep = "\n")
  close(con)
  columns <- lapply(names(d), function(n) {
    x <- d[[n]]
    cl <- list(name = n, type = col_type(x))
    if (is.factor(x)) cl$levels <- I(levels(x))
    cl$n_na <- sum(is.na(x))
    cl
  })
  meta <- c(head, list(n_rows = nrow(d), n_cols = ncol(d), columns = columns,
                       csv_sha256 = sha256_file(csv), row_names = I(rownames(d))))
  back <- read_dataset(csv, jsonlite::fromJSON(to_json(meta), simplifyVector = FALSE))
  if (!identical(back, d)) {
    bad <- names(d)[!mapply(identical, back, d)]
    stop(name, ": CSV round trip not identical in columns ", paste(bad, collapse = ", "),
         if (!identical(rownames(back), rownames(d))) " (row names)")
  }
  meta
}

# A reference request's data: {data, sha256, meta}, the CSV read through its sidecar after
# checking the CSV's SHA-256 against it.
request_dataset <- function(req) {
  meta <- jsonlite::fromJSON(req$data_json, simplifyVector = FALSE)
  sha <- sha256_file(req$data_csv)
  if (!identical(sha, meta$csv_sha256)) stop("data CSV sha256 does not match its sidecar")
  list(data = read_dataset(req$data_csv, meta), sha256 = sha, meta = meta)
}

# Set a request's contrasts_default as options(contrasts = ); returns the options to restore
# (op <- request_contrast_options(req); on.exit(options(op), add = TRUE)).
request_contrast_options <- function(req) {
  if (length(req$contrasts_default)) options(contrasts = unlist(req$contrasts_default))
  else list()
}

# Evaluate expr, collecting (and muffling) its warnings and messages.
capture_conditions <- function(expr) {
  w <- character(); msg <- character()
  value <- withCallingHandlers(expr,
    warning = function(c) { w <<- c(w, conditionMessage(c)); invokeRestart("muffleWarning") },
    message = function(c) { msg <<- c(msg, trimws(conditionMessage(c))); invokeRestart("muffleMessage") })
  list(value = value, warnings = I(w), messages = I(msg))
}
