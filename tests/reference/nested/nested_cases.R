# lavaan 0.6-14 references for issue 16 (nested data): ICCs and single-level models with
# cluster-robust inference (cluster=, se = "robust.cluster", Yuan-Bentler (Mplus) test).
#
# Data: lavaan's Demo.twolevel (2500 rows, 200 clusters of unequal size), exported to
# demo_twolevel.csv next to this script; a copy with a deterministic 5% MCAR mask on
# y1..y6 (demo_twolevel_mcar.csv) for FIML.
# One JSON per case next to this script: estimates and SEs (parameterEstimates), every
# fitMeasures() entry (NA kept as null), or the ICCs (lavInspect(fit, "icc")).
# ml_cfa, ml_sem: estimator = "ML" (lavaan's default) with cluster=: se = "robust.cluster" and
# the Yuan-Bentler test with the h1 observed information ("observed.information" = "h1" for
# the test); ml_fiml_sem: the same with missing = "ml".
# mlr_mg_cfa: two groups (g = "type1" for odd cluster numbers, "type2" for even ones: the
# grouping of lavaan-check's TwoLevel_labels data), clusters within groups.
# HS1939 clustered by school is not a reference: two clusters are too few for a
# cluster-robust sandwich (lavaan computes it, with nC/(nC - 1) = 2).
# Run from anywhere: Rscript tests/reference/nested/nested_cases.R
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))

D <- Demo.twolevel
write.csv(D, file.path(OUT, "demo_twolevel.csv"), row.names = FALSE)
M <- D
set.seed(16)
for (v in paste0("y", 1:6)) M[[v]][sample.int(nrow(M), round(0.05 * nrow(M)))] <- NA
write.csv(M, file.path(OUT, "demo_twolevel_mcar.csv"), row.names = FALSE, na = "")

save_json <- function(out, name) {
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
             file.path(OUT, paste0(name, ".json")))
}
fm_list <- function(fm) as.list(setNames(ifelse(is.finite(unclass(fm)), unclass(fm), NA), names(fm)))

# ---- ICCs: a two-level saturated model; lavInspect(fit, "icc") comes from the h1 (EM) estimates
icc_case <- function(name, data, file, vars) {
  sat <- function(v) {
    pairs <- combn(v, 2)
    paste(c(paste(v, "~~", v), paste(pairs[1, ], "~~", pairs[2, ])), collapse = "\n")
  }
  model <- paste("level: 1", sat(vars), "level: 2", sat(vars), sep = "\n")
  fit <- sem(model, data = data, cluster = "cluster")
  icc <- lavInspect(fit, "icc")
  h1 <- lavInspect(fit, "h1")
  sizes <- table(data$cluster)
  save_json(list(case = name, script = "nested_cases.R", lavaan = as.character(packageVersion("lavaan")),
                 data = file, cluster = "cluster", columns = vars, icc = as.list(icc),
                 sigma_w = unname(h1$within$cov[vars, vars]), sigma_b = unname(h1$cluster$cov[vars, vars]),
                 mean_b = unname(h1$cluster$mean[vars]),
                 nclusters = length(sizes), average_cluster_size = mean(sizes)), name)
}
icc_case("icc_demo_y", D, "demo_twolevel.csv", paste0("y", 1:6))
icc_case("icc_demo_yx", D, "demo_twolevel.csv", c(paste0("y", 1:6), paste0("x", 1:3)))

# ---- single-level models with cluster= (MLR: robust.cluster SEs, yuan.bentler.mplus test)
CFA <- "f1 =~ y1 + y2 + y3
f2 =~ y4 + y5 + y6"
SEMX <- "f1 =~ y1 + y2 + y3
f2 =~ y4 + y5 + y6
f1 ~ x1 + x2
f2 ~ f1 + x3"
CASES <- list(
  mlr_cfa = list(model = CFA, data = D, file = "demo_twolevel.csv", options = list(estimator = "MLR")),
  mlr_sem = list(model = SEMX, data = D, file = "demo_twolevel.csv", options = list(estimator = "MLR")),
  mlr_fiml_cfa = list(model = CFA, data = M, file = "demo_twolevel_mcar.csv",
                      options = list(estimator = "MLR", missing = "ml")),
  mlr_fiml_sem = list(model = SEMX, data = M, file = "demo_twolevel_mcar.csv",
                      options = list(estimator = "MLR", missing = "ml"))
)
G <- D
G$g <- ifelse(G$cluster %% 2 == 1, "type1", "type2")
CASES$ml_sem <- list(model = SEMX, data = D, file = "demo_twolevel.csv", options = list(estimator = "ML"))
CASES$ml_cfa <- list(model = CFA, data = D, file = "demo_twolevel.csv", options = list(estimator = "ML"))
CASES$ml_fiml_sem <- list(model = SEMX, data = M, file = "demo_twolevel_mcar.csv",
                          options = list(estimator = "ML", missing = "ml"))
CASES$mlr_mg_cfa <- list(model = CFA, data = G, file = "demo_twolevel.csv",
                         options = list(estimator = "MLR", group = "g"))
for (nm in names(CASES)) {
  C <- CASES[[nm]]
  fit <- do.call("sem", c(list(model = C$model, data = quote(C$data), cluster = "cluster"), C$options))
  pe <- parameterEstimates(fit, ci = FALSE)
  save_json(list(case = nm, script = "nested_cases.R", lavaan = as.character(packageVersion("lavaan")),
                 data = C$file, model = C$model, cluster = "cluster", options = C$options,
                 converged = lavInspect(fit, "converged"), se = lavInspect(fit, "options")$se,
                 test = lavInspect(fit, "options")$test,
                 estimates = pe[, intersect(c("lhs", "op", "rhs", "group", "est", "se"), names(pe))],
                 fit = fm_list(fitMeasures(fit))), nm)
}
