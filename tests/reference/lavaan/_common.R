# Shared helpers for the lavaan reference scripts in this folder.
#
# Each case script sources this file, fits one or more models with lavaan and
# writes one JSON file per case next to itself (tests/reference/lavaan/<case>.json).
# The JSON layout is documented in tests/reference/README.md.
#
# Data location: the HS/PD reference CSVs are read from $ASYMTRUST_REF_DATA
# (default /work/shared/reference); if a file is not there, the byte-identical
# copy under the repository's datasets/ folder is used. The path actually read
# and the sha256 of its bytes are recorded in each JSON.

suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})

script_dir <- function() {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f) == 0L) return(normalizePath("."))
  dirname(normalizePath(f[1L]))
}

REF_DIR <- script_dir()
REPO_ROOT <- normalizePath(file.path(REF_DIR, "..", "..", ".."))

ref_data_path <- function(name) {
  base <- Sys.getenv("ASYMTRUST_REF_DATA", "/work/shared/reference")
  p <- file.path(base, name)
  if (file.exists(p)) return(p)
  p2 <- file.path(REPO_ROOT, "datasets", name)
  if (file.exists(p2)) return(p2)
  stop(sprintf("reference data %s not found in %s or %s", name, base, dirname(p2)))
}

file_sha256 <- function(path) digest::digest(file = path, algo = "sha256")

# The Fig. 1 case inputs: bcf_synthetic with the reverse-keyed items recoded (x -> 8 - x),
# the spec's syntax, its measurement lines and items, and the 5% MCAR copy of the data
# (mask fig1_bcf_mask.csv, written by fig1_mask.py).
BCF_REVERSE <- c("rol3", "cul3", "ctr4", "gtr4", "jmp3")
bcf_fig1 <- function(repo_root = REPO_ROOT, mask_dir = file.path(repo_root, "tests", "reference", "lavaan")) {
  data_file <- file.path(repo_root, "datasets", "bcf_synthetic.csv")
  spec_file <- file.path(repo_root, "specs", "fig1.lav")
  data <- read.csv(data_file)
  for (v in BCF_REVERSE) data[[v]] <- 8 - data[[v]]
  meas <- grep("=~", sub("#.*$", "", readLines(spec_file)), value = TRUE)
  items <- unique(unlist(lapply(strsplit(sub(".*=~", "", meas), "+", fixed = TRUE), trimws)))
  out <- list(data = data, data_file = data_file, spec_file = spec_file,
              model = paste(readLines(spec_file), collapse = "\n"), meas = meas, items = items)
  mask_file <- file.path(mask_dir, "fig1_bcf_mask.csv")
  if (file.exists(mask_file)) {
    mask <- read.csv(mask_file)
    stopifnot(all(mask$column %in% items))
    stopifnot(all((match(mask$column, items) - 1L) * nrow(data) + mask$row == mask$index))
    out$mask_index <- as.integer(mask$index)
    out$masked <- apply_mask(data, items, mask$index)
  }
  out
}

dots_to_underscores <- function(x) gsub(".", "_", x, fixed = TRUE)

# Apply a missing-data mask given as 1-based column-major indices into data[, columns].
apply_mask <- function(data, columns, indices) {
  X <- as.matrix(data[, columns])
  X[indices] <- NA
  data[, columns] <- X
  data
}

# parameterEstimates(standardized=TRUE) merged with the std.all SE of standardizedSolution().
estimates_table <- function(fit) {
  pe <- parameterEstimates(fit, standardized = TRUE)
  ss <- standardizedSolution(fit, type = "std.all")
  def_ops <- c(":=", "==", "<", ">")
  if (!"group" %in% names(pe)) {
    pe$group <- ifelse(pe$op %in% def_ops, 0L, 1L)
    ss$group <- ifelse(ss$op %in% def_ops, 0L, 1L)
  }
  pe$group <- as.integer(pe$group)
  ss$group <- as.integer(ss$group)
  ss <- ss[, c("lhs", "op", "rhs", "group", "se")]
  names(ss)[5L] <- "std.all.se"
  pe$.row <- seq_len(nrow(pe))
  m <- merge(pe, ss, by = c("lhs", "op", "rhs", "group"), all.x = TRUE, sort = FALSE)
  m <- m[order(m$.row), ]
  stopifnot(nrow(m) == nrow(pe))
  keep <- c("lhs", "op", "rhs", "group", "label", "est", "se", "z", "pvalue",
            "ci.lower", "ci.upper", "std.lv", "std.all", "std.nox", "std.all.se")
  keep <- keep[keep %in% names(m)]
  m <- m[, keep]
  if (!"label" %in% names(m)) m$label <- ""
  names(m) <- dots_to_underscores(names(m))
  rownames(m) <- NULL
  m
}

