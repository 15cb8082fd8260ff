# lavaan 0.6-14 references for asymtrust's diagnostics and factor scores on fits of ordered
# items with exogenous covariates (lavaan's conditional.x) and ordered items mixed with
# continuous indicators (issue 17). Data as tests/reference/ordinal/conditional_x_cases.R:
# psych's bfi, the A and C items (tests/reference/ordinal/bfi.csv) with age and gender
# (psych::bfi, stored in each JSON), WLSMV, listwise.
# Cases (one JSON each, next to this script):
#   cx_mimic     A =~ A1 + a2*A2 + a3*A3 + A4 + A5, C =~ C1 + C2 + c3*C3 + c4*C4 + C5,
#                A ~ ga*age + gender, C ~ gc*age + gender (delta): modindices() (lavaan's
#                strict.exo list), lavResiduals() of types raw, cor.bentler, cor.bollen (lavaan
#                computes no SEs, z or summary with conditional.x: res.cov, res.int, res.th,
#                res.slopes, cov.x, mean.x), lavTestWald(), lavPredict() (EBM) of the first 200
#                rows the fit used (case_idx: their 1-based rows of bfi.csv)
#   cx_direct    the same plus C1 ~ gender: modindices, lavResiduals (cor.bentler), lavPredict
#   cx_direct_theta  the same, parameterization = "theta": modindices, lavPredict
#   cx_groups    A + C ~ age in two groups (gender), group.equal = c("thresholds", "loadings"):
#                lavTestScore (total, uni, epc), modindices, lavResiduals (cor.bentler),
#                lavTestWald, lavPredict (EBM) of the first 100 rows of each group
#   cx_groups_theta  the same, parameterization = "theta": lavTestScore, modindices
#   cx_mixed     A1..A3, C1..C3 ordered, A4, A5, C4, C5 continuous, the two-factor CFA and the
#                same with A + C ~ age + gender: lavPredict (EBM) of the first 200 rows; with the
#                covariates also modindices and lavResiduals (raw, cor.bentler, cor.bollen)
# Run from anywhere: Rscript tests/reference/diagnostics/cx_cases.R
{
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  here <- dirname(normalizePath(f[1L]))
  source(file.path(here, "..", "lavaan", "_common.R"))
  REF_DIR <- here
}
suppressPackageStartupMessages(library(psych))
SCRIPT <- "tests/reference/diagnostics/cx_cases.R"
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
# lavResiduals with conditional.x: lavaan switches se, zstat and summary off
resid_cx <- function(fit, types = c("raw", "cor.bentler", "cor.bollen")) {
  out <- list()
  for (type in types) {
    r <- lavResiduals(fit, type = type, drop.list.single.group = FALSE)
    out[[gsub(".", "_", type, fixed = TRUE)]] <- lapply(r, function(rg) {
      stopifnot(is.null(rg$summary), is.null(rg$res.cov.se))
      list(names = I(colnames(rg$res.cov)), res_cov = unclass(rg$res.cov), res_int = unclass(rg$res.int),
           res_th = unclass(rg$res.th), th_names = I(names(rg$res.th)), res_slopes = unclass(rg$res.slopes),
           x_names = I(colnames(rg$res.slopes)), cov_x = unclass(rg$cov.x), mean_x = unclass(rg$mean.x))
    })
  }
  out
}
score_all <- function(fit) {
  ts <- lavTestScore(fit, epc = TRUE)
  list(total = as.list(ts$test[1, c("X2", "df", "p.value")]), uni = frame(ts$uni), epc = frame(ts$epc))
}
wald_all <- function(fit, w) lapply(w, function(x) { t <- lavTestWald(fit, x); list(constraints = x, stat = t$stat, df = t$df, p_value = t$p.value) })
# lavPredict (EBM) of the first 200 rows the fit used, and those rows (1-based, of the data)
scores_first <- function(fit, n = 200L) {
  fs <- lavPredict(fit)
  idx <- lavInspect(fit, "case.idx")
  list(names = I(colnames(fs)), case_idx = I(idx[seq_len(n)]), scores = unclass(fs)[seq_len(n), , drop = FALSE])
}

BFI_CSV <- file.path(REPO_ROOT, "tests", "reference", "ordinal", "bfi.csv")
d <- read.csv(BFI_CSV)
data(bfi, package = "psych")
stopifnot(nrow(bfi) == nrow(d))
ITEMS <- c(paste0("A", 1:5), paste0("C", 1:5))
d <- d[, ITEMS]
d$age <- bfi$age
d$gender <- bfi$gender
MIMIC <- paste("A =~ A1 + a2*A2 + a3*A3 + A4 + A5", "C =~ C1 + C2 + c3*C3 + c4*C4 + C5",
               "A ~ ga*age + gender", "C ~ gc*age + gender", sep = "\n")
