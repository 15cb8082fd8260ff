# lavaan 0.6-14 efa() and psych 2.2.9 references for tests/test_efa.py (issue 19).
#   Rscript efa_cases.R        (run from this folder; writes *.json and bfi25.csv)
# HS1939 x1..x9 (lavaan's copy) and psych's bfi (25 items, listwise for lavaan).
suppressMessages({library(lavaan); library(psych); library(jsonlite)})
stopifnot(packageVersion("lavaan") == "0.6.14")
hs <- HolzingerSwineford1939[, paste0("x", 1:9)]
bfi25 <- psych::bfi[, 1:25]
write.csv(bfi25, "bfi25.csv", row.names = FALSE, na = "")

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
  fm <- fitMeasures(f, c("chisq", "df", "pvalue", "rmsea", "cfi", "tli", "srmr",
                         "bic", "aic", "logl", "npar", "baseline.chisq", "baseline.df"))
  list(nfactors = M, loadings = L, loadings_se = S, phi = PHI, phi_se = PHIse,
       theta = pt$est[th], theta_se = pt$se[th], fit = as.list(fm),
       converged = lavInspect(f, "converged"), nobs = lavInspect(f, "nobs"))
}

run <- function(data, nf, rotation, estimator = "ML", args = list()) {
  set.seed(1)
  f <- efa(data, nfactors = nf, rotation = rotation, estimator = estimator,
           rotation.args = args, output = "lavaan")
  solution(f)
}

cases <- list()
for (rot in c("geomin", "oblimin")) for (nf in 1:5) {
  cases[[sprintf("hs_%s_%d", rot, nf)]] <- c(list(data = "hs", rotation = rot, estimator = "ML"),
                                             run(hs, nf, rot))
}
# other rotations and ULS on HS, 3 factors
target <- matrix(0, 9, 3); target[1:3, 1] <- 1; target[4:6, 2] <- 1; target[7:9, 3] <- 1
extra <- list(
  quartimin = list(rotation = "quartimin", args = list()),
  varimax = list(rotation = "varimax", args = list(orthogonal = TRUE)),
  promax = list(rotation = "promax", args = list()),
  target = list(rotation = "target", args = list(target = target)),
  cf_quartimax = list(rotation = "cf-quartimax", args = list()),
  cf_equamax = list(rotation = "cf-equamax", args = list()),
  oblimin_g05 = list(rotation = "oblimin", args = list(oblimin.gamma = 0.5)),
  geomin_eps01 = list(rotation = "geomin", args = list(geomin.epsilon = 0.01)),
  none = list(rotation = "none", args = list())
)
for (nm in names(extra)) {
  e <- extra[[nm]]
  res <- tryCatch(run(hs, 3, e$rotation, args = e$args), error = function(err) list(error = conditionMessage(err)))
  cases[[paste0("hs_", nm, "_3")]] <- c(list(data = "hs", rotation = e$rotation, estimator = "ML",
                                             rotation_args = e$args), res)
}
# GPA from 30 random starts can stop at a local minimum of the criterion (HS geomin with
# 4 factors and the target rotation under set.seed(1)): the same calls with 300 starts
cases[["hs_geomin_4_rstarts300"]] <- c(list(data = "hs", rotation = "geomin", estimator = "ML",
                                            rotation_args = list(rstarts = 300)),
                                       run(hs, 4, "geomin", args = list(rstarts = 300L)))
cases[["hs_target_3_rstarts300"]] <- c(list(data = "hs", rotation = "target", estimator = "ML",
                                            rotation_args = list(target = target, rstarts = 300)),
                                       run(hs, 3, "target", args = list(target = target, rstarts = 300L)))
cases[["hs_uls_geomin_3"]] <- c(list(data = "hs", rotation = "geomin", estimator = "ULS"), run(hs, 3, "geomin", "ULS"))
cases[["hs_uls_geomin_2"]] <- c(list(data = "hs", rotation = "geomin", estimator = "ULS"), run(hs, 2, "geomin", "ULS"))
write_json(cases, "lavaan_efa_hs.json", digits = NA, auto_unbox = TRUE, pretty = FALSE)

bcases <- list()
for (rot in c("geomin", "oblimin")) for (nf in 1:5) {
  bcases[[sprintf("bfi_%s_%d", rot, nf)]] <- c(list(data = "bfi", rotation = rot, estimator = "ML"),
                                               run(bfi25, nf, rot))
}
write_json(bcases, "lavaan_efa_bfi.json", digits = NA, auto_unbox = TRUE, pretty = FALSE)

# psych: fa.parallel, VSS map, KMO, Bartlett
par_case <- function(x, fa, n.iter) {
  set.seed(19)
  p <- fa.parallel(x, fa = fa, n.iter = n.iter, plot = FALSE)
  v <- p$values; nv <- ncol(x)
  list(fa = fa, n_iter = n.iter, pc_values = p$pc.values, fa_values = p$fa.values,
       nfact = p$nfact, ncomp = p$ncomp,
       sim_mean = colMeans(v), sim_sd = apply(v, 2, sd),
       sim_q95 = apply(v, 2, function(z) quantile(z, 0.95)),
       columns = colnames(v), nvar = nv)
}
sink(tempfile())
psy <- list(
  bfi_both = par_case(bfi25, "both", 200),
  bfi_fa = par_case(bfi25, "fa", 200),
  hs_both = par_case(hs, "both", 200),
  # from a correlation matrix with n.obs: no resampling, and psych's factor rule is then
  # the mean of the simulated eigenvalues (sim.fa.ci <- values.sim.mean)
  bfi_fa_cor = c(par_case_cor <- (function() {
    set.seed(19)
    p <- fa.parallel(cor(bfi25, use = "pairwise"), n.obs = nrow(bfi25), fa = "fa", n.iter = 200, plot = FALSE)
    v <- p$values
    list(fa = "fa", n_iter = 200, pc_values = p$pc.values, fa_values = p$fa.values, nfact = p$nfact,
         sim_mean = colMeans(v), sim_sd = apply(v, 2, sd), columns = colnames(v), nvar = ncol(bfi25))
  })())
)
sink()
vb <- VSS(bfi25, n = 8, plot = FALSE); vh <- VSS(hs, n = 8, plot = FALSE)
kb <- KMO(bfi25); kh <- KMO(hs)
bb <- suppressMessages(cortest.bartlett(bfi25)); bh <- suppressMessages(cortest.bartlett(hs))
psy$map <- list(bfi = vb$map, hs = vh$map)
psy$kmo <- list(bfi = list(msa = kb$MSA, msai = unname(kb$MSAi)), hs = list(msa = kh$MSA, msai = unname(kh$MSAi)))
psy$bartlett <- list(bfi = bb, hs = bh)
psy$versions <- list(psych = as.character(packageVersion("psych")), lavaan = as.character(packageVersion("lavaan")))
write_json(psy, "psych_efa.json", digits = NA, auto_unbox = TRUE, pretty = FALSE)
