# lavaan reference cases for multigroup CFA / measurement invariance on the HS data,
# group = "school" (groups in order of first appearance: Pasteur, Grant-White):
#   hs_mg_configural, hs_mg_metric, hs_mg_scalar, hs_mg_strict   (ML, lavaan tutorial ladder)
#   hs_mg_metric_mlr, hs_mg_scalar_mlr                            (MLR)
#   hs_mg_ladder.json: lavTestLRT() of the ML ladder, and the Satorra-Bentler (2001)
#                      scaled difference test of metric vs scalar under MLR.
# Run from anywhere: Rscript tests/reference/lavaan/mg_cases.R
{
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  source(file.path(dirname(normalizePath(f[1L])), "_common.R"))
}
SCRIPT <- "mg_cases.R"

hs_file <- ref_data_path("hs1939.csv")
HS <- read.csv(hs_file)

HS_MODEL <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"

LADDER <- list(
  configural = character(0),
  metric = c("loadings"),
  scalar = c("loadings", "intercepts"),
  strict = c("loadings", "intercepts", "residuals")
)

fit_mg <- function(level, estimator = "ML") {
  eq <- LADDER[[level]]
  fit <- if (length(eq)) {
    cfa(HS_MODEL, data = HS, group = "school", group.equal = eq, estimator = estimator)
  } else {
    cfa(HS_MODEL, data = HS, group = "school", estimator = estimator)
  }
  name <- paste0("hs_mg_", level, if (estimator == "MLR") "_mlr" else "")
  call <- list(`function` = "cfa", group = "school", group.equal = I(eq))
  if (estimator != "ML") call$estimator <- estimator
  rec <- case_record(name, fit, HS_MODEL, hs_file, call = call,
                     fit_args = list(estimator = estimator, missing = "listwise",
                                     group = "school", group_equal = I(eq)))
  write_case(rec, SCRIPT)
  fit
}

fits <- lapply(names(LADDER), fit_mg)
names(fits) <- names(LADDER)
fits_mlr <- list(metric = fit_mg("metric", "MLR"), scalar = fit_mg("scalar", "MLR"))

lrt_table <- function(tab, models) {
  d <- as.data.frame(tab)
  names(d) <- c(dots_to_underscores(gsub("[^A-Za-z0-9.]+", "_", names(d))))
  names(d) <- sub("_$", "", names(d))
  d <- cbind(model = models, d)
  rownames(d) <- NULL
  d
}

# lavTestLRT sorts the models by df; the names below are in that order (most free first).
lrt_ml <- lavTestLRT(fits$configural, fits$metric, fits$scalar, fits$strict)
lrt_sb <- lavTestLRT(fits_mlr$metric, fits_mlr$scalar, method = "satorra.bentler.2001")

sb <- lrt_table(lrt_sb, c("hs_mg_metric_mlr", "hs_mg_scalar_mlr"))
c0 <- fitMeasures(fits_mlr$scalar, "chisq.scaling.factor")
c1 <- fitMeasures(fits_mlr$metric, "chisq.scaling.factor")
d0 <- fitMeasures(fits_mlr$scalar, "df")
d1 <- fitMeasures(fits_mlr$metric, "df")

ladder <- list(
  case = "hs_mg_ladder",
  lavaan_version = as.character(packageVersion("lavaan")),
  R_version = R.version.string,
  generated_by = paste0("tests/reference/lavaan/", SCRIPT),
  data_file = hs_file,
  data_name = basename(hs_file),
  data_sha256 = file_sha256(hs_file),
  model = HS_MODEL,
  ml = list(
    call = "lavTestLRT(configural, metric, scalar, strict)",
    cases = I(c("hs_mg_configural", "hs_mg_metric", "hs_mg_scalar", "hs_mg_strict")),
    table = lrt_table(lrt_ml, c("hs_mg_configural", "hs_mg_metric", "hs_mg_scalar", "hs_mg_strict"))
  ),
  mlr_sb2001 = list(
    call = "lavTestLRT(metric_mlr, scalar_mlr, method = \"satorra.bentler.2001\")",
    cases = I(c("hs_mg_metric_mlr", "hs_mg_scalar_mlr")),
    table = sb,
    # c_d = (df0 c0 - df1 c1) / (df0 - df1); T = (chisq0 - chisq1) / c_d
    scaling_factor_diff = unname((d0 * c0 - d1 * c1) / (d0 - d1))
  )
)
path <- file.path(REF_DIR, "hs_mg_ladder.json")
writeLines(toJSON(ladder, auto_unbox = TRUE, digits = NA, na = "null", dataframe = "rows",
                  pretty = TRUE), path)
message("wrote hs_mg_ladder.json")
print(lrt_ml)
print(lrt_sb)
cat("c_d =", ladder$mlr_sb2001$scaling_factor_diff, "\n")
