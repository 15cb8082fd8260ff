# Reference results for ordinal items (issue 15): a structural model with a defined
# (indirect) effect on psych's bfi (bfi.csv), WLSMV, listwise, lavaan 0.6-14:
#   bfi_sem_defined.json   parameterEstimates (with the := row and its delta-method SE), fit
# Run: Rscript tests/reference/ordinal/bfi_defined.R
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
d <- read.csv(file.path(OUT, "bfi.csv"))
items <- names(d)
model <- paste(
  "A =~ A1 + A2 + A3 + A4 + A5", "C =~ C1 + C2 + C3 + C4 + C5", "E =~ E1 + E2 + E3 + E4 + E5",
  "E ~ a*A", "C ~ b*E + A", "ind := a*b", sep = "\n")
fit <- sem(model, data = d, ordered = items[1:15])
pe <- parameterEstimates(fit, standardized = TRUE)
fm <- fitMeasures(fit)
writeLines(toJSON(list(lavaan = as.character(packageVersion("lavaan")), model = model, estimator = "WLSMV",
                       ordered = items[1:15], nobs = lavInspect(fit, "nobs"),
                       estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est, se = pe$se,
                                        std_all = pe$std.all),
                       fit = as.list(setNames(as.numeric(fm), names(fm)))),
                  digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
           file.path(OUT, "bfi_sem_defined.json"))