WALD <- c("a2 == a3", "a2 == a3; c3 == c4", "ga == gc", "a2*c3 == 1")
fit <- sem(MIMIC, data = d, ordered = ITEMS)
stopifnot(lavInspect(fit, "options")$conditional.x)
out_json(list(case = "cx_mimic", model = MIMIC, items = I(ITEMS), estimator = "WLSMV",
              age = I(d$age), gender = I(d$gender), chisq = fitMeasures(fit, "chisq"),
              modindices = mi_all(fit), residuals = resid_cx(fit), wald = wald_all(fit, WALD),
              predict = scores_first(fit)), "cx_mimic")

DIRECT <- paste(MIMIC, "C1 ~ gender", sep = "\n")
fit <- sem(DIRECT, data = d, ordered = ITEMS)
out_json(list(case = "cx_direct", model = DIRECT, items = I(ITEMS), estimator = "WLSMV",
              age = I(d$age), gender = I(d$gender), chisq = fitMeasures(fit, "chisq"),
              modindices = mi_all(fit), residuals = resid_cx(fit, "cor.bentler"),
              predict = scores_first(fit)), "cx_direct")
fit <- sem(DIRECT, data = d, ordered = ITEMS, parameterization = "theta")
out_json(list(case = "cx_direct_theta", model = DIRECT, items = I(ITEMS), estimator = "WLSMV",
              parameterization = "theta", age = I(d$age), gender = I(d$gender),
              chisq = fitMeasures(fit, "chisq"), modindices = mi_all(fit), predict = scores_first(fit)),
         "cx_direct_theta")

GMODEL <- "A =~ A1 + A2 + A3 + A4 + A5\nC =~ C1 + C2 + C3 + C4 + C5\nA + C ~ age"
fit <- sem(GMODEL, data = d, ordered = ITEMS, group = "gender", group.equal = c("thresholds", "loadings"))
out_json(list(case = "cx_groups", model = GMODEL, items = I(ITEMS), estimator = "WLSMV", group = "gender",
              group_equal = I(c("thresholds", "loadings")), age = I(d$age), gender = I(d$gender),
              chisq = fitMeasures(fit, "chisq"), nobs = I(lavInspect(fit, "nobs")),
              score = score_all(fit), modindices = mi_all(fit), residuals = resid_cx(fit, "cor.bentler"),
              wald = wald_all(fit, c(".p2. == .p3.", ".p2. == .p3.; .p8. == .p9.")),
              predict = lapply(lavPredict(fit), function(fs) unclass(fs)[1:100, , drop = FALSE]),
              predict_case_idx = lapply(lavInspect(fit, "case.idx"), function(i) I(i[1:100]))), "cx_groups")
fit <- sem(GMODEL, data = d, ordered = ITEMS, group = "gender", group.equal = c("thresholds", "loadings"),
           parameterization = "theta")
out_json(list(case = "cx_groups_theta", model = GMODEL, items = I(ITEMS), estimator = "WLSMV", group = "gender",
              group_equal = I(c("thresholds", "loadings")), parameterization = "theta", age = I(d$age),
              gender = I(d$gender), chisq = fitMeasures(fit, "chisq"), score = score_all(fit),
              modindices = mi_all(fit)), "cx_groups_theta")

# ordered items mixed with continuous indicators (A4, A5, C4, C5 continuous), without and with
# the covariates
MIXED_ORD <- c("A1", "A2", "A3", "C1", "C2", "C3")
MIXED_MODEL <- "A =~ A1 + A2 + A3 + A4 + A5\nC =~ C1 + C2 + C3 + C4 + C5"
fit <- cfa(MIXED_MODEL, data = d, ordered = MIXED_ORD)
fitx <- sem(paste(MIXED_MODEL, "A + C ~ age + gender", sep = "\n"), data = d, ordered = MIXED_ORD)
stopifnot(lavInspect(fitx, "options")$conditional.x)
out_json(list(case = "cx_mixed", model = MIXED_MODEL, model_x = paste(MIXED_MODEL, "A + C ~ age + gender", sep = "\n"),
              items = I(MIXED_ORD), estimator = "WLSMV", age = I(d$age), gender = I(d$gender),
              chisq = fitMeasures(fit, "chisq"), predict = scores_first(fit),
              chisq_x = fitMeasures(fitx, "chisq"), predict_x = scores_first(fitx),
              modindices_x = mi_all(fitx), residuals_x = resid_cx(fitx)), "cx_mixed")
