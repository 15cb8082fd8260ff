# lavaan reference cases on the Holzinger & Swineford (1939) data:
#   hs_cfa       3-factor CFA, cfa() defaults (ML)
#   hs_cfa_mlr   same, estimator = "MLR"
#   hs_fiml      5% MCAR mask (lavaan-parity.md "HSm"), missing = "ml"
#   hs_fiml_mlr  same, estimator = "MLR"
#   hs_mg_fiml, hs_mg_fiml_mlr  the same two by school (two groups): multigroup FIML,
#                incl. the FIML-corrected robust indices over groups
#   hsx          CFA + regressions on covariates (fixed.x), listwise N = 300
# Run from anywhere: Rscript tests/reference/lavaan/hs_cases.R
{
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  source(file.path(dirname(normalizePath(f[1L])), "_common.R"))
}
SCRIPT <- "hs_cases.R"

hs_file <- ref_data_path("hs1939.csv")
HS <- read.csv(hs_file)
stopifnot(nrow(HS) == 301L)

HS_MODEL <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"

# --- complete data ----------------------------------------------------------------
fit <- cfa(HS_MODEL, data = HS)
write_case(case_record("hs_cfa", fit, HS_MODEL, hs_file,
                       call = list(`function` = "cfa"),
                       fit_args = list(estimator = "ML", missing = "listwise")), SCRIPT)

fit <- cfa(HS_MODEL, data = HS, estimator = "MLR")
write_case(case_record("hs_cfa_mlr", fit, HS_MODEL, hs_file,
                       call = list(`function` = "cfa", estimator = "MLR"),
                       fit_args = list(estimator = "MLR", missing = "listwise")), SCRIPT)

# --- 5% MCAR (HSm) --------------------------------------------------------------------
# 1-based column-major indices into HS[, x1..x9], as listed in lavaan-parity.md. They are
# the cells that set.seed(1); runif(2709) < .05 selects; checked below.
MASK_COLUMNS <- paste0("x", 1:9)
MASK <- c(27,47,116,133,228,281,285,409,441,463,488,491,513,532,536,553,558,584,647,689,
  717,721,740,773,777,790,802,810,826,847,856,861,864,876,891,894,898,899,910,915,924,960,
  977,1006,1021,1051,1072,1078,1084,1097,1113,1157,1180,1189,1200,1218,1220,1234,1235,1243,
  1281,1295,1300,1311,1329,1364,1385,1393,1426,1431,1458,1481,1482,1511,1542,1543,1564,1597,
  1602,1603,1619,1627,1635,1637,1640,1683,1697,1707,1735,1740,1756,1797,1862,1867,1898,1916,
  1919,1925,1935,1946,1949,1978,2011,2015,2018,2024,2070,2094,2121,2124,2128,2131,2135,2155,
  2188,2190,2191,2224,2239,2242,2255,2256,2284,2301,2326,2329,2334,2362,2389,2405,2407,2410,
  2479,2484,2494,2508,2568,2592,2624,2657,2658,2681)
set.seed(1)
stopifnot(identical(as.numeric(which(runif(301 * 9) < .05)), MASK))
HSm <- apply_mask(HS, MASK_COLUMNS, MASK)
stopifnot(sum(is.na(HSm[, MASK_COLUMNS])) == 142L, sum(complete.cases(HSm[, MASK_COLUMNS])) == 180L)
mask_info <- list(mask = list(
  columns = I(MASK_COLUMNS), indices = I(as.integer(MASK)),
  convention = "1-based column-major indices into data[, columns]; row = (i-1) %% nrow, column = (i-1) %/% nrow",
  source = "set.seed(1); runif(nrow*ncol) < 0.05 (lavaan-parity.md, HSm)"))

fit <- cfa(HS_MODEL, data = HSm, missing = "ml")
write_case(case_record("hs_fiml", fit, HS_MODEL, hs_file,
                       call = list(`function` = "cfa", missing = "ml"),
                       fit_args = list(estimator = "ML", missing = "ml"), extra = mask_info), SCRIPT)

fit <- cfa(HS_MODEL, data = HSm, missing = "ml", estimator = "MLR")
write_case(case_record("hs_fiml_mlr", fit, HS_MODEL, hs_file,
                       call = list(`function` = "cfa", missing = "ml", estimator = "MLR"),
                       fit_args = list(estimator = "MLR", missing = "ml"), extra = mask_info), SCRIPT)

for (est in c("ML", "MLR")) {
  fit <- cfa(HS_MODEL, data = HSm, group = "school", missing = "ml", estimator = est)
  call <- list(`function` = "cfa", group = "school", missing = "ml")
  if (est == "MLR") call$estimator <- "MLR"
  write_case(case_record(if (est == "MLR") "hs_mg_fiml_mlr" else "hs_mg_fiml", fit, HS_MODEL, hs_file,
                         call = call, fit_args = list(estimator = est, missing = "ml", group = "school"),
                         extra = mask_info), SCRIPT)
}

# --- covariates, fixed.x, listwise -------------------------------------------------------
HSX_MODEL <- paste(HS_MODEL, "textual ~ visual + ageyr
speed ~ visual + sex
grade ~ visual", sep = "\n")
fit <- sem(HSX_MODEL, data = HS)
stopifnot(lavInspect(fit, "ntotal") == 300L)
write_case(case_record("hsx", fit, HSX_MODEL, hs_file,
                       call = list(`function` = "sem"),
                       fit_args = list(estimator = "ML", missing = "listwise")), SCRIPT)
