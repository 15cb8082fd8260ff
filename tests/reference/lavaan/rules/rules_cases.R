# lavaan 0.6-14 references for tests/test_lavaan_rules.py (issue 14: defaults and conventions).
# Run from the repository root:  Rscript tests/reference/lavaan/rules/rules_cases.R
# Data: the lavaan-check CSVs (../shared/reference/lavaan-check) and HolzingerSwineford1939.
library(lavaan)
library(jsonlite)
dir <- Sys.getenv("LAVAAN_CHECK_DATA", "/work/shared/reference/lavaan-check")
out <- list(lavaan_version = as.character(packageVersion("lavaan")))
hsb <- read.csv(file.path(dir, "hsbmis2.csv"))
fm_names <- c("npar", "df", "chisq", "ntotal", "cfi", "rmsea")
pick <- function(f) {
  pe <- parameterEstimates(f)
  fm <- fitMeasures(f)
  keep <- intersect(c(fm_names, "baseline.chisq", "baseline.df", "chisq.scaled", "chisq.scaling.factor", "baseline.chisq.scaling.factor",
                      "cfi.robust", "tli.robust", "rmsea.robust"), names(fm))
  list(fit = as.list(fm[keep]), nobs = lavInspect(f, "nobs"),
       est = pe$est, se = pe$se, lhs = pe$lhs, op = pe$op, rhs = pe$rhs)
}
# missing = "ml.x": rows with missing covariates are kept
out$hsb_mlx <- pick(sem("write ~ female + read + math", hsb, missing = "ml.x"))
out$hsb_ml <- pick(sem("write ~ female + read + math", hsb, missing = "ml"))
# FIML with meanstructure = FALSE: lavaan forces the mean structure
m <- "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9"
hs <- HolzingerSwineford1939
hsm <- hs
set.seed(1); hsm$x1[sample(nrow(hsm), 30)] <- NA; hsm$x5[sample(nrow(hsm), 30)] <- NA
write.csv(hsm[, paste0("x", 1:9)], "tests/reference/lavaan/rules/hs_missing.csv", row.names = FALSE)
out$hs_fiml_nomeans <- pick(cfa(m, hsm, missing = "ml", meanstructure = FALSE))
# FIML (ML and MLR) with a fixed-x covariate: robust CFI/TLI/RMSEA, H1 without the x block
hsmx <- hsm[, paste0("x", 1:9)]; hsmx$ageyr <- hs$ageyr
write.csv(hsmx, "tests/reference/lavaan/rules/hs_missing_x.csv", row.names = FALSE)
out$hs_fiml_x <- pick(sem("visual =~ x1 + x2 + x3 + x5; visual ~ ageyr", hsmx, missing = "ml"))
out$hs_fiml_mlr_x <- pick(sem("visual =~ x1 + x2 + x3 + x5; visual ~ ageyr", hsmx, missing = "ml",
                              estimator = "MLR"))
# se = "robust.huber.white" with ML: observed information as the bread
out$hs_huber_white <- pick(cfa(m, hs, se = "robust.huber.white"))
out$hs_robust_sem <- pick(cfa(m, hs, se = "robust.sem"))
# sample.cov: the unbiased matrix, rescaled by (N-1)/N (default) or taken as given
S <- cov(hs[, paste0("x", 1:9)])
out$hs_cov_rescale <- pick(cfa(m, sample.cov = S, sample.nobs = 301))
out$hs_cov_norescale <- pick(cfa(m, sample.cov = S, sample.nobs = 301, sample.cov.rescale = FALSE))
# MLR with a fixed-x covariate: the exogenous block is left out of H1
out$hs_mlr_x <- pick(sem("visual =~ x1 + x2 + x3; visual ~ ageyr", hs, estimator = "MLR"))
# int.ov.free = FALSE, int.lv.free = TRUE, auto.cov.y = FALSE: sem() overrides them (hs_int_sem:
# npar 30, chisq as without them); lavaan() with sem()'s other auto.* values honours them
out$hs_int_sem <- pick(sem(m, hs, meanstructure = TRUE, int.ov.free = FALSE, int.lv.free = TRUE))
auto <- list(auto.fix.first = TRUE, auto.fix.single = TRUE, auto.var = TRUE, auto.cov.lv.x = TRUE,
             auto.th = TRUE, auto.delta = TRUE, auto.efa = TRUE)
lav <- function(model, data, ...) do.call(lavaan, c(list(model = model, data = data), auto, list(...)))
out$hs_int <- pick(lav(m, hs, meanstructure = TRUE, int.ov.free = FALSE, int.lv.free = TRUE, auto.cov.y = TRUE))
pd <- PoliticalDemocracy
out$pd_nocovy <- pick(lav("y1 ~ x1 + x2; y5 ~ x1 + x3", pd, int.ov.free = TRUE, auto.cov.y = FALSE))
out$pd_covy <- pick(lav("y1 ~ x1 + x2; y5 ~ x1 + x3", pd, int.ov.free = TRUE, auto.cov.y = TRUE))
# fixed.x = FALSE: the baseline keeps the covariances among the covariates free
# (hs_missing_x2.csv: hs_missing_x.csv with ageyr missing in the first 20 rows, and sex)
mx <- "visual =~ x1 + x2 + x3; visual ~ ageyr + sex"
hsmx2 <- hsmx; hsmx2$ageyr[1:20] <- NA; hsmx2$sex <- hs$sex
write.csv(hsmx2, "tests/reference/lavaan/rules/hs_missing_x2.csv", row.names = FALSE)
out$fx_ml <- pick(sem(mx, hs, fixed.x = FALSE))
out$fx_mlr <- pick(sem(mx, hs, fixed.x = FALSE, estimator = "MLR"))
out$fx_fiml <- pick(sem(mx, hsmx2, fixed.x = FALSE, missing = "ml"))
out$fx_fiml_mlr <- pick(sem(mx, hsmx2, fixed.x = FALSE, missing = "ml", estimator = "MLR"))
# 'f =~ 0': the row f =~ f fixed at 0 declares a phantom latent (SEs: lavaan cannot invert the information)
out$phantom <- pick(sem("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nvisual ~ p1*ph\ntextual ~ p2*ph
ph =~ 0\nph ~~ 1*ph", hs))
# N below the number of free parameters: lavaan fits (with a warning)
small <- hs[1:12, paste0("x", 1:6)]
write.csv(small, "tests/reference/lavaan/rules/hs_small12.csv", row.names = FALSE)
out$hs_small <- pick(cfa("visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6", small))
# orthogonal = TRUE: the latent covariances lavaan adds are fixed at 0
out$hs_orthogonal <- pick(cfa(m, hs, orthogonal = TRUE))
# an interaction term x1:x2: lavaan computes the product column from the data
out$pd_interaction <- pick(sem("y1 ~ x1 + x2 + x1:x2", pd))
write_json(out, "tests/reference/lavaan/rules/rules.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
