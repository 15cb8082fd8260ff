# Reference results for ordinal items (issue 15): the Fig. 1 SEM (specs/fig1.lav) on
# 5-point items with missing values, WLSMV with pairwise deletion, lavaan 0.6-14.
# Data: datasets/bcf_synthetic.csv, reverse-keyed items recoded (8 - x), each 7-point
# item collapsed to 5 points (1-2 -> 1, 3 -> 2, 4 -> 3, 5 -> 4, 6-7 -> 5), then the 5% MCAR
# mask of tests/reference/lavaan/fig1_bcf_mask.csv applied (helpers in ../lavaan/_common.R).
# Writes, next to this script:
#   fig1_5pt.csv                 the 32 items, 5-point, NA = missing (600 rows)
#   fig1_wlsmv_pairwise.json     sem(fig1, ordered = items, missing = "pairwise"): estimates, fit
# Run: Rscript tests/reference/ordinal/fig1_cases.R
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
HERE <- dirname(normalizePath(f[1L]))
source(file.path(HERE, "..", "lavaan", "_common.R"))
OUT <- HERE
cases <- bcf_fig1(repo_root = normalizePath(file.path(HERE, "..", "..", "..")))
items <- cases$items
collapse5 <- function(x) c(1, 1, 2, 3, 4, 5, 5)[x]
d <- cases$data[, items]
for (v in items) d[[v]] <- collapse5(d[[v]])
d <- apply_mask(d, items, cases$mask_index)
write.csv(d, file.path(OUT, "fig1_5pt.csv"), row.names = FALSE, na = "")
d <- read.csv(file.path(OUT, "fig1_5pt.csv"))
t0 <- proc.time()[["elapsed"]]
fit <- sem(cases$model, data = d, ordered = items, missing = "pairwise")
secs <- proc.time()[["elapsed"]] - t0
pe <- parameterEstimates(fit, standardized = TRUE)
fm <- fitMeasures(fit)
writeLines(toJSON(list(lavaan = as.character(packageVersion("lavaan")), model = cases$model, estimator = "WLSMV",
                       missing = "pairwise", ordered = items, nobs = lavInspect(fit, "nobs"), seconds = secs,
                       converged = lavInspect(fit, "converged"),
                       estimates = list(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est, se = pe$se,
                                        std_all = pe$std.all),
                       fit = as.list(setNames(as.numeric(fm), names(fm)))),
                  digits = NA, auto_unbox = TRUE, null = "null", na = "null"),
           file.path(OUT, "fig1_wlsmv_pairwise.json"))