r2_table <- function(fit) {
  r2 <- lavInspect(fit, "rsquare")
  labels <- lavInspect(fit, "group.label")
  if (!is.list(r2)) r2 <- list(r2)
  out <- list()
  for (g in seq_along(r2)) {
    v <- r2[[g]]
    if (length(v) == 0L) next
    out[[length(out) + 1L]] <- data.frame(group = g, lhs = names(v), r2 = unname(v),
                                          stringsAsFactors = FALSE)
  }
  do.call(rbind, out)
}

fit_measures_list <- function(fit) {
  fm <- fitMeasures(fit)
  v <- as.numeric(unclass(fm))
  names(v) <- dots_to_underscores(names(fm))
  as.list(v)
}

# Build the record for one fitted model.
#   name       case name (also the JSON file name)
#   fit        lavaan object
#   model      lavaan syntax (string)
#   data_file  path of the CSV read
#   call       list describing the lavaan call (function + options as given to lavaan)
#   fit_args   the same options in asymtrust.fit() terms
#   extra      further fields (data preparation: mask, reverse-keyed recodes, ...)
case_record <- function(name, fit, model, data_file, call, fit_args, extra = list()) {
  opt <- lavInspect(fit, "options")
  fm <- fit_measures_list(fit)
  nobs_g <- unlist(lavInspect(fit, "nobs"))
  rec <- list(
    case = name,
    lavaan_version = as.character(packageVersion("lavaan")),
    R_version = R.version.string,
    generated_by = "",
    data_file = data_file,
    data_name = basename(data_file),
    data_sha256 = file_sha256(data_file),
    model = model,
    lavaan_call = call,
    fit_args = fit_args,
    resolved_options = list(
      estimator = opt$estimator, se = opt$se, test = opt$test,
      information = opt$information, observed_information = opt$observed.information,
      h1_information = opt$h1.information, missing = opt$missing,
      meanstructure = opt$meanstructure, fixed_x = opt$fixed.x,
      likelihood = opt$likelihood, group_equal = I(opt$group.equal)
    ),
    nobs = lavInspect(fit, "ntotal"),
    nobs_group = I(unname(nobs_g)),
    group_labels = I(lavInspect(fit, "group.label")),
    npar = unname(fm$npar),
    df = unname(fm$df),
    converged = lavInspect(fit, "converged"),
    iterations = lavInspect(fit, "iterations"),
    fit_measures = fm,
    estimates = estimates_table(fit),
    r2 = r2_table(fit)
  )
  c(rec, extra)
}

write_case <- function(rec, script) {
  rec$generated_by <- paste0("tests/reference/lavaan/", script)
  path <- file.path(REF_DIR, paste0(rec$case, ".json"))
  txt <- toJSON(rec, auto_unbox = TRUE, digits = NA, na = "null", null = "null",
                dataframe = "rows", pretty = TRUE)
  writeLines(txt, path, useBytes = TRUE)
  message(sprintf("wrote %s (npar=%s, chisq=%.6f, converged=%s)", basename(path),
                  rec$npar, rec$fit_measures$chisq, rec$converged))
  invisible(path)
}

# --- shared by scaled/ and dropped/ ---------------------------------------------------
# Evaluate `expr`, collecting lavaan's warnings (whitespace collapsed) instead of printing them.
with_warnings <- function(expr) {
  warns <- character(0)
  value <- withCallingHandlers(expr, warning = function(w) {
    warns <<- c(warns, gsub("\\s+", " ", conditionMessage(w)))
    invokeRestart("muffleWarning")
  })
  list(value = value, warnings = warns)
}

HS_MODEL <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"

# The repository's copy of HolzingerSwineford1939 (301 rows).
read_hs1939 <- function(repo_root) {
  hs <- read.csv(file.path(repo_root, "datasets", "hs1939.csv"))  # the path recorded as hs_file
  stopifnot(nrow(hs) == 301L)
  hs
}
