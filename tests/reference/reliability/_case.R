# Shared by the reference scripts in this folder (sourced, not run on its own).
#
# reliability_case(d, constructs, scale = NULL) computes, for data frame d and the
# named list `constructs` (latent -> item codes), everything asymtrust's
# reliability module is compared against:
#   psych 2.2.9  : alpha() on na.omit() data per construct (raw_alpha, Feldt CI,
#                  r.drop, alpha.drop, item mean/sd), skew()/kurtosi() type 2,
#                  principal(nfactors = 1, rotate = "none"), fa(fm = "pa")
#   lavaan 0.6-14: cfa() with defaults (listwise), standardizedSolution(),
#                  lavInspect(fit, "cor.lv"), fitMeasures(), lavTestLRT()
#   semTools 0.5-6: reliability() (omega, avevar), htmt(htmt2 = TRUE / FALSE)
# `scale` = c(min, max) of the response scale for % floor/ceiling; NULL uses the
# observed minimum and maximum of each item.
# psych masks semTools::reliability(), so calls are namespaced.
suppressPackageStartupMessages({
  library(lavaan); library(semTools); library(psych); library(jsonlite)
})

reliability_case <- function(d, constructs, scale = NULL) {
  items <- unlist(constructs, use.names = FALSE)
  model <- paste(sprintf("%s =~ %s", names(constructs),
                         sapply(constructs, paste, collapse = " + ")), collapse = "\n")
  one_factor <- paste("CMV =~", paste(items, collapse = " + "))
  out <- list()
  # --- psych::alpha on the complete cases of each construct ------------------
  out$alpha <- lapply(constructs, function(it) {
    x <- na.omit(d[, it])
    a <- psych::alpha(x, warnings = FALSE)
    list(n_obs = nrow(x),
         raw_alpha = a$total$raw_alpha,
         feldt_lower = a$feldt$lower.ci$raw_alpha,
         feldt_upper = a$feldt$upper.ci$raw_alpha,
         item_mean = as.list(setNames(a$item.stats$mean, it)),
         item_sd = as.list(setNames(a$item.stats$sd, it)),
         r_drop = as.list(setNames(a$item.stats$r.drop, it)),
         alpha_drop = as.list(setNames(a$alpha.drop$raw_alpha, it)))
  })
  # --- per-item descriptives on available data (psych, type 2 = SAS/SPSS G1, G2)
  out$items <- lapply(setNames(items, items), function(v) {
    x <- d[[v]]
    lo <- if (is.null(scale)) min(x, na.rm = TRUE) else scale[1]
    hi <- if (is.null(scale)) max(x, na.rm = TRUE) else scale[2]
    list(mean = mean(x, na.rm = TRUE), sd = sd(x, na.rm = TRUE),
         pct_floor = 100 * mean(x[!is.na(x)] == lo),
         pct_ceiling = 100 * mean(x[!is.na(x)] == hi),
         skew = psych::skew(x, type = 2), kurtosis = psych::kurtosi(x, type = 2),
         pct_missing = 100 * mean(is.na(x)),
         n = sum(!is.na(x)))
  })
  # --- CFA with cfa() defaults (listwise) -------------------------------------
  fit <- lavaan::cfa(model, data = d)
  rel <- semTools::reliability(fit)
  std <- lavaan::standardizedSolution(fit)
  load <- std[std$op == "=~", ]
  cr <- sapply(names(constructs), function(f) {
    l <- load$est.std[load$lhs == f]
    sum(l)^2 / (sum(l)^2 + sum(1 - l^2))
  })
  cor_lv <- lavaan::lavInspect(fit, "cor.lv")
  lam_std <- lavaan::lavInspect(fit, "std")$lambda
  out$cfa <- list(
    nobs = lavaan::lavInspect(fit, "nobs"),
    alpha = as.list(rel["alpha", ]), omega = as.list(rel["omega", ]),
    omega2 = as.list(rel["omega2", ]), omega3 = as.list(rel["omega3", ]),
    avevar = as.list(rel["avevar", ]), cr_std = as.list(cr),
    cor_lv = lapply(as.data.frame(cor_lv), function(z) as.list(setNames(z, rownames(cor_lv)))),
    # model-implied item-factor correlations (structure coefficients)
    structure = lapply(as.data.frame(lam_std %*% cor_lv),
                       function(z) as.list(setNames(z, rownames(lam_std)))),
    fit = as.list(lavaan::fitMeasures(fit, c("chisq", "df", "cfi", "tli", "rmsea", "srmr"))))
  # --- one-factor CFA (common-method check) -----------------------------------
  fit1 <- lavaan::cfa(one_factor, data = d)
  lrt <- lavaan::lavTestLRT(fit, fit1)
  out$one_factor <- list(
    fit = as.list(lavaan::fitMeasures(fit1, c("chisq", "df", "cfi", "tli", "rmsea", "srmr"))),
    delta_chisq = lrt[["Chisq diff"]][2], delta_df = lrt[["Df diff"]][2],
    p = lrt[["Pr(>Chisq)"]][2],
    delta_cfi = unname(lavaan::fitMeasures(fit, "cfi") - lavaan::fitMeasures(fit1, "cfi")))
  # --- HTMT (semTools; lavCor listwise, absolute correlations) -----------------
  mat <- function(m) lapply(as.data.frame(unclass(m)), function(z) as.list(setNames(z, rownames(m))))
  out$htmt2 <- mat(semTools::htmt(model, data = d, htmt2 = TRUE))
  out$htmt <- mat(semTools::htmt(model, data = d, htmt2 = FALSE))
  # --- cross-loadings: item x construct mean-score correlations, listwise ------
  dc <- na.omit(d[, items])
  scores <- sapply(constructs, function(it) rowMeans(dc[, it]))
  out$cross_composite <- mat(cor(dc, scores))
  # --- Harman: first unrotated component / principal-axis factor, listwise -----
  pc <- psych::principal(dc, nfactors = 1, rotate = "none")
  pa <- psych::fa(dc, nfactors = 1, rotate = "none", fm = "pa")
  out$harman <- list(n_obs = nrow(dc),
                     pca_prop = pc$Vaccounted["Proportion Var", 1],
                     pca_eigen = pc$values[1],
                     paf_prop = pa$Vaccounted["Proportion Var", 1])
  out
}
