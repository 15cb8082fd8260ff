# Equality of one structural path across sectors in the full Fig. 1 SEM (specs/fig1.lav)
# on datasets/bcf_synthetic.csv: "does capacity imbalance erode goodwill trust more in
# councils than in the NHS?". Both models hold metric invariance (group.equal =
# "loadings"); the constrained model labels the path c(b, b, b)*CapImb. ML, lavTestLRT().
# (MLR is left out to keep the Python test fast; the scaled multi-group difference test
# is checked on the HS ladder in hs_ladder.json.) Reverse-keyed items recoded 8 - x first.
# Writes bcf_path_equality.json. Run: Rscript tests/reference/invariance/bcf_path_equality.R
{
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  source(file.path(dirname(normalizePath(f[1L])), "_inv_common.R"))
}
bcf <- read_bcf()
FREE <- spec_syntax("fig1")
# the constrained model: the same syntax with the path's term labelled per group
CONSTRAINED <- sub("GoodTrust ~ CapImb + PowDist + CultDiff",
                   "GoodTrust ~ c(b, b, b)*CapImb + PowDist + CultDiff", FREE, fixed = TRUE)
stopifnot(CONSTRAINED != FREE)

out <- header("bcf_path_equality", "bcf_path_equality.R", bcf$path)
out$spec <- "fig1"
out$path <- "GoodTrust~CapImb"
out$group <- "sector"
out$recode_reverse <- I(REVERSE)
out$group_equal <- I("loadings")
out$constrained_term <- "GoodTrust ~ c(b, b, b)*CapImb + PowDist + CultDiff"
for (est in c("ML")) {
  free <- sem(FREE, data = bcf$data, group = "sector", group.equal = "loadings", estimator = est)
  con <- sem(CONSTRAINED, data = bcf$data, group = "sector", group.equal = "loadings", estimator = est)
  lrt <- lavTestLRT(free, con, model.names = c("free", "constrained"))
  print(lrt)
  pe <- parameterEstimates(free, standardized = TRUE)
  pe <- pe[pe$lhs == "GoodTrust" & pe$op == "~" & pe$rhs == "CapImb", ]
  pc <- parameterEstimates(con)
  pc <- pc[pc$lhs == "GoodTrust" & pc$op == "~" & pc$rhs == "CapImb", ]
  rec <- list(
    free = fit_record(free),
    constrained = fit_record(con),
    lrt = lrt_rows(lrt),
    path_free = data.frame(group = pe$group, est = pe$est, se = pe$se, std_all = pe$std.all),
    path_constrained = data.frame(group = pc$group, est = pc$est)
  )
  if (est == "MLR") rec$sb2001_cd <- sb2001_cd(free, con)
  out[[tolower(est)]] <- rec
}
write_json_case(out)
