# lavaan 0.6-14 efa() with ordered = TRUE (WLSMV) on psych's bfi, for tests/test_efa_ordinal.py.
#   Rscript efa_ordinal_cases.R [nfactors...]   (run from this folder; writes lavaan_efa_bfi_ordinal_<nf>.json)
# Data: ../efa/bfi25.csv (psych::bfi[, 1:25], 6-point items; listwise as lavaan's default).
suppressMessages({library(lavaan); library(jsonlite)})
stopifnot(packageVersion("lavaan") == "0.6.14")
args <- commandArgs(trailingOnly = TRUE)
nfs <- if (length(args)) as.integer(args) else 1:5
bfi25 <- read.csv("../efa/bfi25.csv")

solution <- function(f) {
  pt <- parTable(f)
  lv <- lavNames(f, "lv"); ov <- lavNames(f, "ov")
  M <- length(lv); P <- length(ov)
  L <- S <- matrix(NA, P, M)
  for (i in which(pt$op == "=~")) {
    r <- match(pt$rhs[i], ov); c <- match(pt$lhs[i], lv)
    L[r, c] <- pt$est[i]; S[r, c] <- pt$se[i]
  }
  PHI <- PHIse <- diag(M)
  PHIse[] <- 0
  for (i in which(pt$op == "~~" & pt$lhs %in% lv & pt$lhs != pt$rhs)) {
    a <- match(pt$lhs[i], lv); b <- match(pt$rhs[i], lv)
    PHI[a, b] <- PHI[b, a] <- pt$est[i]; PHIse[a, b] <- PHIse[b, a] <- pt$se[i]
  }
  th <- pt$op == "~~" & pt$lhs %in% ov & pt$lhs == pt$rhs
  tau <- pt$op == "|"
  fm <- fitMeasures(f)
  keep <- c("npar", "fmin", "chisq", "df", "pvalue", "chisq.scaled", "df.scaled", "pvalue.scaled",
            "chisq.scaling.factor", "baseline.chisq", "baseline.df", "baseline.chisq.scaled",
            "baseline.df.scaled", "cfi", "tli", "cfi.scaled", "tli.scaled", "cfi.robust", "tli.robust",
            "rmsea", "rmsea.scaled", "rmsea.robust", "srmr", "srmr_bentler", "wrmr")
  keep <- intersect(keep, names(fm))
  list(nfactors = M, items = ov, loadings = L, loadings_se = S, phi = PHI, phi_se = PHIse,
       theta = pt$est[th], theta_se = pt$se[th], tau = pt$est[tau], tau_se = pt$se[tau],
       fit = as.list(unclass(fm[keep])), converged = lavInspect(f, "converged"),
       nobs = lavInspect(f, "nobs"))
}

for (nf in nfs) {
  cases <- list()
  for (rot in c("geomin", "oblimin")) {
    set.seed(1)
    t0 <- Sys.time()
    f <- efa(bfi25, nfactors = nf, rotation = rot, ordered = TRUE, output = "lavaan")
    el <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
    cases[[sprintf("bfi_ord_%s_%d", rot, nf)]] <- c(list(data = "bfi", rotation = rot, estimator = "WLSMV",
                                                        ordered = TRUE, seconds = el), solution(f))
    cat(sprintf("nf=%d %s %.1fs\n", nf, rot, el))
  }
  write_json(cases, sprintf("lavaan_efa_bfi_ordinal_%d.json", nf), digits = NA, auto_unbox = TRUE, pretty = FALSE)
}
