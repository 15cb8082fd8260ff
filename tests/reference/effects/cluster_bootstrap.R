# An independent cluster bootstrap in R (issue 16) for asymtrust's effects() on a fit with
# cluster=: lavaan 0.6-14 has none (sem(..., cluster =, se = "bootstrap") is an error:
# "`se' argument must one of "none", "robust.cluster", or "robust.cluster.sem" in the
# clustered case"), so the replicates are drawn here with R's own RNG and refitted with
# sem() one by one. Data: datasets/bcf_nested.csv (SYNTHETIC; 949 respondents in 60
# partnerships), reverse-keyed items recoded 8 - x, cluster = "partnership".
#   model   CapImb -> GoodTrust -> PlanBudg (three factors, ML), ind := a*b
#   draw    per replicate: j <- sample.int(nC, nC, replace = TRUE) over the partnerships in
#           order of first appearance; the replicate's data are all rows of partnership
#           j[1], then j[2], ..., the k-th drawn cluster relabelled k
#   output  bootstrap SE of ind (sd, divisor B - 1) over the converged replicates, its
#           kurtosis (for the Monte Carlo error of an SD), the number of failed replicates,
#           the percentile limits; the naive row bootstrap SE of ind (rows drawn with
#           replacement, B_rows replicates); the delta-method SEs of ind with plain ML and
#           with cluster-robust MLR; and the first replicates' drawn partnerships with their
#           estimates of a, b and ind (refitted draw for draw by tests/test_effects_cluster.py)
# Read by tests/test_effects_cluster.py. Takes a few minutes.
# Run from anywhere: Rscript tests/reference/effects/cluster_bootstrap.R
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
ROOT <- normalizePath(file.path(OUT, "..", "..", ".."))
CSV <- file.path(ROOT, "datasets", "bcf_nested.csv")
D <- read.csv(CSV)
REV <- c("rol3", "cul3", "ctr4", "gtr4", "jmp3")
for (v in REV) D[[v]] <- 8 - D[[v]]
MODEL <- "CapImb =~ cap1 + cap2 + cap3
GoodTrust =~ gtr1 + gtr2 + gtr3 + gtr4
PlanBudg =~ plb1 + plb2 + plb3
GoodTrust ~ a*CapImb
PlanBudg ~ b*GoodTrust
ind := a*b"
B <- 2000L
B_ROWS <- 2000L
N_DRAWS <- 5L
SEED <- 20261207L

ind_of <- function(fit) {
  pe <- parameterEstimates(fit, se = FALSE)
  c(a = pe$est[pe$label == "a"][1], b = pe$est[pe$label == "b"][1], ind = pe$est[pe$op == ":="])
}
refit <- function(d) {
  fit <- try(sem(MODEL, data = d, se = "none", test = "standard"), silent = TRUE)
  if (inherits(fit, "try-error") || !lavInspect(fit, "converged")) return(c(a = NA, b = NA, ind = NA))
  ind_of(fit)
}
fit0 <- sem(MODEL, data = D)
fitc <- sem(MODEL, data = D, cluster = "partnership", estimator = "MLR")
pe0 <- parameterEstimates(fit0)
pec <- parameterEstimates(fitc)
CL <- unique(D$partnership)
nC <- length(CL)
rows_of <- split(seq_len(nrow(D)), factor(D$partnership, levels = CL))

set.seed(SEED)
draws <- vector("list", N_DRAWS)
est <- matrix(NA_real_, B, 3, dimnames = list(NULL, c("a", "b", "ind")))
t0 <- proc.time()[["elapsed"]]
for (r in seq_len(B)) {
  j <- sample.int(nC, nC, replace = TRUE)
  d <- D[unlist(rows_of[j], use.names = FALSE), ]
  d$partnership <- rep(seq_len(nC), lengths(rows_of[j]))
  est[r, ] <- refit(d)
  if (r <= N_DRAWS) draws[[r]] <- list(partnerships = CL[j], a = est[r, "a"], b = est[r, "b"], ind = est[r, "ind"])
}
secs <- proc.time()[["elapsed"]] - t0
ok <- is.finite(est[, "ind"])
t <- est[ok, "ind"]
kurt <- mean((t - mean(t))^4) / mean((t - mean(t))^2)^2

set.seed(SEED + 1L)
trow <- numeric(B_ROWS)
for (r in seq_len(B_ROWS)) trow[r] <- refit(D[sample.int(nrow(D), nrow(D), replace = TRUE), ])[["ind"]]
trow <- trow[is.finite(trow)]

out <- list(case = "cluster_bootstrap", model = MODEL, B = B, seed = SEED, n_ok = sum(ok), n_failed = sum(!ok),
            est_ind = pe0$est[pe0$op == ":="], se_ind_delta_ml = pe0$se[pe0$op == ":="],
            se_ind_delta_cluster_mlr = pec$se[pec$op == ":="],
            boot_se_ind = sd(t), boot_kurtosis_ind = kurt, boot_mean_ind = mean(t),
            boot_perc_ind = unname(quantile(t, c(0.025, 0.975))),
            B_rows = B_ROWS, n_ok_rows = length(trow), row_boot_se_ind = sd(trow),
            nclusters = nC, draws = draws, seconds = secs,
            data = "datasets/bcf_nested.csv", data_md5 = unname(tools::md5sum(CSV)), recode_reverse = REV,
            cluster = "partnership", lavaan = as.character(packageVersion("lavaan")),
            R_version = R.version.string, script = "cluster_bootstrap.R")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
           file.path(OUT, "cluster_bootstrap.json"))
message("wrote cluster_bootstrap.json in ", round(secs), " s")
