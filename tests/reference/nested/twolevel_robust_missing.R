# lavaan 0.6-14 references for two-level MLR and two-level FIML (issue 16, nested data).
# Data: lavaan's Demo.twolevel (demo_twolevel.csv) and its copy with a 5% MCAR mask on each
# of y1..y6 (demo_twolevel_mcar.csv; both written by nested_cases.R, set.seed(16)), and the
# SYNTHETIC datasets/bcf_nested.csv (reverse-keyed items recoded 8 - x).
#   tl_mlr_docs     lavaan's documented two-level model (within-only covariates x1..x3,
#                   between-only covariates w1, w2), estimator = "MLR": robust.huber.white
#                   SEs with the cluster-wise scores, yuan.bentler.mplus test
#   tl_mlr_cfa      level 1 fw =~ y1 + y2 + y3; level 2 fb =~ y1 + y2 + y3, MLR
#   tl_fiml_docs    the documented model on the MCAR copy, missing = "ml" (ML)
#   tl_fiml_cfa     the CFA on the MCAR copy, missing = "ml" (ML)
#   tl_mlr_fiml     the documented model on the MCAR copy, MLR + missing = "ml": lavaan
#                   0.6-14 stops with an error (recorded, with its message)
#   bcf_tl_sem_mlr  specs/fig1_twolevel.lav on bcf_nested.csv, MLR
#   tl_mlr_groups   group: and level: blocks with labels shared across levels and groups
#                   (twolevel_cases.R's tl_groups; g = "type1" for odd cluster numbers,
#                   "type2" for even ones), MLR
# One JSON per case beside this script, as twolevel_cases.R writes them: parTable with est,
# se, std.all; every fitMeasures() entry (NA as null); the H1 log-likelihood; options.
# Run from anywhere: Rscript tests/reference/nested/twolevel_robust_missing.R
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
ROOT <- normalizePath(file.path(OUT, "..", "..", ".."))
D <- read.csv(file.path(OUT, "demo_twolevel.csv"))
D$g <- ifelse(D$cluster %% 2 == 1, "type1", "type2")
M <- read.csv(file.path(OUT, "demo_twolevel_mcar.csv"))
B <- read.csv(file.path(ROOT, "datasets", "bcf_nested.csv"))
for (v in c("rol3", "cul3", "ctr4", "gtr4", "jmp3")) B[[v]] <- 8 - B[[v]]

DOCS <- "level: 1
  fw =~ y1 + y2 + y3
  fw ~ x1 + x2 + x3
level: 2
  fb =~ y1 + y2 + y3
  fb ~ w1 + w2"
CFA <- "level: 1
  fw =~ y1 + y2 + y3
level: 2
  fb =~ y1 + y2 + y3"
FIG1 <- paste(c(readLines(file.path(ROOT, "specs", "fig1_twolevel.lav")), ""), collapse = "\n")
CASES <- list(
  tl_mlr_docs = list(model = DOCS, data = "D", file = "demo_twolevel.csv", cluster = "cluster",
                     options = list(estimator = "MLR")),
  tl_mlr_cfa = list(model = CFA, data = "D", file = "demo_twolevel.csv", cluster = "cluster",
                    options = list(estimator = "MLR")),
  tl_fiml_docs = list(model = DOCS, data = "M", file = "demo_twolevel_mcar.csv", cluster = "cluster",
                      options = list(missing = "ml")),
  tl_fiml_cfa = list(model = CFA, data = "M", file = "demo_twolevel_mcar.csv", cluster = "cluster",
                     options = list(missing = "ml")),
  tl_mlr_fiml = list(model = DOCS, data = "M", file = "demo_twolevel_mcar.csv", cluster = "cluster",
                     options = list(estimator = "MLR", missing = "ml")),
  tl_mlr_groups = list(model = "
  group: type1
    level: within
      fac =~ y1 + L2*y2 + L3*y3
    level: between
      fac =~ y1 + L2*y2 + L3*y3
  group: type2
    level: within
      fac =~ y1 + L2*y2 + L3*y3
    level: between
      fac =~ y1 + L2*y2 + L3*y3
", data = "D", file = "demo_twolevel.csv", cluster = "cluster", group = "g", options = list(estimator = "MLR")),
  bcf_tl_sem_mlr = list(model = FIG1, data = "B", file = "datasets/bcf_nested.csv", cluster = "partnership",
                        spec = "fig1_twolevel", options = list(estimator = "MLR"))
)
fm_list <- function(fm) as.list(setNames(ifelse(is.finite(unclass(fm)), unclass(fm), NA), names(fm)))
for (nm in names(CASES)) {
  C <- CASES[[nm]]
  out <- list(case = nm, script = "twolevel_robust_missing.R", lavaan = as.character(packageVersion("lavaan")),
              data = C$file, cluster = C$cluster, group = C$group, model = C$model, spec = C$spec, options = C$options)
  # the data file's md5 (tools::md5sum), as bcf_nested_cases.R records it: the tests check the bytes
  out$data_md5 <- unname(tools::md5sum(if (startsWith(C$file, "datasets/")) file.path(ROOT, C$file) else file.path(OUT, C$file)))
  t0 <- proc.time()[["elapsed"]]
  fit <- tryCatch(do.call("sem", c(list(model = C$model, data = as.name(C$data), cluster = C$cluster, group = C$group),
                                     C$options)),
                  error = function(e) e)
  if (inherits(fit, "error")) {
    out$error <- conditionMessage(fit)
  } else {
    out$seconds <- proc.time()[["elapsed"]] - t0
    pt <- parTable(fit)
    pt <- pt[pt$op != "==", ]
    if (is.null(pt$group)) pt$group <- 1L
    std <- standardizedSolution(fit, se = FALSE, remove.eq = FALSE, remove.ineq = FALSE, remove.def = FALSE)
    std <- std[std$op != "==", ]
    stopifnot(nrow(std) == nrow(pt), all(std$lhs == pt$lhs), all(std$op == pt$op), all(std$rhs == pt$rhs))
    pt$std.all <- std$est.std
    opt <- lavInspect(fit, "options")
    out <- c(out, list(converged = lavInspect(fit, "converged"), iterations = lavInspect(fit, "iterations"),
                       se = opt$se, test = opt$test, information = opt$information[1],
                       nobs = lavInspect(fit, "nobs"), nclusters = lavInspect(fit, "nclusters"),
                       partable = pt[, c("lhs", "op", "rhs", "block", "group", "level", "free", "label", "exo",
                                         "est", "se", "std.all")],
                       fit = fm_list(fitMeasures(fit)), h1_logl = fit@h1$logl$loglik))
  }
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
             file.path(OUT, paste0(nm, ".json")))
}
