# lavaan 0.6-14 lavPredict() references for the factor scores asymtrust's predict() adds
# (issue 17): models with observed variables in regressions (lavaan's dummy latents),
# ordinal fits (EBM scores) and two-level fits (level = 1 and 2).
# Cases (one JSON each, next to this script; read by tests/test_predict_extra.py):
#   predict_hsx       HS with observed covariates (textual ~ visual + ageyr, speed ~ visual + sex;
#                     fixed.x), complete data: regression and Bartlett
#   predict_hsx_grade the same plus grade ~ visual (an observed outcome: a ov.y dummy as well)
#   predict_hsy       an observed outcome only (x7 ~ visual + textual): ov.y dummy, no ov.x
#   predict_hsx_fiml  predict_hsx on HS with a 5% MCAR mask over x1..x9 (set.seed(17)),
#                     missing = "ml" (meanstructure): regression and Bartlett
#   predict_bfi_ebm   the 5-factor ordinal CFA of tests/reference/ordinal/bfi.csv, WLSMV, delta
#                     parameterization, listwise: lavPredict(fit) (EBM: empirical Bayes modal,
#                     lav_predict_eta_ebm_ml), scores of the first 300 rows used
#   predict_bfi_ebm_theta  the same with parameterization = "theta"
#   predict_bfi_ebm_groups the same (delta) by gender (psych::bfi$gender, stored in the JSON),
#                     loadings and thresholds equal across groups: first 150 rows per group
#   predict_twolevel  lavaan's two-level CFA on Demo.twolevel (tests/reference/nested/
#                     demo_twolevel.csv): lavPredict(level = 1) and (level = 2), regression and
#                     Bartlett
# Scores are matrices, one row per case lavaan scores (rows with missing values dropped under
# listwise deletion; `rows`, 1-based, says which data rows). ML fits run lavaan's BFGS to
# reltol = 1e-14 (as diagnostics_cases.R), so the scores are functions of the ML estimates.
# Run from anywhere: Rscript tests/reference/diagnostics/predict_cases.R
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
HERE <- dirname(normalizePath(f[1L]))
ROOT <- normalizePath(file.path(HERE, "..", "..", ".."))
SCRIPT <- "tests/reference/diagnostics/predict_cases.R"
TIGHT <- list(reltol = 1e-14, maxit = 5000L)
md5 <- function(path) unname(tools::md5sum(path))
out_json <- function(rec, name) {
  rec$generated_by <- SCRIPT
  rec$lavaan_version <- as.character(packageVersion("lavaan"))
  writeLines(toJSON(rec, auto_unbox = TRUE, digits = NA, na = "null", null = "null", pretty = FALSE),
             file.path(HERE, paste0(name, ".json")))
  message("wrote ", name)
}
scores <- function(x) list(names = I(colnames(x)), scores = unclass(x))
both <- function(fit, ...) list(regression = scores(lavPredict(fit, method = "regression", ...)),
                                bartlett = scores(lavPredict(fit, method = "Bartlett", ...)))

HS_CSV <- file.path(ROOT, "datasets", "hs1939.csv")
HS <- read.csv(HS_CSV)
HSX <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9
textual ~ visual + ageyr
speed ~ visual + sex"
hs_case <- function(name, model, data, ...) {
  fit <- sem(model, data = data, optim.method = "BFGS", control = TIGHT, ...)
  stopifnot(lavInspect(fit, "converged"))
  c(list(case = name, model = model, data_file = "datasets/hs1939.csv", data_md5 = md5(HS_CSV),
         rows = I(lavInspect(fit, "case.idx")), chisq = fitMeasures(fit, "chisq")), both(fit))
}
out_json(hs_case("predict_hsx", HSX, HS), "predict_hsx")
out_json(hs_case("predict_hsx_grade", paste(HSX, "grade ~ visual", sep = "\n"), HS), "predict_hsx_grade")
out_json(hs_case("predict_hsy", "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nx7 ~ visual + textual", HS),
         "predict_hsy")
MASK_COLUMNS <- paste0("x", 1:9)
set.seed(17)
MASK <- which(runif(nrow(HS) * 9) < .05)
HSm <- HS
X <- as.matrix(HSm[, MASK_COLUMNS]); X[MASK] <- NA; HSm[, MASK_COLUMNS] <- X
rec <- hs_case("predict_hsx_fiml", HSX, HSm, missing = "ml")
rec$mask <- list(columns = I(MASK_COLUMNS), indices = I(as.integer(MASK)))
out_json(rec, "predict_hsx_fiml")

