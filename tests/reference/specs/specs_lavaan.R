# Reference values for tests/test_specs.py and tests/test_simulate.py, from lavaan.
#
# Run from the repository root (after `python tests/reference/specs/make_inputs.py`):
#     Rscript tests/reference/specs/specs_lavaan.R
# Writes tests/reference/specs/specs_lavaan.json.
#
# 1. population: every population__<spec>__<group>.lav (asymtrust.survey.simulate.population_syntax,
#    all values fixed) is built with lavaan(do.fit = FALSE); lavaan's implied latent
#    covariance (cov.lv), latent means (mean.lv) and implied observed variances are stored.
# 2. specs: every bundled specs/<name>.lav is set up with sem(do.fit = FALSE) on the bundled
#    synthetic data (a dyadic spec, *_dyadic, without data: its columns are <item>_<side>;
#    reverse items recoded 8 - x; for fig1_moderated the product indicators come
#    from semTools::indProd(match = TRUE, meanC = TRUE, residualC = FALSE, doubleMC = TRUE)):
#    observed and latent names, number of free parameters, regressions.
# 3. recovery: fig1 fitted by sem() to datasets/bcf_synthetic.csv, pooled and with
#    group = "sector" (configural): standardized loadings and paths (std.all).
suppressPackageStartupMessages({
  library(lavaan)
  library(semTools)
  library(jsonlite)
})

here <- "tests/reference/specs"
specs_dir <- "specs"
csv <- "datasets/bcf_synthetic.csv"

# ---- 1. population models --------------------------------------------------------
population <- list()
for (f in sort(list.files(here, pattern = "^population__.*\\.lav$"))) {
  pop <- paste(c(readLines(file.path(here, f)), ""), collapse = "\n")
  fit <- lavaan(pop, do.fit = FALSE)
  cl <- lavInspect(fit, "cov.lv")
  ml <- lavInspect(fit, "mean.lv")
  implied <- lavInspect(fit, "implied")
  population[[sub("\\.lav$", "", f)]] <- list(
    latents = rownames(cl),
    cov_lv = unname(cl[, , drop = FALSE]),
    mean_lv = unname(as.numeric(ml)),
    ov = rownames(implied$cov),
    ov_var = unname(diag(implied$cov))
  )
}

# ---- 2. bundled specs on the synthetic data ---------------------------------------
dat <- read.csv(csv)
rev_items <- c("rol3", "cul3", "ctr4", "gtr4", "jmp3")
for (v in rev_items) dat[[v]] <- 8 - dat[[v]]
dat_mod <- indProd(dat, var1 = c("cap1", "cap2", "cap3"), var2 = c("pow1", "pow2", "pow3"),
                   match = TRUE, meanC = TRUE, residualC = FALSE, doubleMC = TRUE)

specs <- list()
for (f in sort(list.files(specs_dir, pattern = "\\.lav$"))) {
  name <- sub("\\.lav$", "", f)
  model <- paste(c(readLines(file.path(specs_dir, f)), ""), collapse = "\n")
  # two-level specs need cluster=: tests/reference/nested/bcf_nested_cases.R covers them
  if (any(grepl("^\\s*level\\s*:", readLines(file.path(specs_dir, f))))) next
  d <- if (name == "fig1_moderated") dat_mod else dat
  # a dyadic spec (one row per partnership, columns <item>_<side>) is read without data:
  # names, parameters and regressions come from the syntax alone
  fit <- if (grepl("_dyadic$", name)) sem(model, do.fit = FALSE) else sem(model, data = d, do.fit = FALSE)
  pt <- parTable(fit)
  reg <- pt[pt$op == "~", c("lhs", "rhs")]
  specs[[name]] <- list(
    ov = lavNames(fit, "ov"),
    lv = lavNames(fit, "lv"),
    lv_x = lavNames(fit, "lv.x"),
    lv_y = lavNames(fit, "lv.y"),
    npar = max(pt$free),
    regressions = paste(reg$lhs, reg$rhs, sep = "~")
  )
}

# ---- 3. recovery of the population values from the synthetic data -----------------
fig1 <- paste(c(readLines(file.path(specs_dir, "fig1.lav")), ""), collapse = "\n")
std_rows <- function(ss) {
  ss <- ss[ss$op %in% c("=~", "~"), ]
  list(lhs = ss$lhs, op = ss$op, rhs = ss$rhs, group = if (is.null(ss$group)) rep(1L, nrow(ss)) else ss$group,
       est_std = ss$est.std, se = ss$se)
}
fit1 <- sem(fig1, data = dat)
fitg <- sem(fig1, data = dat, group = "sector")
recovery <- list(
  pooled = c(std_rows(standardizedSolution(fit1)), list(converged = lavInspect(fit1, "converged"),
                                                         nobs = lavInspect(fit1, "nobs"))),
  by_sector = c(std_rows(standardizedSolution(fitg)), list(converged = lavInspect(fitg, "converged"),
                                                            group_labels = lavInspect(fitg, "group.label"),
                                                            nobs = unlist(lavInspect(fitg, "nobs"))))
)

out <- list(
  generated_by = "tests/reference/specs/specs_lavaan.R",
  R = R.version.string,
  lavaan = as.character(packageVersion("lavaan")),
  semTools = as.character(packageVersion("semTools")),
  data = csv,
  data_md5 = unname(tools::md5sum(csv)),
  population = population,
  specs = specs,
  recovery = recovery
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "specs_lavaan.json"))
cat("wrote", file.path(here, "specs_lavaan.json"), "\n")
