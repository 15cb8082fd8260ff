# semTools 0.5-6 compRelSEM() references for multilevel reliability (issue 16; Lai 2021;
# Geldhof, Preacher & Zyphur 2014) on lavaan's Demo.twolevel (demo_twolevel.csv): a
# two-level CFA with the same factor names at both levels and loadings equal across levels
# (shared labels), ML (sem(..., cluster = "cluster")).
#   config = both constructs: omega_W and omega_2L per construct
#   shared = both constructs: omega_B and IRR per construct
# (semTools 0.5-6 returns no total composite for these calls.)
# Writes ml_reliability.json next to this script.
# Run from anywhere: Rscript tests/reference/nested/multilevel_reliability.R
suppressPackageStartupMessages({ library(lavaan); library(semTools); library(jsonlite) })
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
D <- read.csv(file.path(OUT, "demo_twolevel.csv"))
MODEL <- "level: 1
  f1 =~ L1*y1 + L2*y2 + L3*y3
  f2 =~ L4*y4 + L5*y5 + L6*y6
level: 2
  f1 =~ L1*y1 + L2*y2 + L3*y3
  f2 =~ L4*y4 + L5*y5 + L6*y6"
fit <- sem(MODEL, data = D, cluster = "cluster")
conf <- compRelSEM(fit, config = c("f1", "f2"))
shar <- compRelSEM(fit, shared = c("f1", "f2"))
# a matrix (rows: coefficients, columns: constructs) as {coefficient: {construct: value}}
mat <- function(m) sapply(rownames(m), function(r) as.list(m[r, ]), simplify = FALSE)
out <- list(case = "ml_reliability", script = "multilevel_reliability.R",
            lavaan = as.character(packageVersion("lavaan")), semTools = as.character(packageVersion("semTools")),
            data = "demo_twolevel.csv", cluster = "cluster", model = MODEL,
            config = mat(conf$config), shared = mat(shar$shared),
            fit = list(chisq = fitMeasures(fit, "chisq")[[1]], df = fitMeasures(fit, "df")[[1]]))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(OUT, "ml_reliability.json"))
