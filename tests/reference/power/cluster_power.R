# Reference for tests/test_power_clusters.py::test_cluster_robust_replicates_match_lavaan
# (issue 16: power() planned in clusters). Three replicates drawn by
# asymtrust.analysis.power.ClusterGenerator("fig1", cluster_size = 8, icc = 0.15) with 40
# partnerships each (rng seeds 100, 101, 102; reverse-keyed items recoded) are in
# cluster_replicates.csv (column rep). Each is fitted with the fig1 model and lavaan's
# cluster-robust MLR; the structural paths' estimates, SEs and p-values are written to
# cluster_power.csv. lavaan 0.6-14 warns that the vcov is not positive definite: 40
# clusters < 88 free parameters (the cluster-robust meat has rank < 40).
# Run from the repository root: Rscript tests/reference/power/cluster_power.R
suppressMessages(library(lavaan))
stopifnot(packageVersion("lavaan") == "0.6.14")
model <- paste(readLines("specs/fig1.lav"), collapse = "\n")
all <- read.csv("tests/reference/power/cluster_replicates.csv")
out <- NULL
for (r in sort(unique(all$rep))) {
  d <- all[all$rep == r, setdiff(names(all), "rep")]
  f <- suppressWarnings(sem(model, data = d, cluster = "partnership", estimator = "MLR"))
  pe <- parameterEstimates(f)
  pe <- pe[pe$op == "~", ]
  out <- rbind(out, data.frame(rep = r, parameter = paste0(pe$lhs, "~", pe$rhs), est = pe$est, se = pe$se,
                               pvalue = pe$pvalue))
}
write.csv(out, "tests/reference/power/cluster_power.csv", row.names = FALSE)
