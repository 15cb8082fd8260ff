# lavaan 0.6-14 references for asymtrust's diagnostics on every estimator family (issue 17):
#   modindices(), lavResiduals(), lavTestScore() and lavTestWald() beyond ML/MLR.
# Cases (one JSON each, next to this script):
#   fam_ord      psych's bfi (tests/reference/ordinal/bfi.csv), A and C items, 2-factor CFA,
#                WLSMV (delta), labelled loadings: modindices, lavResiduals (raw, cor.bentler,
#                cor.bollen: correlation and threshold residuals, SEs, z, summary), lavTestWald
#   fam_ord_theta  the same with parameterization = "theta": modindices, lavResiduals (cor.bentler)
#   fam_ord_mixed  ordered items with continuous indicators (tests/reference/ordinal/mixed_data.csv):
#                modindices, lavResiduals without SEs (lavaan computes none for this mix)
#   fam_ord_mg   the same by gender (psych's bfi$gender, stored in the JSON), WLSMV with
#                group.equal = c("thresholds", "loadings"): lavTestScore (uni, epc), modindices,
#                lavResiduals (cor.bentler; lavaan divides each group's NACOV by the total N)
#   fam_gls, fam_wls, fam_uls   HolzingerSwineford1939 (datasets/hs1939.csv), 3-factor CFA with
#                labelled loadings, estimator GLS / WLS / ULS: modindices, lavResiduals (ULS: no SEs,
#                lavaan cannot invert its h1 information), lavTestWald
#   fam_gls_mg   the same CFA by school, GLS, group.equal = "loadings": lavTestScore, modindices,
#                lavResiduals (cor.bentler)
#   fam_fiml     HS with the 5% MCAR mask of diagnostics_cases.R (set.seed(1)), 3-factor CFA,
#                missing = "ml" (ML and MLR): lavResiduals (h1 = the EM moments); and the model
#                with observed covariates ageyr, sex (fixed.x = TRUE) under missing = "ml": modindices
#   fam_wishart  HS CFA with a == b, c == d, likelihood = "wishart": modindices, lavResiduals,
#                lavTestScore, lavTestWald
#   fam_twolevel lavaan's Demo.twolevel (tests/reference/nested/demo_twolevel.csv), cluster = "cluster",
#                one factor per level over y1..y4, the level-1 and level-2 loadings of y2 equal
#                (a == c): modindices, lavResiduals per level (lavaan: no SEs for two-level fits),
#                lavTestScore, lavTestWald; and lavaan's documentation model with within-only
#                covariates x1..x3 and between-only covariates w1, w2 (fixed.x): modindices
# Run from anywhere: Rscript tests/reference/diagnostics/families_cases.R
{
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  here <- dirname(normalizePath(f[1L]))
  source(file.path(here, "..", "lavaan", "_common.R"))
  REF_DIR <- here
}
SCRIPT <- "tests/reference/diagnostics/families_cases.R"

out_json <- function(rec, name) {
  rec$generated_by <- SCRIPT
  rec$lavaan_version <- as.character(packageVersion("lavaan"))
  path <- file.path(REF_DIR, paste0(name, ".json"))
  writeLines(toJSON(rec, auto_unbox = TRUE, digits = NA, na = "null", null = "null",
                    dataframe = "rows", pretty = FALSE), path, useBytes = TRUE)
  message("wrote ", path)
}
frame <- function(x) { x <- as.data.frame(x); rownames(x) <- NULL; names(x) <- dots_to_underscores(names(x)); x }
mi_all <- function(fit) frame(modindices(fit))
summary_of <- function(rg) list(rows = I(rownames(rg$summary)), table = as.data.frame(unclass(rg$summary)))
resid_types <- function(fit, types = c("raw", "cor.bentler", "cor.bollen"), se = TRUE) {
  out <- list()
  for (type in types) {
    r <- lavResiduals(fit, type = type, se = se, zstat = se, summary = se, drop.list.single.group = FALSE)
    out[[gsub(".", "_", type, fixed = TRUE)]] <- lapply(r, function(rg) {
      g <- list(names = I(colnames(rg$cov)), cov = unclass(rg$cov))
      for (k in c("cov.se", "cov.z", "mean", "mean.se", "mean.z", "th", "th.se", "th.z"))
        if (!is.null(rg[[k]])) g[[gsub(".", "_", k, fixed = TRUE)]] <- unclass(rg[[k]])
      if (!is.null(rg$th)) g$th_names <- I(names(rg$th))
      if (!is.null(rg$summary)) g$summary <- summary_of(rg)
      g
    })
  }
  out
}
score_all <- function(fit, ...) {
  ts <- lavTestScore(fit, epc = TRUE, ...)
  list(total = as.list(ts$test[1, c("X2", "df", "p.value")]), uni = frame(ts$uni), epc = frame(ts$epc))
}
wald_all <- function(fit, w) lapply(w, function(x) { t <- lavTestWald(fit, x); list(constraints = x, stat = t$stat, df = t$df, p_value = t$p.value) })

