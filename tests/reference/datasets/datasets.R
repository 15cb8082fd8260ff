# Reference values for tests/test_datasets.py and tests/test_validation.py.
#
# Describes the datasets as lavaan 0.6.14 itself ships them (lavaan::HolzingerSwineford1939,
# lavaan::PoliticalDemocracy), independently of asymtrust's CSV copies, and records what
# lavaan reports for a few models on them: number of free parameters (fitMeasures "npar")
# and number of observations used under listwise deletion (lavInspect "nobs").
# Also a 5% MCAR mask of HS x1..x9 (set.seed(1), as in design/lavaan-parity.md), given as
# 1-based column-major cell indices, with R's complete-case count.
#
# Run:  Rscript tests/reference/datasets/datasets.R   (writes datasets.json next to itself)
suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})

script_dir <- function() {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f) == 0L) return(normalizePath("."))
  dirname(normalizePath(f[1L]))
}

describe <- function(d) {
  num <- vapply(d, is.numeric, logical(1))
  list(
    nrow = nrow(d),
    ncol = ncol(d),
    names = names(d),
    numeric = names(d)[num],
    col_means = as.list(colMeans(d[, num], na.rm = TRUE)),
    col_sds = as.list(vapply(d[, num], sd, numeric(1), na.rm = TRUE)),
    na_count = as.list(colSums(is.na(d))),
    complete_rows = sum(complete.cases(d))
  )
}

model_case <- function(model, data, fun = cfa) {
  fit <- fun(model, data = data)
  list(model = model,
       npar = unname(fitMeasures(fit, "npar")),
       nobs = lavInspect(fit, "nobs"),
       ov_names = lavNames(fit, "ov"))
}

HS <- lavaan::HolzingerSwineford1939
PD <- lavaan::PoliticalDemocracy

hs_model <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
hsx_model <- paste(hs_model, "textual ~ visual + ageyr\nspeed ~ visual + sex\ngrade ~ visual", sep = "\n")
pd_model <- paste(
  "ind60 =~ x1 + x2 + x3",
  "dem60 =~ y1 + a*y2 + b*y3 + c*y4",
  "dem65 =~ y5 + a*y6 + b*y7 + c*y8",
  "dem60 ~ ind60",
  "dem65 ~ ind60 + dem60",
  "y1 ~~ y5",
  "y2 ~~ y4 + y6",
  "y3 ~~ y7",
  "y4 ~~ y8",
  "y6 ~~ y8", sep = "\n")

set.seed(1)
X <- as.matrix(HS[, paste0("x", 1:9)])
mask <- runif(length(X)) < .05
X[matrix(mask, nrow(X))] <- NA
HSm <- HS
HSm[, paste0("x", 1:9)] <- X

out <- list(
  generated_by = "tests/reference/datasets/datasets.R",
  lavaan_version = as.character(packageVersion("lavaan")),
  R_version = R.version.string,
  datasets = list(
    hs1939 = describe(HS),
    poldem = describe(PD)
  ),
  models = list(
    hs_cfa = model_case(hs_model, HS),
    hsx = model_case(hsx_model, HS, sem),
    pd_eq = model_case(pd_model, PD, sem),
    hs_mcar_listwise = model_case(hs_model, HSm)
  ),
  hs_mcar = list(
    columns = paste0("x", 1:9),
    na_indices = which(mask),
    n_missing_cells = sum(mask),
    complete_rows = sum(complete.cases(X))
  )
)

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(script_dir(), "datasets.json"))
