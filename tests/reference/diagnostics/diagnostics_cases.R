# lavaan 0.6-14 references for asymtrust's diagnostics (issue 17):
#   modindices(), lavResiduals(), lavTestScore(), lavTestWald(), lavPredict().
# Cases (one JSON each, next to this script):
#   diag_fig1      Fig. 1 model on bcf_synthetic (reverse-keyed items recoded), sem() defaults:
#                  modindices (default and power = TRUE), lavResiduals of each type,
#                  lavPredict regression and Bartlett
#   diag_fig1_wald the labelled Fig. 1 model (a1..a6, b1..b4): lavTestWald, linear and nonlinear
#   diag_hsx       HS model with observed covariates (fixed.x): modindices (sepc.nox differs)
#   diag_hs_user   HS CFA with user constraints a == b, c == 1.2*d: lavTestScore, modindices
#   diag_hs_mg     HS by school: metric fit -> modindices(free.remove = FALSE), lavTestScore
#                  (univariate, cumulative, epc); scalar fit -> lavTestScore (also release = 7:9,
#                  and the EPCs of one released constraint),
#                  lavResiduals (means; ML and MLR), lavPredict per group
#   diag_hs_fiml   HS with the 5% MCAR mask (set.seed(1)), missing = "ml": lavPredict, modindices;
#                  and modindices and lavResiduals of the complete-data MLR fit
# Run from anywhere: Rscript tests/reference/diagnostics/diagnostics_cases.R
{
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  here <- dirname(normalizePath(f[1L]))
  source(file.path(here, "..", "lavaan", "_common.R"))
  REF_DIR <- here
}
SCRIPT <- "tests/reference/diagnostics/diagnostics_cases.R"
# Every fit runs lavaan's BFGS to reltol = 1e-14 (lavaan's default nlminb stops with a
# gradient of ~1e-6 on Fig. 1, leaving estimates ~1e-5 from the optimum, and refuses
# tighter nlminb tolerances as "not converged"): the references are then functions of
# the maximum-likelihood estimates, which asymtrust reproduces to ~1e-8.
TIGHT <- list(reltol = 1e-14, maxit = 5000L)

out_json <- function(rec, name) {
  rec$generated_by <- SCRIPT
  rec$lavaan_version <- as.character(packageVersion("lavaan"))
  path <- file.path(REF_DIR, paste0(name, ".json"))
  writeLines(toJSON(rec, auto_unbox = TRUE, digits = NA, na = "null", null = "null",
                    dataframe = "rows", pretty = FALSE), path, useBytes = TRUE)
  message("wrote ", path)
}

mi_frame <- function(x) { x <- as.data.frame(x); rownames(x) <- NULL; names(x) <- dots_to_underscores(names(x)); x }

resid_all <- function(fit) {
  out <- list()
  for (type in c("raw", "cor", "cor.bollen", "cor.bentler")) {
    r <- lavResiduals(fit, type = type, se = TRUE, zstat = TRUE, summary = TRUE,
                      drop.list.single.group = FALSE)
    groups <- lapply(r, function(rg) {
      g <- list(cov = unclass(rg$cov), cov_z = unclass(rg$cov.z), cov_se = unclass(rg$cov.se))
      if (!is.null(rg$mean)) { g$mean <- unclass(rg$mean); g$mean_z <- unclass(rg$mean.z); g$mean_se <- unclass(rg$mean.se) }
      rn <- rownames(rg$summary); s <- as.data.frame(unclass(rg$summary)); g$summary <- list(rows = I(rn), table = s)
      g$names <- I(colnames(rg$cov))
      g
    })
    out[[gsub(".", "_", type, fixed = TRUE)]] <- groups
  }
  out
}

predict_all <- function(fit) {
  out <- list()
  for (m in c("regression", "Bartlett")) {
    fs <- lavPredict(fit, method = m)
    if (!is.list(fs)) fs <- list(fs)
    out[[tolower(m)]] <- lapply(fs, function(x) list(names = I(colnames(x)), scores = unclass(x)))
  }
  out
}

# --- Fig. 1 -----------------------------------------------------------------------------
B <- bcf_fig1()
fit <- sem(B$model, data = B$data, optim.method = "BFGS", control = TIGHT)
rec <- list(case = "diag_fig1", data_file = "datasets/bcf_synthetic.csv", recode_reverse = I(BCF_REVERSE),
            model = B$model, chisq = fitMeasures(fit, "chisq"),
            modindices = mi_frame(modindices(fit)),
            modindices_power = mi_frame(modindices(fit, power = TRUE)),
            residuals = resid_all(fit), predict = predict_all(fit))
out_json(rec, "diag_fig1")

# --- Fig. 1 with labelled paths: Wald tests ----------------------------------------------
meas <- B$meas
FIG1_LAB <- paste(c(trimws(meas),
  "CompTrust ~ a1*RoleAmb + a2*InfoAsym + a3*CultDiff",
  "GoodTrust ~ a4*CapImb + a5*PowDist + a6*CultDiff",
  "ServCons ~ b1*CompTrust", "PlanBudg ~ b2*GoodTrust",
  "JointMgmt ~ b3*CompTrust + b4*GoodTrust", "CompTrust ~~ GoodTrust"), collapse = "\n")
fit <- sem(FIG1_LAB, data = B$data, optim.method = "BFGS", control = TIGHT)
WALD <- c("a1 == 0; b1 == 0", "a1 == a2", "a1*b1 == 0; a4*b2 == 0; a3 - a6 == 0", "b3 == 2*b4")
rec <- list(case = "diag_fig1_wald", model = FIG1_LAB,
            wald = lapply(WALD, function(w) { t <- lavTestWald(fit, w); list(constraints = w, stat = t$stat, df = t$df, p_value = t$p.value) }))
