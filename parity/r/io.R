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

sha256_file <- function(path) digest::digest(file = path, algo = "sha256")

# Evaluate expr, collecting (and muffling) its warnings and messages.
capture_conditions <- function(expr) {
  w <- character(); msg <- character()
  value <- withCallingHandlers(expr,
    warning = function(c) { w <<- c(w, conditionMessage(c)); invokeRestart("muffleWarning") },
    message = function(c) { msg <<- c(msg, trimws(conditionMessage(c))); invokeRestart("muffleMessage") })
  list(value = value, warnings = I(w), messages = I(msg))
}
