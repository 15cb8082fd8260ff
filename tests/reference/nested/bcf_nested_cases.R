# lavaan 0.6-14 / semTools 0.5-6 references on the nested synthetic Fig. 1 data set
# (issue 16, "Done when"): datasets/bcf_nested.csv (SYNTHETIC; 949 respondents in 60
# partnerships, scripts/make_bcf_nested.py), reverse-keyed items recoded 8 - x, cluster =
# "partnership". Read by tests/test_nested_data.py.
#   bcf_icc      lavInspect(fit, "icc") of the 32 items (a two-level model with every item at
#                both levels, not fitted: the ICCs come from the H1 (EM) estimates)
#   bcf_tl_cfa   two-level CFA of CapImb, PowDist and GoodTrust, the same factor names at both
#                levels and loadings equal across levels (labels), ML; with compRelSEM(config=)
#                (omega_W, omega_2L) and compRelSEM(shared=) (omega_B, IRR)
#   bcf_tl_sem   specs/fig1_twolevel.lav (fig1 within; GoodTrust ~ CapImb + PowDist between), ML
#   bcf_mlr_fig1 specs/fig1.lav, single level, estimator = "MLR" with cluster = "partnership"
#                (robust.cluster SEs, Yuan-Bentler test)
# Two-level JSONs follow twolevel_cases.R (parTable with est, se, std.all; every fitMeasures()
# entry, NA as null); the MLR JSON follows nested_cases.R (parameterEstimates rows).
# Run from the repository root or anywhere: Rscript tests/reference/nested/bcf_nested_cases.R
suppressPackageStartupMessages({ library(lavaan); library(semTools); library(jsonlite) })
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
ROOT <- normalizePath(file.path(OUT, "..", "..", ".."))
CSV <- file.path(ROOT, "datasets", "bcf_nested.csv")
D <- read.csv(CSV)
REV <- c("rol3", "cul3", "ctr4", "gtr4", "jmp3")
for (v in REV) D[[v]] <- 8 - D[[v]]
ITEMS <- names(D)[6:37]
SHA <- unname(tools::md5sum(CSV))
save_json <- function(out, name) {
  out <- c(out, list(data = "datasets/bcf_nested.csv", data_md5 = SHA, recode_reverse = REV,
                     cluster = "partnership", lavaan = as.character(packageVersion("lavaan")),
                     script = "bcf_nested_cases.R"))
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
             file.path(OUT, paste0(name, ".json")))
}
fm_list <- function(fm) as.list(setNames(ifelse(is.finite(unclass(fm)), unclass(fm), NA), names(fm)))
two_level <- function(fit) {
  pt <- parTable(fit)
  pt <- pt[pt$op != "==", ]
  if (is.null(pt$group)) pt$group <- 1L
  std <- standardizedSolution(fit, se = FALSE, remove.eq = FALSE, remove.ineq = FALSE, remove.def = FALSE)
  std <- std[std$op != "==", ]
  stopifnot(nrow(std) == nrow(pt), all(std$lhs == pt$lhs), all(std$op == pt$op), all(std$rhs == pt$rhs))
  pt$std.all <- std$est.std
  list(converged = lavInspect(fit, "converged"),
       partable = pt[, c("lhs", "op", "rhs", "group", "level", "free", "label", "est", "se", "std.all")],
       fit = fm_list(fitMeasures(fit)))
}

# ---- ICCs
vv <- paste(ITEMS, "~~", ITEMS, collapse = "\n")
sat <- sem(paste("level: 1", vv, "level: 2", vv, sep = "\n"), data = D, cluster = "partnership", do.fit = FALSE)
icc <- lavInspect(sat, "icc")
sizes <- table(D$partnership)
save_json(list(case = "bcf_icc", columns = ITEMS, icc = as.list(icc[ITEMS]), nclusters = length(sizes),
               average_cluster_size = mean(sizes)), "bcf_icc")

# ---- two-level CFA and multilevel reliability
CFA <- "level: 1
  CapImb =~ c1*cap1 + c2*cap2 + c3*cap3
  PowDist =~ p1*pow1 + p2*pow2 + p3*pow3
  GoodTrust =~ g1*gtr1 + g2*gtr2 + g3*gtr3 + g4*gtr4
level: 2
  CapImb =~ c1*cap1 + c2*cap2 + c3*cap3
  PowDist =~ p1*pow1 + p2*pow2 + p3*pow3
  GoodTrust =~ g1*gtr1 + g2*gtr2 + g3*gtr3 + g4*gtr4"
fit <- sem(CFA, data = D, cluster = "partnership")
conf <- compRelSEM(fit, config = c("CapImb", "PowDist", "GoodTrust"))
shar <- compRelSEM(fit, shared = c("CapImb", "PowDist", "GoodTrust"))
mat <- function(m) sapply(rownames(m), function(r) as.list(m[r, ]), simplify = FALSE)
save_json(c(list(case = "bcf_tl_cfa", model = CFA, semTools = as.character(packageVersion("semTools")),
                 config = mat(conf$config), shared = mat(shar$shared)), two_level(fit)), "bcf_tl_cfa")

# ---- two-level SEM: specs/fig1_twolevel.lav
SEM <- paste(c(readLines(file.path(ROOT, "specs", "fig1_twolevel.lav")), ""), collapse = "\n")
t0 <- proc.time()[["elapsed"]]
fit <- sem(SEM, data = D, cluster = "partnership")
secs <- proc.time()[["elapsed"]] - t0
save_json(c(list(case = "bcf_tl_sem", spec = "fig1_twolevel", seconds = secs,
                 lv = lavNames(fit, "lv"), ov = lavNames(fit, "ov"),
                 regressions = unique(paste(parTable(fit)$lhs, parTable(fit)$rhs, sep = "~")[parTable(fit)$op == "~"]),
                 npar = max(parTable(fit)$free)), two_level(fit)), "bcf_tl_sem")

# ---- single-level fig1, MLR with cluster =
FIG1 <- paste(c(readLines(file.path(ROOT, "specs", "fig1.lav")), ""), collapse = "\n")
fit <- sem(FIG1, data = D, cluster = "partnership", estimator = "MLR")
pe <- parameterEstimates(fit, ci = FALSE)
save_json(list(case = "bcf_mlr_fig1", spec = "fig1", options = list(estimator = "MLR"),
               converged = lavInspect(fit, "converged"), se = lavInspect(fit, "options")$se,
               test = lavInspect(fit, "options")$test, estimates = pe[, c("lhs", "op", "rhs", "est", "se")],
               fit = fm_list(fitMeasures(fit))), "bcf_mlr_fig1")
