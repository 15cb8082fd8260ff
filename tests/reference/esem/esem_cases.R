# lavaan 0.6-14 sem() with efa("set")* blocks (ESEM) on HolzingerSwineford1939 and psych's bfi, for
# tests/test_esem.py (issue 19).   Rscript tests/reference/esem/esem_cases.R   (writes esem.json beside it)
# Every fit runs after set.seed(1) (lavaan's 30 random rotation starts).
suppressMessages({library(lavaan); library(jsonlite)})
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1]))
if (!is.na(here) && nzchar(here)) setwd(here)  # run from anywhere: paths are relative to this folder
stopifnot(packageVersion("lavaan") == "0.6.14")
hs <- HolzingerSwineford1939
# HS with 5% MCAR cells in x1..x9 (tests/reference/README.md, "HS mask"): set.seed(1); runif(301 * 9) < .05
set.seed(1)
mask <- which(runif(301 * 9) < .05)
hsm <- hs
xm <- as.matrix(hsm[, paste0("x", 1:9)]); xm[mask] <- NA; hsm[, paste0("x", 1:9)] <- xm
bfi <- read.csv("../efa/bfi25.csv")  # psych's bfi[, 1:25], written by ../efa/efa_cases.R
X <- paste(paste0("x", 1:9), collapse = " + ")

cases <- list(
  hs_geomin = list(model = paste('efa("efa")*f1 + efa("efa")*f2 =~', X), args = list()),
  hs_structural = list(model = paste0('efa("efa")*f1 + efa("efa")*f2 =~ x1 + x2 + x3 + x4 + x5 + x6\n',
                                      'f3 =~ x7 + x8 + x9\nf3 ~ f1 + f2'), args = list()),
  hs_oblimin3 = list(model = paste('efa("efa")*f1 + efa("efa")*f2 + efa("efa")*f3 =~', X),
                     args = list(rotation = "oblimin")),
  bfi_two_sets = list(model = paste0('efa("a")*fa1 + efa("a")*fa2 =~ A1 + A2 + A3 + A4 + A5 + C1 + C2 + C3 + C4 + C5\n',
                                     'efa("b")*fb1 + efa("b")*fb2 =~ E1 + E2 + E3 + E4 + E5 + N1 + N2 + N3 + N4 + N5'), args = list(), data = "bfi"),
  bfi_two_sets_path = list(model = paste0('efa("a")*fa1 + efa("a")*fa2 =~ A1 + A2 + A3 + A4 + A5 + C1 + C2 + C3 + C4 + C5\n',
                                          'efa("b")*fb1 + efa("b")*fb2 =~ E1 + E2 + E3 + E4 + E5 + N1 + N2 + N3 + N4 + N5\nfb1 + fb2 ~ fa1 + fa2'),
                           args = list(), data = "bfi"),
  hs_covariate = list(model = paste0('efa("efa")*f1 + efa("efa")*f2 =~ ', X, '\nf1 + f2 ~ ageyr + sex'),
                      args = list()),
  hs_varimax = list(model = paste('efa("efa")*f1 + efa("efa")*f2 =~', X), args = list(rotation = "varimax")),
  hs_mlr = list(model = paste0('efa("efa")*f1 + efa("efa")*f2 =~ x1 + x2 + x3 + x4 + x5 + x6\n',
                               'f3 =~ x7 + x8 + x9\nf3 ~ f1 + f2'), args = list(estimator = "MLR")),
  hs_fiml = list(model = paste0('efa("efa")*f1 + efa("efa")*f2 =~ x1 + x2 + x3 + x4 + x5 + x6\n',
                                'f3 =~ x7 + x8 + x9\nf3 ~ f1 + f2'), args = list(missing = "ml"), data = "hsm"),
  hs_uls = list(model = paste('efa("efa")*f1 + efa("efa")*f2 =~', X), args = list(estimator = "ULS")),
  hs_mg = list(model = paste('efa("efa")*f1 + efa("efa")*f2 =~', X), args = list(group = "school"))
)

out <- list()
for (nm in names(cases)) {
  cs <- cases[[nm]]
  set.seed(1)
  dat <- switch(if (is.null(cs$data)) "hs" else cs$data, bfi = quote(bfi), hsm = quote(hsm), hs = quote(hs))
  fit <- do.call("sem", c(list(model = cs$model, data = dat), cs$args))
  pe <- parameterEstimates(fit, remove.nonfree = FALSE)
  pt <- parTable(fit)
  pe$efa <- NULL
  grp <- if (is.null(pe$group)) rep(1L, nrow(pe)) else pe$group
  est <- data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = grp, est = pe$est, se = pe$se,
                    user = pt$user[seq_len(nrow(pe))], efa = pt$efa[seq_len(nrow(pe))])
  fm <- fitMeasures(fit, c("npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "logl", "bic",
                           "chisq.scaled", "cfi.robust", "rmsea.robust"))
  fm <- fm[!is.na(names(fm))]
  out[[nm]] <- list(model = cs$model, data = if (is.null(cs$data)) "hs" else cs$data, fit_args = cs$args, estimates = est,
                    fit = as.list(setNames(as.numeric(fm), gsub(".", "_", names(fm), fixed = TRUE))),
                    converged = lavInspect(fit, "converged"), nobs = lavInspect(fit, "ntotal"),
                    r2 = if (is.null(cs$args$group)) as.list(lavInspect(fit, "rsquare")) else NULL)
}
set.seed(1)
fit <- sem(cases$hs_geomin$model, data = hs)
scores <- unname(lavPredict(fit)[1:10, ])  # regression factor scores of the rotated factors, first 10 rows
meta <- list(scores_hs_geomin = scores, lavaan_version = as.character(packageVersion("lavaan")), R_version = R.version.string,
             generated_by = "tests/reference/esem/esem_cases.R", mask_columns = paste0("x", 1:9), mask_indices = mask, data = "lavaan::HolzingerSwineford1939; ../efa/bfi25.csv (listwise)")
writeLines(toJSON(c(meta, list(cases = out)), digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "string"),
           "esem.json")
