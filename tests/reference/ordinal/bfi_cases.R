# Reference results for ordinal items (issue 15): psych's bfi, 25 items (6 categories),
# lavaan 0.6-14. Writes, next to this script:
#   bfi.csv                  the 25 items of psych::bfi (NA = missing), 2800 rows
#   bfi_lavcor.json          lavCor(ordered, listwise): thresholds, polychorics; the NACOV of the
#                            same first stage (a WLSMV fit's): diagonal and three blocks
#   bfi_cfa_<est>.json       5-factor ordinal CFA (listwise): parameterEstimates, fitMeasures
# Run: Rscript tests/reference/ordinal/bfi_cases.R
suppressPackageStartupMessages({library(lavaan); library(jsonlite); library(psych)})
script_dir <- function() {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f) == 0L) return(normalizePath("."))
  dirname(normalizePath(f[1L]))
}
OUT <- script_dir()
data(bfi, package = "psych")
items <- c(paste0("A", 1:5), paste0("C", 1:5), paste0("E", 1:5), paste0("N", 1:5), paste0("O", 1:5))
d <- bfi[, items]
write.csv(d, file.path(OUT, "bfi.csv"), row.names = FALSE, na = "")
d <- read.csv(file.path(OUT, "bfi.csv"))
wj <- function(x, name) writeLines(toJSON(x, digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
                                     file.path(OUT, name))

# ---- first stage: lavCor
t0 <- proc.time()[["elapsed"]]
cf <- lavCor(d, ordered = items, missing = "listwise", output = "fit")
t_cor <- proc.time()[["elapsed"]] - t0
ss <- lavInspect(cf, "sampstat")
th <- lavInspect(cf, "th")
# NACOV (thresholds, then correlations; N * acov): lavCor does not compute it, a WLSMV fit does
nacov <- cfa(paste("F =~", paste(items, collapse = " + ")), data = d, ordered = items)@SampleStats@NACOV[[1]]
wj(list(lavaan = as.character(packageVersion("lavaan")), nobs = lavInspect(cf, "nobs"),
        items = items, th_names = names(th), th = unname(as.numeric(th)),
        cor = unname(ss$cov), nacov_diag = unname(diag(nacov)), nacov_block = unname(nacov[1:60, 1:60]),
        nacov_cor_block = unname(nacov[126:165, 126:165]), nacov_cross_block = unname(nacov[1:40, 126:165]),
        nacov_dim = nrow(nacov), seconds = t_cor),
   "bfi_lavcor.json")

model <- paste(
  "A =~ A1 + A2 + A3 + A4 + A5", "C =~ C1 + C2 + C3 + C4 + C5", "E =~ E1 + E2 + E3 + E4 + E5",
  "N =~ N1 + N2 + N3 + N4 + N5", "O =~ O1 + O2 + O3 + O4 + O5", sep = "\n")
case <- function(est, file, parameterization = "delta") {
  t0 <- proc.time()[["elapsed"]]
  fit <- cfa(model, data = d, ordered = items, estimator = est, parameterization = parameterization)
  secs <- proc.time()[["elapsed"]] - t0
  pe <- parameterEstimates(fit, standardized = TRUE)
  fm <- fitMeasures(fit)
  wj(list(lavaan = as.character(packageVersion("lavaan")), model = model, estimator = est,
          parameterization = parameterization, ordered = items, nobs = lavInspect(fit, "nobs"),
          seconds = secs, converged = lavInspect(fit, "converged"),
          estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est, se = pe$se,
                           std_all = pe$std.all),
          fit = as.list(setNames(as.numeric(fm), names(fm)))), file)
}
case("WLSMV", "bfi_cfa_wlsmv.json")
case("WLSM", "bfi_cfa_wlsm.json")
case("ULSMV", "bfi_cfa_ulsmv.json")
case("DWLS", "bfi_cfa_dwls.json")
case("WLSMV", "bfi_cfa_wlsmv_theta.json", parameterization = "theta")
