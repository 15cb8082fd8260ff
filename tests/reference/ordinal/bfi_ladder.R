# Reference results for ordinal items in two groups with equality constraints (issue 15):
# psych's bfi, 25 items, by gender, 5-factor CFA, WLSMV, listwise, delta parameterization,
# lavaan 0.6-14's own identification for group.equal:
#   bfi_ladder_thresholds.json   group.equal = "thresholds"
#   bfi_ladder_metric.json       group.equal = c("thresholds", "loadings")
#   bfi_ladder_scalar.json       group.equal = c("thresholds", "loadings", "intercepts")
#   bfi_ladder_metric_theta.json group.equal = c("thresholds", "loadings"), theta parameterization
# Run: Rscript tests/reference/ordinal/bfi_ladder.R (after bfi_groups.R: same data)
suppressPackageStartupMessages({library(lavaan); library(jsonlite); library(psych)})
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
d <- read.csv(file.path(OUT, "bfi.csv"))
data(bfi, package = "psych")
d$gender <- bfi$gender
items <- setdiff(names(d), "gender")
model <- paste(
  "A =~ A1 + A2 + A3 + A4 + A5", "C =~ C1 + C2 + C3 + C4 + C5", "E =~ E1 + E2 + E3 + E4 + E5",
  "N =~ N1 + N2 + N3 + N4 + N5", "O =~ O1 + O2 + O3 + O4 + O5", sep = "\n")
case <- function(equal, file, parameterization = "delta") {
  fit <- cfa(model, data = d, ordered = items, group = "gender", group.equal = equal,
             parameterization = parameterization)
  pe <- parameterEstimates(fit, standardized = TRUE)
  pt <- parTable(fit)
  fm <- fitMeasures(fit)
  writeLines(toJSON(list(lavaan = as.character(packageVersion("lavaan")), model = model, estimator = "WLSMV",
                         group_equal = equal, parameterization = parameterization, group = "gender", nobs = unlist(lavInspect(fit, "nobs")),
                         converged = lavInspect(fit, "converged"),
                         partable = list(lhs = pt$lhs, op = pt$op, rhs = pt$rhs, group = pt$group, free = pt$free,
                                         ustart = pt$ustart, plabel = pt$plabel),
                         estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = pe$group, est = pe$est,
                                          se = pe$se, std_all = pe$std.all),
                         fit = as.list(setNames(as.numeric(fm), names(fm)))),
                    digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
             file.path(OUT, file))
}
case("thresholds", "bfi_ladder_thresholds.json")
case(c("thresholds", "loadings"), "bfi_ladder_metric.json")
case(c("thresholds", "loadings", "intercepts"), "bfi_ladder_scalar.json")
case(c("thresholds", "loadings"), "bfi_ladder_metric_theta.json", "theta")
