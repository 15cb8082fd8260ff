# Analytic power of the test of one regression slope, for tests/test_power.py.
#
# Design (the same constants are read back from the JSON by the test, which
# simulates it): x ~ N(0, 1), y = b * x + e with e ~ N(0, 1 - b^2), so the
# standardized slope is b. The noncentrality of the slope's test is
#   lambda = b * sqrt(N) * sd(x) / sd(e).
#
# * wald_power: the two-sided Wald z test (what asymtrust/lavaan report for an
#   ML estimate), z ~ N(lambda, 1):  pnorm(lambda - z) + pnorm(-lambda - z);
# * t_power: the exact OLS t test with n - 2 df, t ~ noncentral t(n - 2, lambda)
#   (for x held fixed at unit sample variance).
#
# Run: Rscript tests/reference/power/regression_power.R  (writes regression_power.json
# beside this script). Needs jsonlite.
suppressPackageStartupMessages(library(jsonlite))

b <- 0.2
alpha <- 0.05
N <- c(60, 100, 150)
sd_e <- sqrt(1 - b^2)
lambda <- b * sqrt(N) / sd_e
z <- qnorm(1 - alpha / 2)
wald <- pnorm(lambda - z) + pnorm(-lambda - z)
tc <- qt(1 - alpha / 2, N - 2)
tpow <- pt(tc, N - 2, ncp = lambda, lower.tail = FALSE) + pt(-tc, N - 2, ncp = lambda)

out <- list(
  case = "regression_power",
  generated_by = "tests/reference/power/regression_power.R",
  R_version = paste(R.version$major, R.version$minor, sep = "."),
  slope = b, alpha = alpha, residual_sd = sd_e,
  n = N, lambda = lambda,
  wald_power = wald, t_power = tpow
)
here <- tryCatch(dirname(normalizePath(sys.frame(1)$ofile)), error = function(e) NULL)
if (is.null(here)) {
  args <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", args[grep("^--file=", args)])
  here <- if (length(f)) dirname(normalizePath(f)) else "."
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE),
           file.path(here, "regression_power.json"))