out_json(rec, "diag_fig1_wald")

# --- observed covariates (fixed.x) --------------------------------------------------------
HS <- read_hs1939(REPO_ROOT)
HSX <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
textual ~ visual + ageyr
speed ~ visual + sex"
fit <- sem(HSX, data = HS, optim.method = "BFGS", control = TIGHT)
rec <- list(case = "diag_hsx", model = HSX, chisq = fitMeasures(fit, "chisq"), modindices = mi_frame(modindices(fit)))
out_json(rec, "diag_hsx")

# --- user equality constraints (labels) -------------------------------------------------
HSU <- "visual =~ x1 + a*x2 + b*x3
textual =~ x4 + c*x5 + d*x6
speed =~ x7 + x8 + x9
a == b
c == 1.2*d"
fit <- cfa(HSU, data = HS, optim.method = "BFGS", control = TIGHT)
tsu <- lavTestScore(fit, epc = TRUE)
uni <- as.data.frame(tsu$uni); rownames(uni) <- NULL; names(uni) <- dots_to_underscores(names(uni))
rec <- list(case = "diag_hs_user", model = HSU, chisq = fitMeasures(fit, "chisq"),
            score_total = as.list(tsu$test[1, c("X2", "df", "p.value")]), score_uni = uni,
            modindices = mi_frame(modindices(fit, free.remove = FALSE)))
out_json(rec, "diag_hs_user")

# --- multigroup: metric and scalar invariance by school ---------------------------------
metric <- cfa(HS_MODEL, data = HS, group = "school", group.equal = "loadings", optim.method = "BFGS", control = TIGHT)
scalar <- cfa(HS_MODEL, data = HS, group = "school", group.equal = c("loadings", "intercepts"), optim.method = "BFGS", control = TIGHT)
scalar_mlr <- cfa(HS_MODEL, data = HS, group = "school", group.equal = c("loadings", "intercepts"),
                  estimator = "MLR", optim.method = "BFGS", control = TIGHT)
score_frame <- function(ts, fit) {
  pt <- parTable(fit)
  u <- as.data.frame(ts$uni); rownames(u) <- NULL; names(u) <- dots_to_underscores(names(u))
  u
}
ts_m <- lavTestScore(metric, cumulative = TRUE, epc = TRUE)
ts_s <- lavTestScore(scalar)
ts_r <- lavTestScore(scalar, release = 7:9)
# EPCs when one constraint alone is released (the uni rows' epc_lhs / epc_rhs)
one_epc <- lapply(c(1L, 7L, 13L), function(k) {
  e <- as.data.frame(lavTestScore(scalar, release = k, epc = TRUE)$epc)
  rownames(e) <- NULL; names(e) <- dots_to_underscores(names(e))
  list(release = k, epc = e[, c("lhs", "op", "rhs", "group", "plabel", "epc")])
})
epc <- as.data.frame(ts_m$epc); rownames(epc) <- NULL; names(epc) <- dots_to_underscores(names(epc))
cum <- as.data.frame(ts_m$cumulative); rownames(cum) <- NULL; names(cum) <- dots_to_underscores(names(cum))
pt_m <- parTable(metric)[, c("lhs", "op", "rhs", "group", "free", "label", "plabel")]
pt_s <- parTable(scalar)[, c("lhs", "op", "rhs", "group", "free", "label", "plabel")]
rec <- list(case = "diag_hs_mg", model = HS_MODEL, group = "school",
            metric = list(chisq = fitMeasures(metric, "chisq"),
                          modindices = mi_frame(modindices(metric, free.remove = FALSE)),
                          modindices_default = mi_frame(modindices(metric)),
                          score_total = as.list(ts_m$test[1, c("X2", "df", "p.value")]),
                          score_uni = score_frame(ts_m, metric), score_cumulative = cum,
                          score_epc = epc, partable = pt_m),
            scalar = list(chisq = fitMeasures(scalar, "chisq"),
                          score_total = as.list(ts_s$test[1, c("X2", "df", "p.value")]),
                          score_uni = score_frame(ts_s, scalar),
                          release_one_epc = one_epc,
                          release_7_9 = list(total = as.list(ts_r$test[1, c("X2", "df", "p.value")]),
                                             uni = score_frame(ts_r, scalar)),
                          partable = pt_s, residuals = resid_all(scalar), predict = predict_all(scalar),
                          residuals_mlr = resid_all(scalar_mlr)))
out_json(rec, "diag_hs_mg")

# --- FIML ------------------------------------------------------------------------------
MASK_COLUMNS <- paste0("x", 1:9)
set.seed(1)
MASK <- which(runif(301 * 9) < .05)
HSm <- apply_mask(HS, MASK_COLUMNS, MASK)
fit <- cfa(HS_MODEL, data = HSm, missing = "ml", optim.method = "BFGS", control = TIGHT)
fit_mlr <- cfa(HS_MODEL, data = HS, estimator = "MLR", optim.method = "BFGS", control = TIGHT)
rec <- list(case = "diag_hs_fiml", model = HS_MODEL,
            mask = list(columns = I(MASK_COLUMNS), indices = I(as.integer(MASK))),
            chisq = fitMeasures(fit, "chisq"), predict = predict_all(fit),
            modindices = mi_frame(modindices(fit)), modindices_mlr_complete = mi_frame(modindices(fit_mlr)),
            residuals_mlr_complete = resid_all(fit_mlr))
out_json(rec, "diag_hs_fiml")
