# Measurement-invariance ladder of the Holzinger-Swineford (1939) 3-factor CFA by school
# (lavaan tutorial, "Measurement invariance"), ML and MLR, with lavTestLRT() between
# consecutive levels (ML: plain chi-square difference + RMSEA_D; MLR: lavaan's default
# Satorra-Bentler 2001 scaled difference, with c_d recomputed by hand).
# Writes hs_ladder.json. Run: Rscript tests/reference/invariance/hs_ladder.R
{
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  source(file.path(dirname(normalizePath(f[1L])), "_inv_common.R"))
}
path <- data_path("hs1939.csv")
HS <- read.csv(path)
MODEL <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"

fit_level <- function(level, estimator) {
  eq <- LADDER[[level]]
  if (length(eq)) cfa(MODEL, data = HS, group = "school", group.equal = eq, estimator = estimator)
  else cfa(MODEL, data = HS, group = "school", estimator = estimator)
}

out <- header("hs_ladder", "hs_ladder.R", path)
out$model <- MODEL
out$group <- "school"
out$levels <- I(names(LADDER))
out$group_equal <- lapply(LADDER, I)
for (est in c("ML", "MLR")) {
  fits <- lapply(names(LADDER), fit_level, estimator = est)
  names(fits) <- names(LADDER)
  lrt <- lavTestLRT(fits$configural, fits$metric, fits$scalar, fits$strict,
                    model.names = names(LADDER))
  rec <- list(
    call = sprintf("cfa(model, data, group = \"school\", group.equal = ..., estimator = \"%s\"); lavTestLRT(configural, metric, scalar, strict)", est),
    fits = lapply(fits, fit_record),
    lrt = lrt_rows(lrt)
  )
  if (est == "MLR") {
    rec$sb2001_cd <- list(
      metric = sb2001_cd(fits$configural, fits$metric),
      scalar = sb2001_cd(fits$metric, fits$scalar),
      strict = sb2001_cd(fits$scalar, fits$strict)
    )
  }
  out[[tolower(est)]] <- rec
  print(lrt)
}
write_json_case(out)
