# Bootstrap of a fit with ordered items (issue 15) for asymtrust's fit(se="bootstrap") and
# effects(bootstrap=) with ordered=: lavaan 0.6-14's own bootstrap re-runs the first stage
# (thresholds, polychoric correlations, their NACOV and the DWLS weights) on every
# resample and re-estimates. Data: psych's bfi (tests/reference/ordinal/bfi.csv), items
# A2 A3 A5 E3 E4 E5 C1 C2 C3, the first 500 rows complete on them.
#   model   A -> E -> C (three factors of three ordered items), C ~ A, ind := a*b
#   draws   5 replicates drawn with sample.int(500, 500, replace = TRUE) after
#           set.seed(SEED) (only draws that have every category of every item are kept,
#           as a resample without one is a failed replicate); each refitted with
#           sem(model, d[idx, ], ordered = TRUE) (WLSMV; estimates as DWLS): the row
#           indices (1-based) and parameterEstimates (free rows, thresholds, ind)
#   boot    sem(model, d, ordered = TRUE, estimator = "DWLS", se = "bootstrap",
#           bootstrap = B) after set.seed(SEED + 1) (lavaan refuses se = "bootstrap"
#           with WLSMV: "use (D)WLS estimator for bootstrap"): the bootstrap SEs of every
#           row, the kurtosis of each free parameter's and ind's replicates (for the
#           Monte Carlo error of an SD), the number of failed replicates, and the SD
#           (divisor B - 1) of ind = a*b over the replicates that did not fail: lavaan
#           0.6-14 reports NA for the SE of a := row when a replicate failed (its
#           lav_model_vcov takes cov() of the defined values with the failed replicates'
#           NA rows in); asymtrust leaves the failed replicates out, as for the other rows
# Read by tests/test_bootstrap_ordinal.py. Takes about 4 minutes.
# Run from anywhere: Rscript tests/reference/effects/ordinal_bootstrap.R
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
CSV <- normalizePath(file.path(OUT, "..", "ordinal", "bfi.csv"))
ITEMS <- c("A2", "A3", "A5", "E3", "E4", "E5", "C1", "C2", "C3")
D <- read.csv(CSV)
D <- D[complete.cases(D[, ITEMS]), ITEMS][1:500, ]
rownames(D) <- NULL
MODEL <- "A =~ A2 + A3 + A5
E =~ E3 + E4 + E5
C =~ C1 + C2 + C3
E ~ a*A
C ~ b*E + A
ind := a*b"
N_DRAWS <- 5L
B <- 1000L
SEED <- 20261208L
n <- nrow(D)
ncat <- sapply(D, function(x) length(unique(x)))

set.seed(SEED)
draws <- list()
while (length(draws) < N_DRAWS) {
  idx <- sample.int(n, n, replace = TRUE)
  if (any(sapply(D[idx, ], function(x) length(unique(x))) < ncat)) next
  fit <- sem(MODEL, data = D[idx, ], ordered = TRUE)
  pe <- parameterEstimates(fit, se = FALSE)
  keep <- pe$op == ":=" | seq_len(nrow(pe)) %in% which(parTable(fit)$free > 0)
  draws[[length(draws) + 1L]] <- list(idx = idx, converged = lavInspect(fit, "converged"),
                                       lhs = pe$lhs[keep], op = pe$op[keep], rhs = pe$rhs[keep], est = pe$est[keep])
}

fit0 <- sem(MODEL, data = D, ordered = TRUE)
pe0 <- parameterEstimates(fit0)
set.seed(SEED + 1L)
t0 <- proc.time()[["elapsed"]]
fitb <- sem(MODEL, data = D, ordered = TRUE, estimator = "DWLS", se = "bootstrap", bootstrap = B)
secs <- proc.time()[["elapsed"]] - t0
peb <- parameterEstimates(fitb)
BOOT <- lavInspect(fitb, "boot")
err <- attr(BOOT, "error.idx")
ok <- setdiff(seq_len(nrow(BOOT)), err)
kurt <- function(t) mean((t - mean(t))^4) / mean((t - mean(t))^2)^2
pt <- parTable(fitb)
free <- pt$free
kurt_rows <- rep(NA_real_, nrow(peb))
for (i in seq_len(nrow(peb))) {
  j <- which(pt$lhs == peb$lhs[i] & pt$op == peb$op[i] & pt$rhs == peb$rhs[i])
  if (length(j) == 1L && free[j] > 0) kurt_rows[i] <- kurt(BOOT[ok, free[j]])
}
ind_t <- BOOT[ok, free[pt$label == "a"]] * BOOT[ok, free[pt$label == "b"]]
kurt_rows[peb$op == ":="] <- kurt(ind_t)

out <- list(case = "ordinal_bootstrap", model = MODEL, items = ITEMS, nobs = n, seed = SEED,
            estimates = list(lhs = pe0$lhs, op = pe0$op, rhs = pe0$rhs, est = pe0$est),
            draws = draws,
            B = B, n_failed = length(err), n_ok = length(ok), boot_se_ind = sd(ind_t),
            boot_kurtosis_ind = kurt(ind_t),
            boot = list(lhs = peb$lhs, op = peb$op, rhs = peb$rhs, est = peb$est, se = peb$se,
                        kurtosis = kurt_rows, ci_lower = peb$ci.lower, ci_upper = peb$ci.upper),
            seconds = secs, data = "tests/reference/ordinal/bfi.csv (first 500 rows complete on the items)",
            data_md5 = unname(tools::md5sum(CSV)), lavaan = as.character(packageVersion("lavaan")),
            R_version = R.version.string, script = "ordinal_bootstrap.R")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           file.path(OUT, "ordinal_bootstrap.json"))
message("wrote ordinal_bootstrap.json in ", round(secs), " s")
