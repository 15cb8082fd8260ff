# lavaan 0.6-14 references for two-level SEM (issue 16) on lavaan's Demo.twolevel
# (demo_twolevel.csv, written by nested_cases.R): sem(model, data, cluster = "cluster"),
# ML, lavaan's defaults (observed information, standard SEs).
#   tl_cfa     every variable at both levels: level 1 fw =~ y1 + y2 + y3; level 2 fb =~ y1 + y2 + y3
#   tl_cfa6    level 1 two factors over y1..y6, level 2 one factor over y1..y6
#   tl_between between-only variables w1, w2 in the model (not covariates): w1 ~ fb, w2 ~~ fb
#   tl_docs    lavaan's documentation example: within-only covariates x1..x3 and
#              between-only covariates w1, w2 (fixed.x)
#   tl_within  a within-only outcome (y4 ~ fw at level 1 only)
#   tl_cfa6_expected  tl_cfa6 with information = "expected"
#   tl_defined labelled paths at both levels and := parameters (delta-method SEs)
#   tl_groups  group: and level: blocks with labels shared across levels and groups (the
#              model of lavaan-check's TwoLevel_labels), groups g = "type1" for odd cluster
#              numbers, "type2" for even ones (sem(..., group = "g"))
# One JSON per case: the parameter table with estimates and SEs (parTable columns lhs, op,
# rhs, block, level, free, ustart, exo, est, se) with standardizedSolution()'s est.std, every fitMeasures() entry (NA as null),
# the H1 (EM) log-likelihood and the implied within/between moments.
# Run from anywhere: Rscript tests/reference/nested/twolevel_cases.R
suppressPackageStartupMessages({ library(lavaan); library(jsonlite) })
f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
OUT <- dirname(normalizePath(f[1L]))
D <- read.csv(file.path(OUT, "demo_twolevel.csv"))

CASES <- list(
  tl_cfa = "level: 1
  fw =~ y1 + y2 + y3
level: 2
  fb =~ y1 + y2 + y3",
  tl_cfa6 = "level: 1
  fw1 =~ y1 + y2 + y3
  fw2 =~ y4 + y5 + y6
level: 2
  fb =~ y1 + y2 + y3 + y4 + y5 + y6",
  tl_between = "level: 1
  fw =~ y1 + y2 + y3
level: 2
  fb =~ y1 + y2 + y3
  w1 ~ fb
  w2 ~~ fb",
  tl_docs = "level: 1
  fw =~ y1 + y2 + y3
  fw ~ x1 + x2 + x3
level: 2
  fb =~ y1 + y2 + y3
  fb ~ w1 + w2"
)
CASES$tl_defined <- "level: 1
  fw =~ y1 + y2 + y3
  fw ~ a*x1
level: 2
  fb =~ y1 + y2 + y3
  fb ~ b*w1
  ab := a*b
  d := a - b"
CASES$tl_groups <- "
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
"
CASES$tl_within <- "level: 1
  fw =~ y1 + y2 + y3
  y4 ~ fw
level: 2
  fb =~ y1 + y2 + y3"
CASES$tl_cfa6_expected <- CASES$tl_cfa6
OPTIONS <- list(tl_cfa6_expected = list(information = "expected"))
D$g <- ifelse(D$cluster %% 2 == 1, "type1", "type2")
for (nm in names(CASES)) {
  grp <- if (nm == "tl_groups") "g" else NULL
  opts <- if (is.null(OPTIONS[[nm]])) list() else OPTIONS[[nm]]
  fit <- do.call("sem", c(list(model = CASES[[nm]], data = quote(D), cluster = "cluster", group = grp), opts))
  pt <- parTable(fit)
  pt <- pt[pt$op != "==", ]
  pe <- parameterEstimates(fit)
  defs <- pe[pe$op == ":=", c("lhs", "op", "rhs", "est", "se")]
  if (is.null(pt$group)) pt$group <- 1L
  std <- standardizedSolution(fit, se = FALSE, remove.eq = FALSE, remove.ineq = FALSE, remove.def = FALSE)
  std <- std[std$op != "==", ]
  stopifnot(nrow(std) == nrow(pt), all(std$lhs == pt$lhs), all(std$op == pt$op), all(std$rhs == pt$rhs))
  pt$std.all <- std$est.std
  imp <- lavInspect(fit, "implied")
  if (!is.null(grp)) imp <- imp[[1]]
  fm <- fitMeasures(fit)
  timing <- system.time(for (i in 1:3) do.call("sem", c(list(model = CASES[[nm]], data = quote(D), cluster = "cluster",
                                                          group = grp), opts)))[["elapsed"]] / 3
  out <- list(case = nm, script = "twolevel_cases.R", lavaan = as.character(packageVersion("lavaan")),
              data = "demo_twolevel.csv", cluster = "cluster", model = CASES[[nm]], options = opts,
              converged = lavInspect(fit, "converged"), iterations = lavInspect(fit, "iterations"),
              partable = pt[, c("lhs", "op", "rhs", "block", "group", "level", "free", "ustart", "exo", "start", "est", "se", "std.all")],
              group = if (is.null(grp)) NULL else list(column = grp, labels = lavInspect(fit, "group.label")),
              fit = as.list(setNames(ifelse(is.finite(unclass(fm)), unclass(fm), NA), names(fm))),
              h1_logl = fit@h1$logl$loglik, defined = defs,
              implied = list(within = list(cov = unname(imp$within$cov), mean = unname(imp$within$mean),
                                           names = rownames(imp$within$cov)),
                             between = list(cov = unname(imp$cluster$cov), mean = unname(imp$cluster$mean),
                                            names = rownames(imp$cluster$cov))),
              seconds = timing)
  writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE),
             file.path(OUT, paste0(nm, ".json")))
}
