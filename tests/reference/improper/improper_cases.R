# lavaan 0.6-14 on the improper-solution cases of tests/test_improper.py.
#
# Writes tests/reference/improper/improper.json: per case the model, the data file and
# its sha256, converged, lavaan's warnings (as emitted), the post-estimation check
# (lavInspect(fit, "post.check")), the smallest eigenvalue of cov.lv, chisq / df / fmin,
# and parameterEstimates() (est, se; se is null where lavaan could not compute it).
#
# Run from anywhere: Rscript tests/reference/improper/improper_cases.R
suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})

script_dir <- function() {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f) == 0L) return(normalizePath("."))
  dirname(normalizePath(f[1L]))
}
HERE <- script_dir()
REPO <- normalizePath(file.path(HERE, "..", "..", ".."))

fit_case <- function(name, model, rel_path, ...) {
  path <- file.path(REPO, rel_path)
  data <- read.csv(path)
  warns <- character(0)
  fit <- withCallingHandlers(
    cfa(model, data = data, ...),
    warning = function(w) {
      warns <<- c(warns, gsub("\\s+", " ", conditionMessage(w)))
      invokeRestart("muffleWarning")
    }
  )
  check <- withCallingHandlers(lavInspect(fit, "post.check"),
                               warning = function(w) invokeRestart("muffleWarning"))
  pe <- parameterEstimates(fit)
  est <- data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est,
                    se = ifelse(is.na(pe$se), NA, pe$se), stringsAsFactors = FALSE)
  fm <- fitMeasures(fit, c("chisq", "df", "fmin", "npar"))
  list(
    case = name,
    model = model,
    data_file = rel_path,
    data_sha256 = digest::digest(file = path, algo = "sha256"),
    nobs = lavInspect(fit, "nobs"),
    converged = lavInspect(fit, "converged"),
    warnings = as.list(warns),
    post_check = isTRUE(check),
    cov_lv_min_eigen = min(eigen(lavInspect(fit, "cov.lv"), only.values = TRUE)$values),
    fit_measures = as.list(setNames(as.numeric(fm), names(fm))),
    estimates = est
  )
}

cases <- list(
  fit_case("heywood_demo", "CapImb  =~ cap1 + cap2 + cap3\nPowDist =~ pow1 + pow2 + pow3",
           "datasets/heywood_demo.csv"),
  fit_case("nonpd_latent", "F1 =~ x1 + x2 + x3\nF2 =~ x4 + x5 + x6",
           "tests/reference/improper/nonpd_latent.csv"),
  fit_case("huge_se", "F1 =~ x1 + x2\nF2 =~ x3 + x4",
           "tests/reference/improper/huge_se.csv"),
  fit_case("singular_information", "visual =~ x1\nx1 ~~ x1\ntextual =~ x4 + x5 + x6\nvisual ~~ textual",
           "datasets/hs1939.csv")
)

out <- list(
  generated_by = "tests/reference/improper/improper_cases.R",
  lavaan_version = as.character(packageVersion("lavaan")),
  R_version = R.version.string,
  cases = setNames(cases, vapply(cases, function(x) x$case, ""))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null", dataframe = "rows"),
           file.path(HERE, "improper.json"))
cat("wrote", file.path(HERE, "improper.json"), "\n")
