# Model comparison on datasets/bcf_synthetic.csv: specs fig1, fig1_direct and
# fig1_single_trust fitted with sem() (ML and MLR), and lavTestLRT() of the three
# (lavaan sorts them by df and tests adjacent pairs: fig1_direct vs fig1, fig1 vs
# fig1_single_trust; MLR: Satorra-Bentler 2001), plus the pair fig1 vs fig1_direct
# alone. Reverse-keyed items recoded 8 - x first.
# Writes bcf_compare.json. Run: Rscript tests/reference/invariance/bcf_compare.R
{
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  source(file.path(dirname(normalizePath(f[1L])), "_inv_common.R"))
}
bcf <- read_bcf()
SPECS <- c("fig1", "fig1_direct", "fig1_single_trust")

out <- header("bcf_compare", "bcf_compare.R", bcf$path)
out$specs <- I(SPECS)
out$recode_reverse <- I(REVERSE)
for (est in c("ML", "MLR")) {
  fits <- lapply(SPECS, function(s) sem(spec_syntax(s), data = bcf$data, estimator = est))
  names(fits) <- SPECS
  all3 <- suppressWarnings(lavTestLRT(fits$fig1, fits$fig1_direct, fits$fig1_single_trust,
                                      model.names = SPECS))
  pair <- lavTestLRT(fits$fig1, fits$fig1_direct, model.names = c("fig1", "fig1_direct"))
  print(all3)
  rec <- list(
    fits = lapply(fits, fit_record),
    lrt_all = lrt_rows(all3),
    lrt_pair = lrt_rows(pair)
  )
  if (est == "MLR") {
    rec$sb2001_cd <- list(
      fig1_direct__fig1 = sb2001_cd(fits$fig1_direct, fits$fig1),
      fig1__fig1_single_trust = sb2001_cd(fits$fig1, fits$fig1_single_trust)
    )
  }
  out[[tolower(est)]] <- rec
}
write_json_case(out)