# --- ordered items: psych's bfi ---------------------------------------------------------
suppressPackageStartupMessages(library(psych))
BFI <- read.csv(file.path(REPO_ROOT, "tests", "reference", "ordinal", "bfi.csv"))
data(bfi, package = "psych")
ITEMS <- c(paste0("A", 1:5), paste0("C", 1:5))
ORD_MODEL <- "A =~ A1 + a2*A2 + a3*A3 + A4 + A5\nC =~ C1 + C2 + c3*C3 + c4*C4 + C5"
d <- BFI[, ITEMS]
fit <- cfa(ORD_MODEL, data = d, ordered = ITEMS)
ORD_WALD <- c("a2 == a3", "a2 == a3; c3 == c4", "a2*c3 == 1")
out_json(list(case = "fam_ord", model = ORD_MODEL, items = I(ITEMS), estimator = "WLSMV",
              chisq = fitMeasures(fit, "chisq"), modindices = mi_all(fit), residuals = resid_types(fit),
              wald = wald_all(fit, ORD_WALD)), "fam_ord")

fit <- cfa(ORD_MODEL, data = d, ordered = ITEMS, parameterization = "theta")
out_json(list(case = "fam_ord_theta", model = ORD_MODEL, items = I(ITEMS), estimator = "WLSMV",
              parameterization = "theta", chisq = fitMeasures(fit, "chisq"), modindices = mi_all(fit),
              residuals = resid_types(fit, types = "cor.bentler")), "fam_ord_theta")

MIXED <- read.csv(file.path(REPO_ROOT, "tests", "reference", "ordinal", "mixed_data.csv"))
MIXED_MODEL <- "f =~ x1 + A2 + A3 + A5 + x2"
fit <- cfa(MIXED_MODEL, data = MIXED, ordered = c("A2", "A3", "A5"))
out_json(list(case = "fam_ord_mixed", model = MIXED_MODEL, items = I(c("A2", "A3", "A5")), estimator = "WLSMV",
              chisq = fitMeasures(fit, "chisq"), modindices = mi_all(fit), residuals = resid_types(fit, se = FALSE)),
         "fam_ord_mixed")

dg <- d; dg$gender <- bfi$gender
ORD_MG <- "A =~ A1 + A2 + A3 + A4 + A5\nC =~ C1 + C2 + C3 + C4 + C5"
fit <- cfa(ORD_MG, data = dg, ordered = ITEMS, group = "gender", group.equal = c("thresholds", "loadings"))
out_json(list(case = "fam_ord_mg", model = ORD_MG, items = I(ITEMS), estimator = "WLSMV", group = "gender",
              group_equal = I(c("thresholds", "loadings")), gender = I(bfi$gender),
              chisq = fitMeasures(fit, "chisq"), nobs = I(lavInspect(fit, "nobs")),
              score = score_all(fit), modindices = mi_all(fit), residuals = resid_types(fit, types = "cor.bentler"),
              partable = parTable(fit)[, c("lhs", "op", "rhs", "group", "free", "label", "plabel")]), "fam_ord_mg")

