# Reference results for ordinal items with pairwise deletion (issue 15): psych's bfi,
# 25 items, all 2800 rows (bfi.csv, written by bfi_cases.R), lavaan 0.6-14.
#   bfi_pairwise_lavcor.json   first stage with missing = "pairwise": thresholds, polychorics,
#                              NACOV diagonal and two blocks (from a WLSMV fit's SampleStats)
#   bfi_cfa_wlsmv_pairwise.json  5-factor ordinal CFA, WLSMV, missing = "pairwise"
# Run: Rscript tests/reference/ordinal/bfi_pairwise.R
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
script_dir <- function() {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f) == 0L) return(normalizePath("."))
  dirname(normalizePath(f[1L]))
}
OUT <- script_dir()
d <- read.csv(file.path(OUT, "bfi.csv"))
items <- names(d)
wj <- function(x, name) writeLines(toJSON(x, digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
                                     file.path(OUT, name))
model <- paste(
  "A =~ A1 + A2 + A3 + A4 + A5", "C =~ C1 + C2 + C3 + C4 + C5", "E =~ E1 + E2 + E3 + E4 + E5",
  "N =~ N1 + N2 + N3 + N4 + N5", "O =~ O1 + O2 + O3 + O4 + O5", sep = "\n")
t0 <- proc.time()[["elapsed"]]
fit <- cfa(model, data = d, ordered = items, missing = "pairwise")
secs <- proc.time()[["elapsed"]] - t0
ss <- lavInspect(fit, "sampstat")
nacov <- fit@SampleStats@NACOV[[1]]
wj(list(lavaan = as.character(packageVersion("lavaan")), nobs = lavInspect(fit, "nobs"),
        items = items, th_names = names(ss$th), th = unname(as.numeric(ss$th)), cor = unname(ss$cov),
        nacov_diag = unname(diag(nacov)), nacov_block = unname(nacov[1:60, 1:60]),
        nacov_cor_block = unname(nacov[126:165, 126:165]), nacov_cross_block = unname(nacov[1:40, 126:165]),
        nacov_dim = nrow(nacov)), "bfi_pairwise_lavcor.json")
pe <- parameterEstimates(fit, standardized = TRUE)
fm <- fitMeasures(fit)
wj(list(lavaan = as.character(packageVersion("lavaan")), model = model, estimator = "WLSMV",
        missing = "pairwise", ordered = items, nobs = lavInspect(fit, "nobs"), seconds = secs,
        converged = lavInspect(fit, "converged"),
        estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est, se = pe$se, std_all = pe$std.all),
        fit = as.list(setNames(as.numeric(fm), names(fm)))), "bfi_cfa_wlsmv_pairwise.json")