# ---- ordinal: EBM
BFI_CSV <- file.path(ROOT, "tests", "reference", "ordinal", "bfi.csv")
bfi <- read.csv(BFI_CSV)
items <- names(bfi)
BFI <- paste("A =~ A1 + A2 + A3 + A4 + A5", "C =~ C1 + C2 + C3 + C4 + C5", "E =~ E1 + E2 + E3 + E4 + E5",
             "N =~ N1 + N2 + N3 + N4 + N5", "O =~ O1 + O2 + O3 + O4 + O5", sep = "\n")
for (par in c("delta", "theta")) {
  fit <- cfa(BFI, data = bfi, ordered = items, estimator = "WLSMV", parameterization = par)
  t0 <- proc.time()[["elapsed"]]
  fs <- lavPredict(fit)  # method = "EBM"
  secs <- proc.time()[["elapsed"]] - t0
  keep <- seq_len(300L)
  name <- if (par == "delta") "predict_bfi_ebm" else "predict_bfi_ebm_theta"
  out_json(list(case = name, model = BFI, estimator = "WLSMV", parameterization = par, ordered = I(items),
                data_file = "tests/reference/ordinal/bfi.csv", data_md5 = md5(BFI_CSV),
                nobs = lavInspect(fit, "nobs"), rows = I(lavInspect(fit, "case.idx")[keep]), seconds = secs,
                ebm = list(names = I(colnames(fs)), scores = unclass(fs)[keep, , drop = FALSE])), name)
}

# two groups (gender, from psych::bfi as bfi_groups.R), loadings and thresholds equal: the
# scale factors Delta and the latent means of group 2 are free
data(bfi, package = "psych", envir = environment())
stopifnot(nrow(bfi) == nrow(read.csv(BFI_CSV)))
gender <- bfi$gender
bfig <- read.csv(BFI_CSV)
bfig$gender <- gender
fit <- cfa(BFI, data = bfig, ordered = items, estimator = "WLSMV", group = "gender",
           group.equal = c("loadings", "thresholds"))
fs <- lavPredict(fit)
idx <- lavInspect(fit, "case.idx")
keep <- seq_len(150L)
out_json(list(case = "predict_bfi_ebm_groups", model = BFI, estimator = "WLSMV", parameterization = "delta",
              ordered = I(items), group = "gender", group_equal = I(c("loadings", "thresholds")),
              gender = gender, group_labels = I(lavInspect(fit, "group.label")),
              data_file = "tests/reference/ordinal/bfi.csv", data_md5 = md5(BFI_CSV),
              nobs = I(unlist(lavInspect(fit, "nobs"))),
              groups = lapply(seq_along(fs), function(g) list(rows = I(idx[[g]][keep]),
                  ebm = list(names = I(colnames(fs[[g]])), scores = unclass(fs[[g]])[keep, , drop = FALSE])))),
         "predict_bfi_ebm_groups")

# ---- two-level
TL_CSV <- file.path(ROOT, "tests", "reference", "nested", "demo_twolevel.csv")
demo <- read.csv(TL_CSV)
TL <- "level: 1
  fw =~ y1 + y2 + y3
  fw ~ x1 + x2 + x3
level: 2
  fb =~ y1 + y2 + y3
  fb ~ w1 + w2"
fit <- sem(TL, data = demo, cluster = "cluster", optim.method = "BFGS", control = TIGHT)
TLC <- "level: 1
  fw =~ y1 + y2 + y3
level: 2
  fb =~ y1 + y2 + y3"
fitc <- sem(TLC, data = demo, cluster = "cluster", optim.method = "BFGS", control = TIGHT)
out_json(list(case = "predict_twolevel", data_file = "tests/reference/nested/demo_twolevel.csv",
              data_md5 = md5(TL_CSV), cluster = "cluster",
              cfa = list(model = TLC, level1 = both(fitc, level = 1L), level2 = both(fitc, level = 2L)),
              sem = list(model = TL, level1 = both(fit, level = 1L), level2 = both(fit, level = 2L))),
         "predict_twolevel")