# --- continuous least squares: GLS, WLS, ULS --------------------------------------------
HS <- read_hs1939(REPO_ROOT)
LS_MODEL <- "visual =~ x1 + a*x2 + b*x3\ntextual =~ x4 + c*x5 + d*x6\nspeed =~ x7 + x8 + x9"
LS_WALD <- c("a == b", "a == b; c == d", "a*c == 1")
for (est in c("GLS", "WLS", "ULS")) {
  fit <- cfa(LS_MODEL, data = HS, estimator = est)
  rec <- list(case = paste0("fam_", tolower(est)), model = LS_MODEL, estimator = est,
              chisq = fitMeasures(fit, "chisq"), modindices = mi_all(fit), wald = wald_all(fit, LS_WALD))
  rec$residuals <- if (est == "ULS") resid_types(fit, se = FALSE) else resid_types(fit)
  out_json(rec, paste0("fam_", tolower(est)))
}
fit <- cfa(LS_MODEL, data = HS, estimator = "GLS", group = "school", group.equal = "loadings")
out_json(list(case = "fam_gls_mg", model = LS_MODEL, estimator = "GLS", group = "school", group_equal = I("loadings"),
              chisq = fitMeasures(fit, "chisq"), score = score_all(fit), modindices = mi_all(fit),
              residuals = resid_types(fit, types = "cor.bentler")), "fam_gls_mg")

# --- FIML: residuals; modindices with fixed-x covariates ---------------------------------
MASK_COLUMNS <- paste0("x", 1:9)
set.seed(1)
MASK <- which(runif(301 * 9) < .05)
HSm <- apply_mask(HS, MASK_COLUMNS, MASK)
FIML_X <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9\ntextual ~ visual + ageyr\nspeed ~ visual + sex"
fit <- cfa(HS_MODEL, data = HSm, missing = "ml")
fit_mlr <- cfa(HS_MODEL, data = HSm, missing = "ml", estimator = "MLR")
fit_x <- sem(FIML_X, data = HSm, missing = "ml")
out_json(list(case = "fam_fiml", model = HS_MODEL, model_x = FIML_X,
              mask = list(columns = I(MASK_COLUMNS), indices = I(as.integer(MASK))),
              chisq = fitMeasures(fit, "chisq"), residuals = resid_types(fit), residuals_mlr = resid_types(fit_mlr),
              chisq_x = fitMeasures(fit_x, "chisq"), modindices_x = mi_all(fit_x)), "fam_fiml")

# --- likelihood = "wishart" ----------------------------------------------------------------
W_MODEL <- paste(LS_MODEL, "a == b", "c == d", sep = "\n")
fit <- cfa(W_MODEL, data = HS, likelihood = "wishart")
out_json(list(case = "fam_wishart", model = W_MODEL, chisq = fitMeasures(fit, "chisq"), modindices = mi_all(fit),
              residuals = resid_types(fit), score = score_all(fit), wald = wald_all(fit, c("a == 1", "a*c == 1"))),
         "fam_wishart")

# --- two-level ------------------------------------------------------------------------------
DT <- read.csv(file.path(REPO_ROOT, "tests", "reference", "nested", "demo_twolevel.csv"))
TL_MODEL <- "level: 1\n  fw =~ y1 + a*y2 + b*y3 + y4\nlevel: 2\n  fb =~ y1 + c*y2 + d*y3 + y4\na == c"
# BFGS to reltol = 1e-14 (as diagnostics_cases.R): lavaan's default stopping leaves the
# between-level estimates ~1e-4 from the optimum, which moves their MIs by ~0.5%
TIGHT <- list(reltol = 1e-14, maxit = 5000L)
fit <- sem(TL_MODEL, data = DT, cluster = "cluster", optim.method = "BFGS", control = TIGHT)
TLX_MODEL <- "level: 1\n  fw =~ y1 + y2 + y3\n  fw ~ x1 + x2 + x3\nlevel: 2\n  fb =~ y1 + y2 + y3\n  fb ~ w1 + w2"
fit_x <- sem(TLX_MODEL, data = DT, cluster = "cluster", optim.method = "BFGS", control = TIGHT)
out_json(list(case = "fam_twolevel", model = TL_MODEL, cluster = "cluster", chisq = fitMeasures(fit, "chisq"),
              modindices = mi_all(fit), residuals = resid_types(fit, se = FALSE), score = score_all(fit),
              wald = wald_all(fit, c("b == d", "b == d; a == 1", "a*b == 1")),
              model_x = TLX_MODEL, chisq_x = fitMeasures(fit_x, "chisq"), modindices_x = mi_all(fit_x)), "fam_twolevel")
