# Measurement-invariance ladder of the Fig. 1 measurement model (the =~ lines of
# specs/fig1.lav: ten correlated factors, 32 items) on datasets/bcf_synthetic.csv by
# sector (nhs, council, voluntary in order of first appearance), ML, with lavTestLRT().
# Reverse-keyed items rol3, cul3, ctr4, gtr4, jmp3 are recoded 8 - x first.
# Writes bcf_fig1_ladder.json. Run: Rscript tests/reference/invariance/bcf_ladder.R
{
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  source(file.path(dirname(normalizePath(f[1L])), "_inv_common.R"))
}
bcf <- read_bcf()
MODEL <- measurement_syntax("fig1")

fits <- lapply(names(LADDER), function(level) {
  eq <- LADDER[[level]]
  if (length(eq)) cfa(MODEL, data = bcf$data, group = "sector", group.equal = eq)
  else cfa(MODEL, data = bcf$data, group = "sector")
})
names(fits) <- names(LADDER)
lrt <- lavTestLRT(fits$configural, fits$metric, fits$scalar, fits$strict, model.names = names(LADDER))
print(lrt)

out <- header("bcf_fig1_ladder", "bcf_ladder.R", bcf$path)
out$spec <- "fig1"
out$model <- MODEL
out$group <- "sector"
out$recode_reverse <- I(REVERSE)
out$levels <- I(names(LADDER))
out$group_equal <- lapply(LADDER, I)
out$ml <- list(
  call = "cfa(measurement model, data, group = \"sector\", group.equal = ...); lavTestLRT(configural, metric, scalar, strict)",
  fits = lapply(fits, fit_record),
  lrt = lrt_rows(lrt)
)
write_json_case(out)
