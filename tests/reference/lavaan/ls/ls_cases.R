# lavaan 0.6-14 references for the least-squares estimators for continuous data
# (GLS, WLS = ADF, ULS) and ML with likelihood = "wishart", on two models:
#   hs   Holzinger-Swineford 3-factor CFA (datasets/hs1939.csv, N = 301)
#   pd   PoliticalDemocracy SEM with equal loadings a, b, c and residual covariances
#        (datasets/poldem.csv, N = 75; lavaan-check's pol_dem_gls / pol_dem_wls model)
# One JSON per case, ls_<model>_<estimator>.json, next to this script: estimates and
# SEs (parameterEstimates) and every fitMeasures() entry (NA kept as null).
# Run from anywhere: Rscript tests/reference/lavaan/ls/ls_cases.R
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
ROOT <- normalizePath(file.path(OUT, "..", "..", "..", ".."))

HS <- read.csv(file.path(ROOT, "datasets", "hs1939.csv"))
PD <- read.csv(file.path(ROOT, "datasets", "poldem.csv"))
MODELS <- list(
  hs = list(data = HS, file = "hs1939.csv", model = "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"),
  pd = list(data = PD, file = "poldem.csv", model = "ind60 =~ x1 + x2 + x3
dem60 =~ y1 + a*y2 + b*y3 + c*y4
dem65 =~ y5 + a*y6 + b*y7 + c*y8
dem60 ~ ind60
dem65 ~ ind60 + dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8"))
OPTS <- list(gls = list(estimator = "GLS"), wls = list(estimator = "WLS"),
             uls = list(estimator = "ULS"), wishart = list(estimator = "ML", likelihood = "wishart"))

for (m in names(MODELS)) for (o in names(OPTS)) {
  M <- MODELS[[m]]
  fit <- do.call("sem", c(list(model = M$model, data = quote(M$data)), OPTS[[o]]))
  pe <- parameterEstimates(fit, ci = FALSE)
  fm <- fitMeasures(fit)
  out <- list(
    case = paste0("ls_", m, "_", o), script = "ls_cases.R", lavaan = as.character(packageVersion("lavaan")),
    data = M$file, model = M$model, options = OPTS[[o]], converged = lavInspect(fit, "converged"),
    estimates = pe[, c("lhs", "op", "rhs", "est", "se")],
    fit = as.list(setNames(ifelse(is.finite(unclass(fm)), unclass(fm), NA), names(fm))))
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
             file.path(OUT, paste0("ls_", m, "_", o, ".json")))
}
