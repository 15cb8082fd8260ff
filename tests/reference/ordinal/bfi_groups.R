# Reference results for ordinal items in two groups (issue 15): psych's bfi, 25 items,
# grouped by gender (1 = male, 2 = female), 5-factor CFA, WLSMV, listwise, configural
# (no equality constraints), lavaan 0.6-14. The gender column is stored in the JSON.
#   bfi_cfa_wlsmv_groups.json        delta parameterization
#   bfi_cfa_wlsmv_groups_theta.json  theta parameterization
# Run: Rscript tests/reference/ordinal/bfi_groups.R
suppressPackageStartupMessages({library(lavaan); library(jsonlite); library(psych)})
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
d <- read.csv(file.path(OUT, "bfi.csv"))
data(bfi, package = "psych")
stopifnot(nrow(bfi) == nrow(d))
d$gender <- bfi$gender
items <- setdiff(names(d), "gender")
model <- paste(
  "A =~ A1 + A2 + A3 + A4 + A5", "C =~ C1 + C2 + C3 + C4 + C5", "E =~ E1 + E2 + E3 + E4 + E5",
  "N =~ N1 + N2 + N3 + N4 + N5", "O =~ O1 + O2 + O3 + O4 + O5", sep = "\n")
case <- function(parameterization, file) {
  fit <- cfa(model, data = d, ordered = items, group = "gender", parameterization = parameterization)
  pe <- parameterEstimates(fit, standardized = TRUE)
  fm <- fitMeasures(fit)
  writeLines(toJSON(list(lavaan = as.character(packageVersion("lavaan")), model = model, estimator = "WLSMV",
                         parameterization = parameterization, group = "gender", gender = d$gender,
                         group_labels = lavInspect(fit, "group.label"),
                         nobs = unlist(lavInspect(fit, "nobs")), converged = lavInspect(fit, "converged"),
                         estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group, est = pe$est,
                                          se = pe$se, std_all = pe$std.all),
                         fit = as.list(setNames(as.numeric(fm), names(fm)))),
                    digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
             file.path(OUT, file))
}
case("delta", "bfi_cfa_wlsmv_groups.json")
case("theta", "bfi_cfa_wlsmv_groups_theta.json")
