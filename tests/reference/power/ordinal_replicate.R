# One replicate of the ordinal power design of ordinal_power.R, for tests/test_power_ordinal.py:
# a data set simulated by lavaan (simulateData with the population's thresholds, n = 250,
# seed 2026) written to ordinal_replicate.csv, and lavaan's WLSMV fit of the analysis model
# (sem(model, ordered = items), ind := a*b) on it: est, se, std.all and its SE
# (standardizedSolution) of M~X, Y~M and the indirect effect -> ordinal_replicate.json.
# The test runs power()'s replicate estimator on the same rows.
#
# Run: Rscript tests/reference/power/ordinal_replicate.R. Needs lavaan 0.6-14 and jsonlite.
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
items <- c(paste0("x", 1:3), paste0("m", 1:3), paste0("y", 1:3))
cx <- "-1.5*t1 + -0.5*t2 + 0.5*t3 + 1.5*t4"
cy <- "-0.5*t1 + 0.3*t2 + 1.0*t3 + 1.8*t4"
pop <- paste(c("X =~ 0.75*x1 + 0.70*x2 + 0.65*x3", "M =~ 0.75*m1 + 0.70*m2 + 0.65*m3",
               "Y =~ 0.75*y1 + 0.70*y2 + 0.65*y3", "M ~ 0.25*X", "Y ~ 0.30*M", "X ~~ 1*X", "M ~~ 0.9375*M",
               "Y ~~ 0.91*Y", paste0(items, " | ", ifelse(substr(items, 1, 1) == "y", cy, cx))), collapse = "\n")
model <- "X =~ x1 + x2 + x3\nM =~ m1 + m2 + m3\nY =~ y1 + y2 + y3\nM ~ a*X\nY ~ b*M\nind := a*b"
d <- simulateData(pop, sample.nobs = 250, seed = 2026)
write.csv(d[items], file.path(OUT, "ordinal_replicate.csv"), row.names = FALSE)
fit <- sem(model, data = d, ordered = items)
pe <- parameterEstimates(fit)
ss <- standardizedSolution(fit)
targets <- list(`M~X` = c("M", "~", "X"), `Y~M` = c("Y", "~", "M"), `X -> M -> Y` = c("ind", ":=", "a*b"))
rows <- lapply(targets, function(k) {
  i <- which(pe$lhs == k[1] & pe$op == k[2] & pe$rhs == k[3])
  j <- which(ss$lhs == k[1] & ss$op == k[2] & ss$rhs == k[3])
  list(est = pe$est[i], se = pe$se[i], std_all = ss$est.std[j], std_all_se = ss$se[j])
})
writeLines(toJSON(list(case = "ordinal_replicate", generated_by = "tests/reference/power/ordinal_replicate.R",
                       lavaan = as.character(packageVersion("lavaan")), population = pop, model = model, n = 250,
                       converged = lavInspect(fit, "converged"), chisq = fitMeasures(fit)[["chisq"]],
                       targets = rows),
                  digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
           file.path(OUT, "ordinal_replicate.json"))
