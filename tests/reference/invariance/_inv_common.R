# Shared helpers for the invariance / model-comparison reference scripts in this folder
# (tests/reference/invariance/*.R). Each script fits models with lavaan 0.6-14 and writes
# one JSON file next to itself; tests/test_invariance.py and tests/test_compare.py read them.
# CI never runs R. Data are read from the repository's datasets/ folder; the sha256 of the
# bytes read is stored in every JSON, and the tests refuse a JSON whose hash differs.

suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})

inv_script_dir <- function() {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f) == 0L) return(normalizePath("."))
  dirname(normalizePath(f[1L]))
}

INV_DIR <- inv_script_dir()
REPO_ROOT <- normalizePath(file.path(INV_DIR, "..", "..", ".."))

if (as.character(packageVersion("lavaan")) != "0.6.14" && Sys.getenv("ALLOW_OTHER_LAVAAN") != "1") {
  stop("these references are for lavaan 0.6-14; set ALLOW_OTHER_LAVAAN=1 to override")
}

data_path <- function(name) file.path(REPO_ROOT, "datasets", name)
file_sha256 <- function(path) digest::digest(file = path, algo = "sha256")
dots <- function(x) gsub(".", "_", x, fixed = TRUE)

# Reverse-keyed items of the Fig. 1 instrument (docs/contracts.md): x -> 8 - x.
REVERSE <- c("rol3", "cul3", "ctr4", "gtr4", "jmp3")
read_bcf <- function() {
  path <- data_path("bcf_synthetic.csv")
  d <- read.csv(path, stringsAsFactors = FALSE)
  for (v in REVERSE) d[[v]] <- 8 - d[[v]]
  list(data = d, path = path)
}

# Syntax of a bundled spec (comments are fine for lavaan) and its =~ lines only
# (the measurement model, as ModelSpec.measurement_syntax() in Python).
spec_syntax <- function(name) paste(readLines(file.path(REPO_ROOT, "specs", paste0(name, ".lav"))), collapse = "\n")
measurement_syntax <- function(name) {
  lines <- readLines(file.path(REPO_ROOT, "specs", paste0(name, ".lav")))
  lines <- sub("#.*$", "", lines)
  lines <- lines[grepl("=~", lines, fixed = TRUE)]
  paste(trimws(gsub("[[:space:]]+", " ", lines)), collapse = "\n")
}

# All fitMeasures() (names with . -> _) plus a few facts about the fit.
fit_record <- function(fit) {
  fm <- fitMeasures(fit)
  v <- as.list(setNames(as.numeric(unclass(fm)), dots(names(fm))))
  list(
    converged = lavInspect(fit, "converged"),
    nobs = lavInspect(fit, "ntotal"),
    nobs_group = I(unname(unlist(lavInspect(fit, "nobs")))),
    group_labels = I(lavInspect(fit, "group.label")),
    npar = unname(fm[["npar"]]),
    df = unname(fm[["df"]]),
    fit_measures = v
  )
}

# lavTestLRT() as a list of rows (model names given in the order lavaan sorted them: by df).
lrt_rows <- function(tab) {
  d <- as.data.frame(tab)
  nm <- rownames(d)
  names(d) <- sub("_$", "", dots(gsub("[^A-Za-z0-9.]+", "_", names(d))))
  d <- cbind(model = nm, d)
  rownames(d) <- NULL
  d
}

# Satorra-Bentler (2001) scaling factor of the difference, as lavaan's
# lav_test_diff_SatorraBentler2001 (m1 less restricted, m0 more restricted).
sb2001_cd <- function(m1, m0) {
  r1 <- fitMeasures(m1, "df"); r0 <- fitMeasures(m0, "df")
  c1 <- if (r1 == 0) 1 else fitMeasures(m1, "chisq.scaling.factor")
  c0 <- fitMeasures(m0, "chisq.scaling.factor")
  unname((r0 * c0 - r1 * c1) / (r0 - r1))
}

header <- function(case, script, data_file) {
  list(
    case = case,
    lavaan_version = as.character(packageVersion("lavaan")),
    R_version = R.version.string,
    generated_by = paste0("tests/reference/invariance/", script),
    data_name = basename(data_file),
    data_sha256 = file_sha256(data_file)
  )
}

write_json_case <- function(rec) {
  path <- file.path(INV_DIR, paste0(rec$case, ".json"))
  txt <- toJSON(rec, auto_unbox = TRUE, digits = NA, na = "null", null = "null",
                dataframe = "rows", pretty = TRUE)
  writeLines(txt, path, useBytes = TRUE)
  message("wrote ", basename(path))
  invisible(path)
}

LADDER <- list(
  configural = character(0),
  metric = c("loadings"),
  scalar = c("loadings", "intercepts"),
  strict = c("loadings", "intercepts", "residuals")
)
