# Latent APIM with dyadic measurement invariance (issue 18), lavaan 0.6-14.
# Run from this folder after make_dyadic.R:  Rscript make_dyadic_latent.R  -> dyadic_latent.json
# Indicators: the side means of the items asym1-3 and gw1-3 of dyad_respondents.csv (SYNTHETIC).
# Each construct is latent on each side; the same item's residuals correlate across sides;
# configural -> metric (equal loadings across sides) -> scalar (equal intercepts, the council
# side's latent means free), all with meanstructure; then the APIM at the scalar level and
# the distinguishability tests (lavTestLRT).
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
resp <- read.csv("dyad_respondents.csv")
items <- list(asym = c("asym1", "asym2", "asym3"), goodwill = c("gw1", "gw2", "gw3"))
sides <- c("nhs", "council")
ids <- sort(unique(resp$partnership))
wide <- data.frame(partnership = ids)
for (s in sides) {
  sub <- resp[resp$sector == s, ]
  for (it in unlist(items)) wide[[paste0(it, "_", s)]] <- as.numeric(tapply(sub[[it]], factor(sub$partnership, ids), mean))
}
meas <- function(level, means = TRUE) {
  out <- c()
  for (c in names(items)) {
    its <- items[[c]]
    for (s in sides) {
      terms <- sapply(seq_along(its), function(j) {
        if (j == 1 || level == "configural") paste0(its[j], "_", s) else paste0("l_", c, j - 1, "*", its[j], "_", s)
      })
      out <- c(out, paste0(c, "_", s, " =~ ", paste(terms, collapse = " + ")))
    }
    for (it in its) out <- c(out, paste0(it, "_nhs ~~ ", it, "_council"))
    if (level == "scalar") {
      for (j in seq_along(its)) out <- c(out, paste0(its[j], "_nhs ~ t_", c, j - 1, "*1"), paste0(its[j], "_council ~ t_", c, j - 1, "*1"))
      if (means) out <- c(out, paste0(c, "_council ~ 1"))
    }
  }
  out
}
apim <- c(meas("scalar", means = FALSE),
  "goodwill_nhs ~ a_A*asym_nhs + p_A*asym_council", "goodwill_council ~ a_B*asym_council + p_B*asym_nhs",
  "asym_nhs ~~ vx_A*asym_nhs", "asym_council ~~ vx_B*asym_council", "asym_nhs ~~ cx*asym_council",
  "goodwill_nhs ~~ vy_A*goodwill_nhs", "goodwill_council ~~ vy_B*goodwill_council", "goodwill_nhs ~~ cy*goodwill_council",
  "asym_council ~ mx_B*1", "goodwill_council ~ iy_B*1", "k_A := p_A/a_A", "k_B := p_B/a_B")
apim <- paste(apim, collapse = "\n")
cons <- list(actors = "a_A == a_B", partners = "p_A == p_B", both = "a_A == a_B\np_A == p_B",
             omnibus = "a_A == a_B\np_A == p_B\nvx_A == vx_B\nvy_A == vy_B\nmx_B == 0\niy_B == 0")
fm <- function(f) as.list(fitMeasures(f, c("npar", "chisq", "df", "cfi", "rmsea", "logl")))
run <- function(missing) {
  inv <- list(); fits <- list()
  for (lv in c("configural", "metric", "scalar")) {
    fits[[lv]] <- sem(paste(meas(lv), collapse = "\n"), data = wide, meanstructure = TRUE, missing = missing)
    inv[[lv]] <- list(fit = fm(fits[[lv]]))
  }
  for (pair in list(c("configural", "metric"), c("metric", "scalar"))) {
    a <- lavTestLRT(fits[[pair[1]]], fits[[pair[2]]])
    inv[[pair[2]]]$test <- list(chisq_diff = a[2, "Chisq diff"], df_diff = a[2, "Df diff"], pvalue = a[2, "Pr(>Chisq)"])
  }
  f0 <- sem(apim, data = wide, meanstructure = TRUE, missing = missing)
  pe <- parameterEstimates(f0); pe$std.all <- standardizedSolution(f0)$est.std
  pe <- pe[pe$op %in% c("~", "=~", ":="), ]
  tests <- list()
  for (t in names(cons)) {
    f1 <- sem(paste(apim, cons[[t]], sep = "\n"), data = wide, meanstructure = TRUE, missing = missing)
    a <- lavTestLRT(f0, f1)
    tests[[t]] <- list(chisq_diff = a[2, "Chisq diff"], df_diff = a[2, "Df diff"], pvalue = a[2, "Pr(>Chisq)"])
  }
  list(missing = missing, n = lavInspect(f0, "nobs"), invariance = inv, fit = fm(f0),
       est = lapply(seq_len(nrow(pe)), function(i) list(lhs = pe$lhs[i], op = pe$op[i], rhs = pe$rhs[i],
            label = pe$label[i], est = pe$est[i], se = pe$se[i], std.all = pe$std.all[i])),
       tests = tests)
}
out <- list(lavaan_version = as.character(packageVersion("lavaan")), syntax = apim,
            listwise = run("listwise"), fiml = run("ml"))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "string"), "dyadic_latent.json")
